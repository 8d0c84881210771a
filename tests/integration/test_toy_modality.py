"""The modality seam, proven by a modality that is not voice.

``tests/toy_modality`` (sine tones = human, square waves = AI) is defined only under tests/
and plugged in through params alone (``modality_packages`` + ``modalities.toy``). It runs
through ingest -> validate -> features -> train -> calibrate -> evaluate -> gate and is
served by the real predictor + transformer on 127.0.0.1, with no change to library code.
docs/architecture.md's "adding a modality" checklist names exactly its files.
"""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
import yaml
from conftest import write_isolated_params

from veracity.config import load_config

pytestmark = pytest.mark.integration

TESTS = Path(__file__).resolve().parents[1]
TOY_PACKAGE = TESTS / "toy_modality"

TOY_SECTION = {
    "registered_model": "veracity-toy",
    "ingest": {"format": "csv", "extensions": [".wav"]},
    "validate": {
        "allowed_sample_rates": [8000],
        "min_duration_s": 0.2,
        "max_duration_s": 10.0,
        "attack_id_pattern": "^(?:-|SQ)$",
    },
    "detectors": {
        "tone": {
            "architecture": "spectral-mlp",
            "required": True,
            "training": {
                "epochs": 6, "batch_size": 8, "lr": 0.01, "weight_decay": 0.0,
                "max_windows_per_epoch": 0, "max_dev_windows": 0, "patience": 6,
            },
            "gate": {
                "max_eer": 0.2, "max_unseen_attack_eer": 0.3, "max_ece": 0.3,
                "max_attack_eer": 0.3,
            },
        }
    },
    "verdict_gate": {
        "max_fake_as_human": 0.2, "max_real_as_ai": 0.2, "max_inconclusive": 0.5,
        "max_final_eer": 0.2,
        "max_out_of_domain": 0.02,
    },
    "segments": {"sample_rate": 8000, "segment_samples": 2000},
    "demo": {"sizes": {"tiny": 6}, "seconds": 0.75},
    "policy": {"ai_above": 0.5, "min_confidence": 0.6},
    "hidden": 16,
}  # fmt: skip


@pytest.fixture(scope="module")
def toy_params(tmp_path_factory, repo_root) -> Path:
    """params.yaml of the repository plus the toy section, MLflow and audit in tmp."""
    root = tmp_path_factory.mktemp("toy")
    raw = yaml.safe_load((repo_root / "params.yaml").read_text())
    raw["modality_packages"] = {"toy": "toy_modality"}
    raw["modalities"]["toy"] = TOY_SECTION
    # the servers get the gate's bundle directory: no registry version to check approval of
    raw["security"]["serving"]["require_approval"] = False
    return write_isolated_params(raw, root)


@pytest.fixture(scope="module")
def toy_run(toy_params, tmp_path_factory):
    """The toy through ingest -> validate -> features -> train -> calibrate -> evaluate."""
    from veracity.modalities import MODALITIES, load_modality
    from veracity.stages.calibrate import run_calibrate
    from veracity.stages.evaluate import run_evaluate
    from veracity.stages.features import run_features
    from veracity.stages.ingest import run_ingest
    from veracity.stages.train import run_train
    from veracity.stages.validate import run_validate

    assert "toy" not in MODALITIES  # the library does not know it
    root = tmp_path_factory.mktemp("toy-run")
    cfg = load_config(toy_params)
    toy = load_modality("toy", cfg.modality_packages)
    corpus = Path(toy.generate_demo(root / "corpus", "tiny", 7, cfg.modality_params("toy")))
    ingested = run_ingest(cfg, str(corpus), None, root / "ingested", False, modality="toy")
    manifest = Path(ingested.out) / "manifest.parquet"
    assert run_validate(cfg, manifest, root / "validation", "toy").success
    feats = run_features(cfg, manifest, root / "features", "toy")
    assert feats.modality == "toy" and feats.inputs == {"wave": [2000]}
    trained = run_train(cfg, root / "features", "tone", root / "trained")
    assert trained.modality == "toy" and trained.role == "tone"
    run_calibrate(cfg, root / "trained", root / "features", root / "calibrated")
    evaluation = run_evaluate(cfg, [root / "calibrated"], root / "features", root / "eval")
    assert evaluation.modality == "toy"
    return cfg, root, evaluation


