"""The compiled voice pipeline: a golden file, deterministic, shaped as the issue asks.

``pipelines/retrain-voice.yaml`` is checked in; ``compile_pipeline("voice", ...)`` runs KFP's
own CLI on ``pipelines/retrain_voice.py``, and so must ``kfp dsl compile`` run by hand from
the repository root.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from kfp import compiler

from veracity.config import load_config
from veracity.errors import ConfigError
from veracity.orchestration.compile import compile_pipeline, compiled_path, find_repo_root

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "pipelines" / "retrain-voice.yaml"
STEPS = ("ingest", "validate", "features", "train", "calibrate", "evaluate", "gate", "summary")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> tuple[str, str]:
    """The voice pipeline compiled twice with compile_pipeline (KFP's CLI, subprocess)."""
    tmp = tmp_path_factory.mktemp("compile")
    first = compile_pipeline("voice", tmp / "a.yaml", REPO).read_text()
    second = compile_pipeline("voice", tmp / "b.yaml", REPO).read_text()
    return first, second


def test_compiled_yaml_is_deterministic_and_checked_in(compiled):
    first, second = compiled
    assert first == second, "compiling the voice pipeline twice gave different YAML"
    assert compiled_path(REPO, "voice") == GOLDEN
    assert first == GOLDEN.read_text(), (
        "pipelines/retrain-voice.yaml is stale: run `veracity pipeline compile --modality voice`"
    )


def test_kfp_cli_compiles_from_the_repository_root(tmp_path, compiled):
    """What a KFP user types after `make setup` (no PYTHONPATH, no sys.path edits)."""
    out = tmp_path / "out.yaml"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    kfp = Path(sys.executable).parent / "kfp"  # the console script `make setup` installs
    assert kfp.is_file(), f"no kfp command beside {sys.executable}"
    done = subprocess.run(
        [str(kfp), "dsl", "compile", "--py", "pipelines/retrain_voice.py", "--output", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert out.read_text() == compiled[0]  # the same pipeline compile_pipeline gives


def test_unknown_modality_and_bad_target_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="retrain_opera.py does not exist"):
        compile_pipeline("opera", tmp_path / "x.yaml", REPO)
    with pytest.raises(ConfigError, match=".yaml"):
        compile_pipeline("voice", tmp_path / "x.json", REPO)
    assert find_repo_root(REPO / "src" / "veracity") == REPO
    with pytest.raises(ConfigError, match="repository root"):
        find_repo_root(tmp_path)


def _tasks(spec: dict) -> dict[str, dict]:
    """Every task of every DAG, by display name (with the DAG it sits in)."""
    tasks = {}
    dags = {"root": spec["root"]["dag"]}
    dags.update({name: c["dag"] for name, c in spec["components"].items() if "dag" in c})
    for dag_name, dag in dags.items():
        for key, task in dag["tasks"].items():
            tasks[task["taskInfo"]["name"]] = {**task, "_key": key, "_dag": dag_name}
    return tasks


def test_pipeline_shape():
    spec = yaml.safe_load(GOLDEN.read_text())
    assert spec["pipelineInfo"]["name"].endswith("-voice")
    tasks = _tasks(spec)
    for name in (
        "ingest",
        "validate",
        "features",
        "train",
        "calibrate",
        "evaluate",
        "gate",
        "register-challenger",
        "stop",
        "summary",
    ):
        assert name in tasks, f"task {name} missing from the compiled pipeline"
    # the exit handler runs whatever happened in the body
    assert tasks["summary"]["triggerPolicy"]["strategy"] == "ALL_UPSTREAM_TASKS_COMPLETED"
    # pass branch registers, fail branch stops: conditions on the gate's verdict
    conditions = [
        t["triggerPolicy"].get("condition", "") for t in tasks.values() if "triggerPolicy" in t
    ]
    assert any("gate-verdict" in c and "'pass'" in c and not c.startswith("!") for c in conditions)
    assert any(c.startswith("!(") and "gate-verdict" in c for c in conditions)
    # train and calibrate run once per detector role, inside one loop over the roles
    assert tasks["train"]["_dag"] == tasks["calibrate"]["_dag"] != "root"
    loop = next(t for t in tasks.values() if "parameterIterator" in t or "artifactIterator" in t)
    items = loop["parameterIterator"]["items"]["raw"]
    assert yaml.safe_load(items) == ["stage1", "aasist"]  # the policy's order
    # the loop's calibrated detectors are collected into one detector set, which
    # evaluate and the gate read
    collect = tasks["collect"]
    models = collect["inputs"]["artifacts"]["models"]["taskOutputArtifact"]
    assert models["producerTask"] == loop["_key"]
    for name in ("evaluate", "gate"):
        detectors = tasks[name]["inputs"]["artifacts"]["detectors"]["taskOutputArtifact"]
        assert detectors["producerTask"] == collect["_key"]
    # steps are cached; the summary and the branches are not
    assert tasks["ingest"]["cachingOptions"].get("enableCache") is True
    assert not tasks["summary"].get("cachingOptions", {}).get("enableCache")
    params = spec["root"]["inputDefinitions"]["parameters"]
    for name in ("params_yaml", "overrides", "source", "data_version", "model_name"):
        assert name in params
    assert (
        "defaultValue" not in params["params_yaml"] or params["params_yaml"]["defaultValue"] == ""
    )


def test_images_and_accelerators_come_from_params(tmp_path):
    from pipelines.builder import build_pipeline

    cfg = load_config(
        REPO / "params.yaml",
        [
            "pipeline.image_registry=reg.example/ml",
            "pipeline.image_tag=v9.9",
            "pipeline.accelerator_limit=2",
        ],
    )
    out = tmp_path / "c.yaml"
    compiler.Compiler().compile(build_pipeline(cfg, "voice"), str(out))
    spec = yaml.safe_load(out.read_text())
    executors = spec["deploymentSpec"]["executors"]
    images = {e["container"]["image"] for e in executors.values()}
    assert images == {f"reg.example/ml/veracity-{s}:v9.9" for s in STEPS}
    train = [
        e["container"] for e in executors.values() if "veracity-train" in e["container"]["image"]
    ]
    assert len(train) == 1  # one train task, looped over the roles
    for container in train:
        assert container["resources"]["accelerator"]["resourceCount"] == "2"
        assert (
            container["resources"]["accelerator"]["resourceType"] == cfg.pipeline.accelerator_type
        )
    # no component pip-installs kfp at run time: it is baked into each image
    assert not any(
        "pip install" in " ".join(e["container"].get("command", []))
        and "kfp==" in " ".join(e["container"].get("command", []))
        for e in executors.values()
    )


def test_every_modality_has_its_checked_in_pipeline(tmp_path):
    """Each modality's golden file is current; its role loop lists its own detectors."""
    cfg = load_config(REPO / "params.yaml")
    for modality in cfg.modalities:
        if modality == "voice":
            continue  # compiled twice above
        golden = compiled_path(REPO, modality)
        out = compile_pipeline(modality, tmp_path / f"{modality}.yaml", REPO).read_text()
        assert out == golden.read_text(), (
            f"{golden.name} is stale: run `veracity pipeline compile --modality {modality}`"
        )
        spec = yaml.safe_load(out)
        assert spec["pipelineInfo"]["name"].endswith(f"-{modality}")
        loops = [t for t in _tasks(spec).values() if "parameterIterator" in t]
        looped = [yaml.safe_load(t["parameterIterator"]["items"]["raw"]) for t in loops]
        detectors = cfg.modality_params(modality).detectors
        # every role once: those built on others (trains_on) in the second loop
        assert sorted(r for items in looped for r in items) == sorted(detectors)
        for items in looped:
            assert len({bool(detectors[r].trains_on) for r in items}) == 1


def test_roles_built_on_others_train_on_the_first_loops_detector_set():
    """music: ae_mlp and the hybrids (trains_on) train in a second loop whose train task
    reads the detector set collected from the first loop; evaluate reads the extended set."""
    spec = yaml.safe_load((REPO / "pipelines" / "retrain-music.yaml").read_text())
    dags = spec["root"]["dag"]["tasks"]
    components = spec["components"]
    handler = next(t for t in dags.values() if t["taskInfo"]["name"] == "retrain")
    body = components[handler["componentRef"]["name"]]["dag"]["tasks"]
    loops = {
        key: yaml.safe_load(t["parameterIterator"]["items"]["raw"])
        for key, t in body.items()
        if "parameterIterator" in t
    }
    first = next(k for k, items in loops.items() if "autoencoder" in items)
    second = next(k for k, items in loops.items() if "hybrid" in items)
    assert set(loops[second]) == {"ae_mlp", "hybrid", "hybrid_concat"}
    collect = next(
        k
        for k, t in body.items()
        if t["taskInfo"]["name"] == "collect"
        and "models" in t["inputs"]["artifacts"]
        and "base" not in t["inputs"]["artifacts"]
    )
    assert (
        body[collect]["inputs"]["artifacts"]["models"]["taskOutputArtifact"]["producerTask"]
        == first
    )
    extend = next(k for k, t in body.items() if "base" in t.get("inputs", {}).get("artifacts", {}))
    assert (
        body[extend]["inputs"]["artifacts"]["base"]["taskOutputArtifact"]["producerTask"] == collect
    )
    assert (
        body[second]["inputs"]["artifacts"]["pipelinechannel--collect-detectors"][
            "taskOutputArtifact"
        ]["producerTask"]
        == collect
    )
    evaluate = next(t for t in body.values() if t["taskInfo"]["name"] == "evaluate")
    assert (
        evaluate["inputs"]["artifacts"]["detectors"]["taskOutputArtifact"]["producerTask"] == extend
    )
