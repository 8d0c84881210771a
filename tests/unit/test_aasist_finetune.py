"""Fine-tuning AASIST from the official weights: bundled checkpoints, frozen front end,
precomputed front-end maps (the ``DetectorSpec.precompute`` hook)."""

from __future__ import annotations

import pytest
import torch
from conftest import AASIST_FIXTURES, require_shared

from veracity.config import load_config
from veracity.errors import CheckpointError
from veracity.modalities.base import spec_by_role
from veracity.modalities.voice.detectors import build_architecture, detector_specs
from veracity.modalities.voice.detectors.aasist import AASIST, FRONTEND
from veracity.modalities.voice.detectors.aasist_import import read_checkpoint
from veracity.modalities.voice.detectors.aasist_pretrained import (
    augment_frontend,
    bundled_path,
    load_pretrained,
    precompute_frontend,
)

FROZEN = {
    "modalities.voice.models.aasist_l.pretrained": "bundled",
    "modalities.voice.models.aasist_l.freeze_frontend": True,
}
SAMPLES = 8000  # 0.5 s: three temporal nodes, fast on a CPU


@pytest.fixture(scope="module")
def frozen_params(repo_root):
    return load_config(repo_root / "params.yaml", FROZEN).modality_params("voice")


@pytest.fixture(scope="module")
def waves():
    return 0.1 * torch.randn(4, SAMPLES, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("variant", ["AASIST", "AASIST-L"])
def test_bundled_weights_equal_the_published_checkpoints(variant):
    require_shared(AASIST_FIXTURES)
    from safetensors.torch import load_file

    bundled = load_file(str(bundled_path(variant)))
    published = read_checkpoint(AASIST_FIXTURES / f"{variant}.pth")
    assert bundled.keys() == published.keys()
    for key, value in published.items():
        assert torch.equal(bundled[key], value), key
    licence = (bundled_path(variant).parent / "LICENSE.aasist").read_text()
    assert "NAVER Corp." in licence


def test_precomputed_front_end_gives_the_raw_path_logits(frozen_params, waves):
    model = build_architecture("aasist-l", frozen_params).eval()
    spec = spec_by_role(detector_specs(frozen_params), "aasist")
    assert spec.precompute.func is precompute_frontend
    maps = spec.precompute(model, {"waveform": waves})
    assert set(maps) == {FRONTEND} and maps[FRONTEND].shape[:3] == (4, 24, 23)
    with torch.no_grad():
        raw = model({"waveform": waves})
        pre = model(maps)
    torch.testing.assert_close(pre["logits"], raw["logits"], rtol=0, atol=1e-4)
    torch.testing.assert_close(pre["embedding"], raw["embedding"], rtol=0, atol=1e-4)


def test_frozen_front_end_gets_no_gradient_and_keeps_its_statistics(frozen_params, waves):
    model = build_architecture("aasist-l", frozen_params).train()
    frontend_before = {
        k: v.clone() for k, v in model.state_dict().items() if k.startswith(("encoder", "first_bn"))
    }
    assert not model.encoder.training and not model.first_bn.training
    model({"waveform": waves})["logits"].sum().backward()
    for name, param in model.named_parameters():
        if name.startswith(("encoder", "first_bn")):
            assert not param.requires_grad and param.grad is None, name
    assert model.out_layer.weight.grad is not None
    assert model.GAT_layer_T.att_proj.weight.grad is not None
    for key, value in model.state_dict().items():
        if key in frontend_before:  # BatchNorm running stats too
            assert torch.equal(value, frontend_before[key]), key


def test_default_spec_trains_on_waveforms(cfg):
    det = cfg.modality_params("voice").detectors["aasist"]
    spec = spec_by_role(detector_specs(cfg.modality_params("voice")), "aasist")
    frozen = cfg.modality_params("voice").architecture_config(det.architecture).freeze_frontend
    assert (spec.precompute is not None) == frozen


def test_augment_frontend_crops_time_only():
    maps = torch.randn(2, 24, 23, 29)
    gen = torch.Generator().manual_seed(0)
    out = augment_frontend({FRONTEND: maps}, gen, crop_fraction=0.25)[FRONTEND]
    assert out.shape == (2, 24, 23, 7)
    start = next(s for s in range(23) if torch.equal(maps[..., s : s + 7], out))
    assert 0 <= start <= 22
    assert augment_frontend({FRONTEND: maps}, gen, crop_fraction=0.0)[FRONTEND] is maps


def test_wrong_variant_and_unreadable_weights_are_refused(frozen_params, tmp_path):
    model = AASIST.from_config(frozen_params.models.aasist_l.model_dump())
    with pytest.raises(CheckpointError, match="shape mismatches"):
        load_pretrained(model, str(bundled_path("AASIST")), "AASIST-L")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_pretrained(model, str(junk), "AASIST-L")
    with pytest.raises(CheckpointError, match="found none"):
        load_pretrained(model, str(tmp_path / "absent.safetensors"), "AASIST-L")