def test_toy_modality_end_to_end(toy_run, toy_params, tmp_path, monkeypatch):
    from veracity.serving.process import find_free_port, start_stack, stop_server
    from veracity.stages.gate import run_gate

    cfg, root, evaluation = toy_run
    matrix = evaluation.verdict["matrix"]
    assert matrix["spoof"]["AI"] > matrix["spoof"]["HUMAN"]
    gate = run_gate(cfg, [root / "calibrated"], root / "eval", tmp_path / "bundle")
    assert gate.verdict == "pass", gate.checks
    assert {c["model"] for c in gate.checks} == {"tone", "verdict"}
    contract = json.loads((tmp_path / "bundle" / "bundle.json").read_text())
    assert contract["modality"] == "toy" and contract["roles"] == ["tone"]
    assert contract["detectors"]["tone"]["input_shapes"] == {"wave": [2000]}
    assert gate.registered["name"] == "veracity-toy"

    # Real predictor + transformer processes serve it (they import the toy from params).
    path = os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])
    monkeypatch.setenv("PYTHONPATH", path)
    names = ("predictor", "predictor_grpc", "transformer", "transformer_grpc")
    ports = {k: find_free_port() for k in names}
    predictor, transformer = start_stack(
        cfg, model=str(tmp_path / "bundle"), params=toy_params, overrides=[],
        log_dir=tmp_path / "logs", modality="toy", ports=ports,
    )  # fmt: skip
    try:
        url = f"{transformer.url}/v1/models/veracity-toy:predict"
        wav = {"content-type": "audio/wav"}
        labels = {}
        for kind, wave in _tones(8000).items():
            buf = io.BytesIO()
            sf.write(buf, wave, 8000, format="WAV")
            reply = httpx.post(url, content=buf.getvalue(), headers=wav, timeout=60)
            assert reply.status_code == 200, reply.text
            verdict = reply.json()
            assert verdict["modality"] == "toy" and set(verdict["scores"]) == {"tone"}
            assert verdict["monitoring"]["score_tone"] == verdict["scores"]["tone"]
            assert len(verdict["timeline"]) == 2  # 0.5 s at 8 kHz in 2000-sample segments
            labels[kind] = verdict["label"]
        assert labels == {"sine": "HUMAN", "square": "AI"}
        bad = httpx.post(url, content=b"not audio", headers=wav, timeout=30)
        assert 400 <= bad.status_code < 500
    finally:
        stop_server(transformer, predictor)


def test_gate_pass_approve_and_rescored_champion(toy_run, tmp_path):
    """Register, approve (audited), then a second candidate is compared with the champion
    re-scored on the same clips: its stored metrics, tampered to a perfect EER, are ignored."""
    from veracity.registry import approval
    from veracity.registry.models import get_client, resolve_model_uri
    from veracity.stages.gate import run_gate

    cfg, root, evaluation = toy_run
    first = run_gate(cfg, [root / "calibrated"], root / "eval", tmp_path / "b1")
    assert first.verdict == "pass" and first.champion is None
    version = first.registered["version"]
    mv = get_client(cfg).get_model_version("veracity-toy", version)
    assert mv.tags["approval"] == "pending" and mv.tags["gate"] == "passed"
    approval.approve(cfg, "veracity-toy", version, "alice", "first champion")
    source = Path(resolve_model_uri(cfg, "veracity-toy@champion"))
    assert (source / "tone" / "model.safetensors").is_file()
    for path in source.rglob("*.json"):
        if path.name in ("metrics.json", "gate_report.json", "evaluate.json", "gate.json"):
            path.write_text(json.dumps({"eer": 0.0, "tampered": True}))

    second = run_gate(cfg, [root / "calibrated"], root / "eval", tmp_path / "b2")
    assert second.champion == f"veracity-toy/{version}"
    regress = [c for c in second.checks if c["check"] == "eer_regression_ci_high"]
    assert [c["model"] for c in regress] == ["tone"]
    # same weights re-scored on the same clips: the champion's EER is the challenger's
    evaluated = evaluation.models[0]["eer"]
    assert regress[0]["bootstrap"]["eer_champion"] == pytest.approx(evaluated, abs=1e-12)
    assert regress[0]["bootstrap"]["diff"] == 0.0


