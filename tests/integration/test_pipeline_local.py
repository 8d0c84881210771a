"""The whole retrain pipeline with the KFP local runner on the tiny demo corpus.

Marked ``slow`` where a run trains (AASIST on CPU takes minutes even for one tiny
epoch); the validation failure stops before training and stays in ``make test``.
One run with tiny training and lax gates must succeed and register a challenger; the
same run again is served from the cache; a run whose data fails validation stops at
validate; a run whose model fails the gate registers nothing. Training, MLflow and the
KFP outputs live in a tmp dir.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from veracity.config import load_config

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
# stage1 trained until it decides (all windows, 15 epochs: ~50 s); the optional AASIST a
# token epoch, so its gate drops it and the bundle ships stage1 alone (the path it tests)
TINY = [
    "modalities.voice.detectors.aasist.training.epochs=1",
    "modalities.voice.detectors.aasist.training.max_windows_per_epoch=8",
    "modalities.voice.detectors.aasist.training.max_dev_windows=8",
    "modalities.voice.detectors.stage1.training.epochs=15",
    "modalities.voice.detectors.stage1.training.patience=15",
    "modalities.voice.detectors.stage1.training.max_windows_per_epoch=0",
    "modalities.voice.detectors.stage1.training.max_dev_windows=0",
    "evaluation.bootstrap_samples=20",
]
#: utterances per speaker of the trained runs' corpus (the tiny size's 8, doubled)
TRAINED_UTTS = 16
LOOSEST = 0.4999  # the loosest legal EER-like bound (the config refuses chance)
LAX_GATE = [
    *(
        f"modalities.voice.detectors.{r}.gate.{k}={LOOSEST}"
        for r in ("stage1", "aasist")
        for k in ("max_eer", "max_unseen_attack_eer", "max_attack_eer")
    ),
    *(f"modalities.voice.detectors.{r}.gate.max_ece=1.0" for r in ("stage1", "aasist")),
    *(
        f"modalities.voice.verdict_gate.{k}={LOOSEST}"
        for k in ("max_fake_as_human", "max_real_as_ai", "max_final_eer", "max_out_of_domain")
    ),
    "modalities.voice.verdict_gate.max_inconclusive=0.9999",
    "gate.max_eer_regression=0.4999",
]


@pytest.fixture(scope="module")
def pipeline_env(tmp_path_factory):
    """Overrides that point MLflow and the run outputs at a tmp dir."""
    pytest.importorskip("kfp.local")
    tmp = tmp_path_factory.mktemp("pipeline")
    isolate = [
        f"tracking.uri=sqlite:///{tmp}/mlruns.db",
        f"tracking.artifact_root={tmp}/mlartifacts",
        f"gate.audit_log={tmp}/audit.jsonl",
        f"pipeline.local_root={tmp}/runs",
    ]
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    return tmp, TINY + isolate


def _run(source: Path, overrides: list[str]) -> dict:
    from veracity.orchestration.local import run_local

    cfg = load_config(REPO / "params.yaml", overrides)
    return run_local(
        cfg, (REPO / "params.yaml").read_text(), overrides, source=str(source), repo_root=REPO
    )


def _status(summary: dict) -> dict[str, str]:
    return {t["name"]: t["status"] for t in summary["tasks"]}


def _client(tmp: Path):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{tmp}/mlruns.db")


def _versions(tmp: Path, name: str = "veracity-voice") -> list:
    from mlflow.exceptions import MlflowException

    try:
        return _client(tmp).search_model_versions(f"name='{name}'")
    except MlflowException:
        return []


@pytest.fixture(scope="module")
def trained_corpus(tmp_path_factory, cfg):
    """The tiny corpus with twice the utterances per speaker. The tiny one's 16 eval clips
    hold one or two per attack: no model trained in minutes cleared even the loosest gate
    there (stage1 at EER 0.25 still left every verdict INCONCLUSIVE)."""
    from fixtures_data import TINY_SEED

    from veracity.modalities.voice.demo import generate_demo_corpus

    voice = cfg.modality_params("voice")
    sizes = dict(voice.demo.sizes)
    sizes["tiny"] = sizes["tiny"].model_copy(update={"utts_per_speaker": TRAINED_UTTS})
    demo = voice.demo.model_copy(update={"sizes": sizes})
    root = tmp_path_factory.mktemp("trained_corpus")
    return generate_demo_corpus(root, "tiny", TINY_SEED, demo, voice.segments.sample_rate)


@pytest.fixture(scope="module")
def passed_run(pipeline_env, trained_corpus):
    tmp, overrides = pipeline_env
    return _run(trained_corpus, overrides + LAX_GATE)


@pytest.mark.slow  # trains two detectors: minutes on 2 shared cores
def test_full_run_registers_a_challenger_with_reports(passed_run, pipeline_env):
    tmp, _ = pipeline_env
    summary = passed_run
    assert summary["status"] == "succeeded", summary.get("error")
    status = _status(summary)
    for step in (
        "ingest",
        "validate",
        "features",
        "train",  # the role loop: stage1, then aasist as "#2"
        "train #2",
        "calibrate",
        "calibrate #2",
        "evaluate",
        "gate",
        "register-challenger",
    ):
        assert status.get(step) == "succeeded", (step, status)
    assert summary["gate"]["verdict"] == "pass"
    version = summary["registered"]["version"]
    mv = _client(tmp).get_model_version("veracity-voice", version)
    assert "challenger" in mv.aliases
    assert summary["registered"]["approve_command"].startswith(
        f"veracity approve veracity-voice {version}"
    )
    reports = Path(summary["reports_dir"])
    assert (reports / "gate_report.md").is_file() and (reports / "report.html").is_file()
    assert set(summary["mlflow_run_ids"]) == {"stage1", "aasist"}
    assert summary["dataset_version"] and summary["params_fingerprint"]
    on_disk = json.loads(Path(summary["summary_path"]).read_text())
    assert on_disk["run_id"] == summary["run_id"] and on_disk["status"] == "succeeded"


@pytest.mark.slow  # trains two detectors: minutes on 2 shared cores
def test_second_run_on_unchanged_inputs_hits_the_cache(passed_run, pipeline_env, trained_corpus):
    tmp, overrides = pipeline_env
    again = _run(trained_corpus, overrides + LAX_GATE)
    status = _status(again)
    for step in ("ingest", "validate", "features"):
        assert status[step] == "cached", status
    assert again["status"] == "succeeded"
    # cached steps still report what they recorded
    assert again["dataset_version"] == passed_run["dataset_version"]


def test_failed_validation_stops_at_validate_and_registers_nothing(pipeline_env, tiny_corpus):
    tmp, overrides = pipeline_env
    before = len(_versions(tmp))
    # the tiny corpus has 32 train rows: demanding 10000 makes the data fail validation
    summary = _run(tiny_corpus, overrides + LAX_GATE + ["validate.min_rows_per_split.train=10000"])
    assert summary["status"] == "failed" and summary["stopped_at"] == "validate"
    assert summary["failed_expectations"], summary
    status = _status(summary)
    assert status["validate"] == "failed"
    assert "features" not in status or status["features"] == "skipped"
    assert len(_versions(tmp)) == before
    assert "nothing was registered" in Path(summary["summary_path"]).with_suffix(".md").read_text()
    # the task log is closed: no logging handler may still write to it (the music demo
    # printed "I/O operation on closed file" tracebacks for every later log line; this
    # voice run does not reproduce that case, it guards this path against it)
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    closed = [
        (getattr(lg, "name", "root"), h)
        for lg in loggers
        for h in getattr(lg, "handlers", [])
        if getattr(getattr(h, "stream", None), "closed", False)
    ]
    assert not closed, closed


@pytest.mark.slow  # trains two detectors: minutes on 2 shared cores
def test_failed_gate_registers_nothing_and_says_why(passed_run, pipeline_env, trained_corpus):
    tmp, overrides = pipeline_env
    before = len(_versions(tmp))
    strict = ["modalities.voice.detectors.stage1.gate.max_eer=0.0"]
    summary = _run(trained_corpus, overrides + strict)
    status = _status(summary)
    # gate bounds reach the gate only: everything up to evaluate comes from the cache
    assert status["train #2"] == "cached" and status["evaluate"] == "cached", status
    assert status["gate"] == "succeeded" and status["stop"] == "failed"
    assert "register-challenger" not in status
    assert summary["status"] == "failed" and summary["gate"]["verdict"] == "fail"
    assert "gate check" in summary["gate"]["reasons"]
    assert "registered" not in summary
    assert len(_versions(tmp)) == before
