"""predict_logits and the fast path on small inputs (no published fixtures needed)."""

from __future__ import annotations

import platform
import subprocess
import sys

import numpy as np
import pytest
import torch

from veracity.errors import InputError
from veracity.modalities.voice.detectors import build_architecture
from veracity.modalities.voice.detectors.aasist_fast import FastAASIST, optimize_for_inference
from veracity.models.inference import predict_logits


@pytest.fixture(scope="module")
def aasist_l(cfg):
    torch.manual_seed(11)
    model = build_architecture("aasist-l", cfg.modality_params("voice"))
    # non-trivial BatchNorm statistics so that folding them is actually exercised
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
    return model.eval()


def test_batching_does_not_change_logits_and_mode_is_restored(aasist_l):
    x = {"waveform": torch.randn(3, 8000)}
    aasist_l.train()
    one = predict_logits(aasist_l, x, batch_size=1)
    three = predict_logits(aasist_l, x, batch_size=3)
    assert aasist_l.training  # restored
    aasist_l.eval()
    assert one.shape == (3, 2) and one.dtype == np.float32
    np.testing.assert_allclose(one, three, atol=1e-5)


def test_bad_inputs_are_input_errors(aasist_l):
    with pytest.raises(InputError, match="at least one named input"):
        predict_logits(aasist_l, {}, 4)
    with pytest.raises(InputError, match="one segment count"):
        predict_logits(aasist_l, {"waveform": torch.randn(2, 8000), "x": torch.randn(3, 4)}, 4)
    with pytest.raises(InputError, match="batch_size"):
        predict_logits(aasist_l, {"waveform": torch.randn(1, 8000)}, 0)
    assert predict_logits(aasist_l, {"waveform": torch.randn(0, 8000)}, 4).shape == (0, 2)


def test_fast_path_equals_eager_with_folded_batchnorm(aasist_l):
    fast = optimize_for_inference(aasist_l)
    assert isinstance(fast, FastAASIST)
    x = torch.randn(2, 12000)
    with torch.inference_mode():
        hidden, logits = aasist_l.forward_with_hidden(x)
        fast_hidden, fast_logits = fast.forward_with_hidden(x)
    torch.testing.assert_close(fast_logits, logits, atol=1e-4, rtol=0)
    torch.testing.assert_close(fast_hidden, hidden, atol=1e-4, rtol=0)


def test_fast_path_tiles_agree_with_one_tile(aasist_l):
    # tiny tiles: many tile borders, both sequence ends and a partial last tile
    x = torch.randn(2, 12001)
    with torch.inference_mode():
        eager = aasist_l({"waveform": x})
        for tile_columns in (48, 10**9):
            fast = FastAASIST(aasist_l, tile_columns=tile_columns)
            out = fast({"waveform": x})
            torch.testing.assert_close(out["logits"], eager["logits"], atol=1e-4, rtol=0)
            torch.testing.assert_close(out["embedding"], eager["embedding"], atol=1e-4, rtol=0)


def test_fast_path_keeps_thread_setting(aasist_l):
    before = torch.get_num_threads()
    with torch.inference_mode():
        optimize_for_inference(aasist_l)({"waveform": torch.randn(1, 8000)})
    assert torch.get_num_threads() == before


def test_other_models_pass_through_in_eval_mode(cfg):
    model = build_architecture("stage1", cfg.modality_params("voice")).train()
    assert optimize_for_inference(model) is model and not model.training


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc-only")
def test_tune_allocator_applies_on_glibc():
    # in a child process: the setting is process-wide and would outlive this test
    code = "from veracity.allocator import tune_allocator; assert tune_allocator(1 << 30)"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_steps_score_the_form_that_serves(cfg, aasist_l, tmp_path):
    """calibrate and evaluate load AASIST as the predictor runs it (fused), other detectors
    as trained; the fused logits equal the eager ones."""
    from veracity.models.artifact import load_artifact, load_for_scoring, save_artifact

    save_artifact(tmp_path / "aasist", aasist_l, "aasist", modality="voice", role="aasist")
    fused, eager = load_for_scoring(cfg, tmp_path / "aasist"), load_artifact(tmp_path / "aasist")
    assert isinstance(fused.model, FastAASIST) and not isinstance(eager.model, FastAASIST)
    wave = {"waveform": 0.1 * torch.randn(2, 64600, generator=torch.Generator().manual_seed(0))}
    np.testing.assert_allclose(
        predict_logits(fused.model, wave, 2), predict_logits(eager.model, wave, 2), atol=1e-4
    )
    stage1 = build_architecture("stage1", cfg.modality_params("voice"))
    save_artifact(tmp_path / "stage1", stage1, "stage1", modality="voice", role="stage1")
    assert type(load_for_scoring(cfg, tmp_path / "stage1").model) is type(stage1)