def _tampered_eval(root: Path, out: Path, metrics=None, scores=None) -> Path:
    """A copy of the evaluate output whose entry points at edited metrics / scores."""
    import shutil

    import pandas as pd

    shutil.copytree(root / "eval", out)
    report = json.loads((out / "evaluate.json").read_text())
    entry = report["models"][0]
    if metrics:
        met = json.loads(Path(entry["metrics"]).read_text())
        met.update(metrics)
        entry["metrics"] = str(out / "tone-metrics.json")
        Path(entry["metrics"]).write_text(json.dumps(met))
    if scores:
        frame = pd.read_parquet(entry["scores"])
        frame = scores(frame)
        entry["scores"] = str(out / "tone-scores.parquet")
        frame.to_parquet(entry["scores"], index=False)
    (out / "evaluate.json").write_text(json.dumps(report))
    return out


def test_gate_fails_a_detector_at_eer_045(toy_run, tmp_path):
    from veracity.errors import GateFailedError
    from veracity.stages.gate import run_gate

    cfg, root, _ = toy_run
    eval_dir = _tampered_eval(root, tmp_path / "eval", metrics={"eer": 0.45})
    with pytest.raises(GateFailedError, match=r"tone\.eer=0\.4500 > 0\.2"):
        run_gate(cfg, [root / "calibrated"], eval_dir, tmp_path / "bundle")
    report = json.loads((tmp_path / "bundle" / "gate_report.json").read_text())
    assert report["verdict"] == "fail" and not (tmp_path / "bundle" / "bundle.json").exists()


def test_verdict_gate_fails_when_fakes_are_called_human(toy_run, tmp_path):
    """The detector passes its own bounds, but the served verdict calls fakes HUMAN."""
    from veracity.errors import GateFailedError
    from veracity.stages.gate import run_gate

    cfg, root, _ = toy_run

    def fakes_look_human(frame):
        spoof = frame["target"] == 0
        half = frame.index[spoof][: spoof.sum() // 2]
        frame.loc[half, "p_spoof"] = 0.05  # the policy calls these HUMAN
        return frame

    eval_dir = _tampered_eval(root, tmp_path / "eval", scores=fakes_look_human)
    with pytest.raises(GateFailedError, match=r"verdict\.fake_as_human=0\.5000 > 0\.2"):
        run_gate(cfg, [root / "calibrated"], eval_dir, tmp_path / "bundle")
    report = json.loads((tmp_path / "bundle" / "gate_report.json").read_text())
    by_check = {(c["model"], c["check"]): c["verdict"] for c in report["checks"]}
    assert by_check[("tone", "eer")] == "pass"
    assert by_check[("verdict", "fake_as_human")] == "fail"
    assert report["served_verdict"]["matrix"]["spoof"]["HUMAN"] > 0


def _tones(sr: int) -> dict[str, np.ndarray]:
    t = np.arange(sr // 2) / sr
    sine = 0.3 * np.sin(2 * np.pi * 330.0 * t)
    return {"sine": sine.astype(np.float32), "square": (0.3 * np.sign(sine)).astype(np.float32)}


def test_architecture_checklist_matches_the_toy_package(repo_root):
    """docs/architecture.md's checklist lists the files a modality package has: the toy's."""
    text = (repo_root / "docs" / "architecture.md").read_text()
    section = text.split("## Adding a modality", 1)[1]
    listed = set(re.findall(r"`modalities/<name>/([^`]+)`", section))
    present = {
        p.relative_to(TOY_PACKAGE).as_posix().replace("/__init__.py", "/")
        for p in TOY_PACKAGE.rglob("*.py")
    }
    assert listed and listed <= present | {"detectors/<architecture>.py"}, (listed, present)
    voice = repo_root / "src" / "veracity" / "modalities" / "voice"
    for rel in listed - {"detectors/<architecture>.py"}:
        assert (voice / rel.rstrip("/")).exists() or (voice / rel).exists(), rel
