"""Model artifacts and bundles: safetensors round trips and clear errors."""

from __future__ import annotations

import json

import pytest
import torch

from veracity.errors import ModelArtifactError, PathSafetyError
from veracity.modalities.voice.detectors import build_architecture
from veracity.models.artifact import load_artifact, save_artifact
from veracity.models.bundle import BundleContract, load_bundle, read_bundle, write_bundle_json
from veracity.models.inference import predict_logits


@pytest.fixture(scope="module")
def aasist_l_dir(cfg, tmp_path_factory):
    torch.manual_seed(3)
    model = build_architecture("aasist-l", cfg.modality_params("voice"))
    out = tmp_path_factory.mktemp("artifact") / "aasist"
    save_artifact(
        out,
        model,
        "aasist-l",
        modality="voice",
        role="aasist",
        extra={
            "dataset_version": "abc123",
            "git_commit": "f00",
            "input_shapes": {"waveform": [64600]},
        },
    )
    return out, model


def test_round_trip_gives_identical_weights_and_logits(aasist_l_dir):
    out, model = aasist_l_dir
    loaded = load_artifact(out)
    assert loaded.architecture == "aasist-l" and not loaded.model.training
    assert (loaded.modality, loaded.role) == ("voice", "aasist")
    assert loaded.config["dataset_version"] == "abc123"
    assert loaded.config["mlflow_run_id"] is None  # provenance keys are always present
    assert loaded.calibration is None
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value), key
    x = {"waveform": torch.randn(2, 8000)}
    model.eval()
    assert (predict_logits(model, x, 2) == predict_logits(loaded.model, x, 2)).all()


def test_stage1_round_trip(cfg, tmp_path):
    torch.manual_seed(0)
    model = build_architecture("stage1", cfg.modality_params("voice"))
    save_artifact(
        tmp_path / "s1", model, "stage1", modality="voice", role="stage1",
        model_config=model.model_config, extra={},
    )  # fmt: skip
    (tmp_path / "s1" / "calibration.json").write_text(json.dumps({"temperature": 1.5}))
    loaded = load_artifact(tmp_path / "s1")
    assert loaded.calibration == {"temperature": 1.5}
    x = {"waveform": torch.randn(2, 4000)}
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x)["logits"], loaded.model(x)["logits"])
        assert torch.equal(model(x)["embedding"], loaded.model(x)["embedding"])


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
    with pytest.raises(ModelArtifactError, match="'modality' and 'role'"):
        load_artifact(bad)  # written before the modality seam
    (bad / "config.json").write_text(json.dumps({"model_config": {}, **_ids()}))
    with pytest.raises(ModelArtifactError, match="architecture"):
        load_artifact(bad)
    (bad / "config.json").write_text(json.dumps({"architecture": "aasist-l", **_ids()}))
    with pytest.raises(ModelArtifactError, match="model_config"):
        load_artifact(bad)


def _ids() -> dict:
    return {"modality": "voice", "role": "aasist"}


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


def test_unknown_architecture_is_refused_on_load(tmp_path, aasist_l_dir):
    # the artifact layer is generic: the modality named in config.json knows its architectures
    out, model = aasist_l_dir
    save_artifact(tmp_path / "x", model, "wav2vec9", modality="voice", role="aasist")
    with pytest.raises(ModelArtifactError, match="wav2vec9"):
        load_artifact(tmp_path / "x")


def test_save_needs_a_model_config(tmp_path):
    with pytest.raises(ModelArtifactError, match="model_config"):
        save_artifact(tmp_path / "x", torch.nn.Linear(2, 2), "linear", modality="voice", role="r")
    assert not (tmp_path / "x").exists()


def _contract(**detector) -> BundleContract:
    entry = {
        "dir": "aasist",
        "architecture": "aasist-l",
        "inputs": ["waveform"],
        "input_shapes": {"waveform": [64600]},
        **detector,
    }
    return BundleContract(
        name="b", modality="voice", dataset_version="abc123", roles=["aasist"],
        detectors={"aasist": entry}, params={},
    )  # fmt: skip


def test_bundle_loads_each_role_and_refuses_escapes(tmp_path, aasist_l_dir):
    out, _ = aasist_l_dir
    bundle = tmp_path / "bundle"
    (bundle / "aasist").mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        (bundle / "aasist" / name).write_bytes((out / name).read_bytes())
    write_bundle_json(bundle, _contract())
    contract, loaded = load_bundle(bundle)
    assert contract.roles == ["aasist"] and contract.modality == "voice"
    assert list(loaded) == ["aasist"] and loaded["aasist"].architecture == "aasist-l"
    write_bundle_json(bundle, _contract(dir="../elsewhere"))
    with pytest.raises(PathSafetyError):
        load_bundle(bundle)
    empty = _contract()
    empty.roles, empty.detectors = [], {}
    write_bundle_json(bundle, empty)
    with pytest.raises(ModelArtifactError, match="every served role"):
        load_bundle(bundle)
    (bundle / "bundle.json").write_text(json.dumps({"name": "b", "models": {"aasist": "aasist"}}))
    with pytest.raises(ModelArtifactError, match="bundle format 2"):
        read_bundle(bundle)  # a bundle written before the serving contract


def test_bundle_refuses_a_detector_that_disagrees_with_its_contract(tmp_path, aasist_l_dir):
    out, _ = aasist_l_dir
    bundle = tmp_path / "bundle"
    (bundle / "aasist").mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        (bundle / "aasist" / name).write_bytes((out / name).read_bytes())
    write_bundle_json(bundle, _contract(input_shapes={"waveform": [48000]}))
    with pytest.raises(ModelArtifactError, match=r"bundle.json \[48000\], trained on \[64600\]"):
        load_bundle(bundle)
    write_bundle_json(bundle, _contract(architecture="aasist"))
    with pytest.raises(ModelArtifactError, match="architecture: bundle.json 'aasist'"):
        load_bundle(bundle)
