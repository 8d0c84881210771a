"""Model artifacts and bundles: safetensors round trips and clear errors."""

from __future__ import annotations

import json

import pytest
import torch
from veracity.models.factory import build_model

from veracity.errors import ModelArtifactError, PathSafetyError
from veracity.models.artifact import load_artifact, load_bundle, save_artifact
from veracity.models.inference import predict_logits


@pytest.fixture(scope="module")
def aasist_l_dir(cfg, tmp_path_factory):
    torch.manual_seed(3)
    model = build_model("aasist-l", cfg.modality_params("voice").models)
    out = tmp_path_factory.mktemp("artifact") / "aasist"
    save_artifact(out, model, "aasist-l", None, {"dataset_version": "abc123", "git_commit": "f00"})
    return out, model


def test_round_trip_gives_identical_weights_and_logits(aasist_l_dir):
    out, model = aasist_l_dir
    loaded = load_artifact(out)
    assert loaded.architecture == "aasist-l" and not loaded.model.training
    assert loaded.config["dataset_version"] == "abc123"
    assert loaded.config["mlflow_run_id"] is None  # provenance keys are always present
    assert loaded.calibration is None
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value), key
    x = torch.randn(2, 8000)
    model.eval()
    assert (predict_logits(model, x, 2) == predict_logits(loaded.model, x, 2)).all()


def test_stage1_round_trip(cfg, tmp_path):
    torch.manual_seed(0)
    model = build_model("stage1", cfg.modality_params("voice").models)
    save_artifact(tmp_path / "s1", model, "stage1", model.model_config, {})
    (tmp_path / "s1" / "calibration.json").write_text(json.dumps({"temperature": 1.5}))
    loaded = load_artifact(tmp_path / "s1")
    assert loaded.calibration == {"temperature": 1.5}
    x = torch.randn(2, 4000)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), loaded.model(x))


def test_missing_directory_and_files_explain_the_fix(tmp_path, aasist_l_dir):
    with pytest.raises(ModelArtifactError, match="expected a model artifact directory"):
        load_artifact(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelArtifactError, match="config.json .* missing.*save_artifact"):
        load_artifact(tmp_path / "empty")
    out, _ = aasist_l_dir
    half = tmp_path / "half"
    half.mkdir()
    (half / "config.json").write_text((out / "config.json").read_text())
    with pytest.raises(ModelArtifactError, match="model.safetensors"):
        load_artifact(half)


def test_corrupt_weights_and_config_are_refused(tmp_path, aasist_l_dir):
    out, _ = aasist_l_dir
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text((out / "config.json").read_text())
    (bad / "model.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ModelArtifactError, match="not a readable safetensors"):
        load_artifact(bad)
    (bad / "config.json").write_text("{not json")
    with pytest.raises(ModelArtifactError, match="not valid JSON"):
        load_artifact(bad)
    (bad / "config.json").write_text(json.dumps({"architecture": "resnet", "model_config": {}}))
    with pytest.raises(ModelArtifactError, match="architecture"):
        load_artifact(bad)


def test_weights_that_do_not_match_the_config_are_listed(tmp_path, cfg, aasist_l_dir):
    out, _ = aasist_l_dir
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    config = json.loads((out / "config.json").read_text())
    config["architecture"] = "aasist"
    config["model_config"] = cfg.modality_params("voice").models.aasist.model_dump(mode="json")
    (wrong / "config.json").write_text(json.dumps(config))
    (wrong / "model.safetensors").write_bytes((out / "model.safetensors").read_bytes())
    with pytest.raises(ModelArtifactError, match="shape mismatches .*expected"):
        load_artifact(wrong)


def test_save_refuses_unknown_architecture(tmp_path, cfg):
    with pytest.raises(ModelArtifactError, match="architecture"):
        save_artifact(tmp_path / "x", build_model("aasist-l", cfg.modality_params("voice").models), "wav2vec9", None, {})


def test_bundle_loads_each_role_and_refuses_escapes(tmp_path, aasist_l_dir):
    out, _ = aasist_l_dir
    bundle = tmp_path / "bundle"
    (bundle / "aasist").mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        (bundle / "aasist" / name).write_bytes((out / name).read_bytes())
    (bundle / "bundle.json").write_text(json.dumps({"name": "b", "models": {"aasist": "aasist"}}))
    loaded = load_bundle(bundle)
    assert list(loaded) == ["aasist"] and loaded["aasist"].architecture == "aasist-l"
    (bundle / "bundle.json").write_text(json.dumps({"models": {"aasist": "../elsewhere"}}))
    with pytest.raises(PathSafetyError):
        load_bundle(bundle)
    (bundle / "bundle.json").write_text(json.dumps({"models": {}}))
    with pytest.raises(ModelArtifactError, match="'models' mapping"):
        load_bundle(bundle)
