"""Importing published checkpoints: safe loading, strict key checks, clear errors."""

from __future__ import annotations

import os

import pytest
import torch
from conftest import AASIST_FIXTURES, require_shared

from veracity.errors import CheckpointError
from veracity.modalities.voice.detectors import build_architecture
from veracity.modalities.voice.detectors.aasist_import import import_aasist, read_checkpoint
from veracity.models.artifact import load_artifact


class _RunsCodeOnLoad:
    """Unpickling this calls a function: harmless here (os.getcwd), arbitrary in general."""

    def __reduce__(self):
        return (os.getcwd, ())


def _small_state(cfg) -> dict[str, torch.Tensor]:
    return build_architecture("aasist-l", cfg.modality_params("voice")).state_dict()


def test_random_bytes_are_not_a_checkpoint(tmp_path):
    path = tmp_path / "noise.pth"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        read_checkpoint(path)


def test_empty_and_missing_files_are_refused(tmp_path):
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(CheckpointError, match="not a readable"):
        read_checkpoint(tmp_path / "empty.pth")
    with pytest.raises(CheckpointError, match="expected a checkpoint file"):
        read_checkpoint(tmp_path / "absent.pth")


def test_pickle_with_code_is_refused_by_weights_only(tmp_path, cfg):
    path = tmp_path / "evil.pth"
    state = _small_state(cfg)
    state["payload"] = _RunsCodeOnLoad()
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="code to run on load") as info:
        import_aasist(path, "AASIST-L", tmp_path / "out", cfg)
    assert "getcwd" in str(info.value)
    assert not (tmp_path / "out").exists()


def test_non_tensor_content_is_refused(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([1, 2, 3], path)
    with pytest.raises(CheckpointError, match="expected a state_dict"):
        read_checkpoint(path)


def test_missing_and_extra_keys_are_listed(tmp_path, cfg):
    state = _small_state(cfg)
    del state["out_layer.bias"]
    state["surprise.weight"] = torch.zeros(3)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as info:
        import_aasist(path, "AASIST-L", tmp_path / "out", cfg)
    message = str(info.value)
    assert "missing keys ['out_layer.bias']" in message
    assert "unexpected keys ['surprise.weight']" in message


def test_wrong_variant_reports_shape_mismatches(tmp_path, cfg):
    path = tmp_path / "aasist_l.pth"
    torch.save(_small_state(cfg), path)
    with pytest.raises(CheckpointError, match="shape mismatches .*expected") as info:
        import_aasist(path, "AASIST", tmp_path / "out", cfg)
    assert "--variant" in str(info.value)


def test_unknown_variant_is_refused(tmp_path, cfg):
    with pytest.raises(CheckpointError, match="AASIST or AASIST-L"):
        import_aasist(tmp_path / "x.pth", "AASIST-XL", tmp_path / "out", cfg)


@pytest.mark.parametrize(("variant", "arch"), [("AASIST", "aasist"), ("AASIST-L", "aasist-l")])
def test_published_checkpoint_imports_into_an_equal_artifact(tmp_path, cfg, variant, arch):
    require_shared(AASIST_FIXTURES)
    source = AASIST_FIXTURES / f"{variant}.pth"
    out = import_aasist(source, variant, tmp_path / "artifact", cfg)
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]
    loaded = load_artifact(out)
    assert loaded.architecture == arch and not loaded.model.training
    assert loaded.config["source"]["variant"] == variant
    published = read_checkpoint(source)
    ours = loaded.model.state_dict()
    assert ours.keys() == published.keys()
    assert all(torch.equal(ours[k], published[k]) for k in ours)
