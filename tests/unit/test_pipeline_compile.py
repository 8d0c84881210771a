"""The compiled pipeline: deterministic, up to date, and shaped as the issue asks."""

from __future__ import annotations

from pathlib import Path

import yaml
from veracity.orchestration.build import COMPILED_FILE, compile_pipeline

from veracity.config import load_config

REPO = Path(__file__).resolve().parents[2]


def _compile(cfg, tmp_path: Path, name: str) -> dict:
    out = compile_pipeline(cfg, tmp_path / name, repo_root=REPO)
    return out.read_text()


def test_compiled_yaml_is_deterministic_and_checked_in(cfg, tmp_path):
    first = _compile(cfg, tmp_path, "a.yaml")
    assert first == _compile(cfg, tmp_path, "b.yaml")
    checked_in = (REPO / COMPILED_FILE).read_text()
    assert first == checked_in, "pipelines/retrain.yaml is stale: run `veracity pipeline compile`"


def _tasks(spec: dict) -> dict[str, dict]:
    """Every task of every DAG, by display name."""
    tasks = {}
    dags = [spec["root"]["dag"]] + [c["dag"] for c in spec["components"].values() if "dag" in c]
    for dag in dags:
        for key, task in dag["tasks"].items():
            tasks[task["taskInfo"]["name"]] = {**task, "_key": key}
    return tasks


def test_pipeline_shape(cfg):
    spec = yaml.safe_load((REPO / COMPILED_FILE).read_text())
    tasks = _tasks(spec)
    for name in (
        "ingest",
        "validate",
        "features",
        "train-stage1",
        "train-aasist",
        "calibrate-stage1",
        "calibrate-aasist",
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
    # the two trainings are independent (parallel on a cluster)
    assert tasks["train-aasist"]["_key"] not in tasks["train-stage1"].get("dependentTasks", [])
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
    cfg = load_config(
        REPO / "params.yaml",
        [
            "pipeline.image_registry=reg.example/ml",
            "pipeline.image_tag=v9.9",
            "pipeline.accelerator_limit=2",
        ],
    )
    spec = yaml.safe_load(_compile(cfg, tmp_path, "c.yaml"))
    executors = spec["deploymentSpec"]["executors"]
    images = {e["container"]["image"] for e in executors.values()}
    assert images == {
        f"reg.example/ml/veracity-{s}:v9.9"
        for s in (
            "ingest",
            "validate",
            "features",
            "train",
            "calibrate",
            "evaluate",
            "gate",
            "summary",
        )
    }
    train = [
        e["container"] for e in executors.values() if "veracity-train" in e["container"]["image"]
    ]
    assert len(train) == 2
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
