"""Train step on the tiny demo corpus: MLflow run, safetensors artifact, train.json."""

from __future__ import annotations

import json
import subprocess

import pytest
import torch
from fixtures_models import tiny_training_config
from mlflow.tracking import MlflowClient

from veracity.models.artifact import load_artifact
from veracity.segment_store import load_split, read_features_json
from veracity.stages.train import run_train

pytestmark = pytest.mark.integration


def _git_head(repo_root) -> str:
    done = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo_root, capture_output=True, text=True, check=False
    )
    return done.stdout.strip() if done.returncode == 0 else "unknown"


def test_two_epochs_make_an_mlflow_run_and_a_faithful_artifact(
    tiny_features, tiny_models, repo_root, tmp_path
):
    # the tiny_models store is reused: creating a fresh MLflow database takes seconds
    cfg = tiny_training_config(
        repo_root / "params.yaml",
        tiny_models.tracking_dir,
        {
            "modalities.voice.detectors.stage1.training.epochs": 2,
            "modalities.voice.detectors.stage1.training.patience": 5,
        },
    )
    out = tmp_path / "stage1"
    result = run_train(cfg, tiny_features, "stage1", out)

    # the artifact reloads to the very same function
    dev = load_split(tiny_features, "dev").read(range(4))
    trained = result.model.eval()
    with torch.no_grad():
        before = trained(dev)
        after = load_artifact(out).model(dev)
    for key in ("logits", "embedding"):
        torch.testing.assert_close(after[key], before[key], rtol=0, atol=0)

    # files of the artifact
    config = json.loads((out / "config.json").read_text())
    dataset_version = read_features_json(tiny_features)["dataset_version"]
    assert config["architecture"] == "stage1"
    assert config["mlflow_run_id"] == result.mlflow_run_id
    assert config["dataset_version"] == dataset_version
    assert config["modality"] == "voice" and config["role"] == "stage1"
    assert config["input_shapes"] == {
        "waveform": [cfg.modality_params("voice").segments.window_samples]
    }
    voice_params = config["params"]["modalities"]["voice"]
    assert voice_params["detectors"]["stage1"]["training"]["epochs"] == 2
    metrics = json.loads((out / "metrics.json").read_text())["training"]
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2]
    assert (out / "reference_profile.parquet").is_file()
    assert json.loads((out / "train.json").read_text()) == result.to_dict()

    # the MLflow run: params, tags, per-epoch metrics, logged artifact directory
    client = MlflowClient(result.tracking_uri)
    run = client.get_run(result.mlflow_run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["modalities.voice.detectors.stage1.training.epochs"] == "2"
    assert run.data.params["modalities.voice.models.stage1.hidden_size"] == str(
        cfg.modality_params("voice").models.stage1.hidden_size
    )
    assert run.data.tags["dataset_version"] == dataset_version
    assert run.data.tags["git_commit"] == _git_head(repo_root)
    for name in ("train_loss", "dev_loss", "dev_eer", "lr", "throughput_utt_s"):
        steps = [m.step for m in client.get_metric_history(run.info.run_id, name)]
        assert steps == [1, 2], name
    losses = [m.value for m in client.get_metric_history(run.info.run_id, "train_loss")]
    assert losses == pytest.approx([e["train_loss"] for e in metrics["epochs"]])
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "model")}
    assert {"model/model.safetensors", "model/config.json", "model/metrics.json"} <= logged
    assert not any(p.endswith((".pkl", ".pt", ".pth")) for p in logged)


def test_tiny_models_fixture_gives_loadable_artifacts_and_runs(tiny_models, tiny_features):
    client = MlflowClient(tiny_models.tracking_uri)
    dev = load_split(tiny_features, "dev").read(range(2))
    for role, arch, path in (
        ("stage1", "stage1", tiny_models.stage1_dir),
        ("aasist", "aasist-l", tiny_models.aasist_dir),
    ):
        loaded = load_artifact(path)
        assert loaded.architecture == arch and loaded.role == role
        with torch.no_grad():
            logits = loaded.model(dev)["logits"]
        assert logits.shape == (2, 2) and torch.isfinite(logits).all()
        run = client.get_run(tiny_models.run_ids[role])
        assert run.data.tags["architecture"] == arch and run.data.tags["role"] == role
        assert run.info.artifact_uri.startswith(tiny_models.artifact_root.resolve().as_uri())
