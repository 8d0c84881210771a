"""AASIST / AASIST-L: structure, parameter counts, published weights vs reference outputs."""

from __future__ import annotations

import ast
import json

import numpy as np
import pytest
import torch
from conftest import AASIST_FIXTURES, require_shared

from veracity.modalities.voice.detectors import build_architecture
from veracity.modalities.voice.detectors.aasist import AASIST, make_sinc_filters
from veracity.modalities.voice.detectors.aasist_fast import optimize_for_inference
from veracity.modalities.voice.detectors.aasist_import import read_checkpoint

VARIANTS = ("AASIST", "AASIST-L")
FULL_LENGTH = ("randn_seed0", "sine440", "zeros")  # 64,600 samples: one batch
OTHER_LENGTH = ("short_16000", "long_96000")


def _tsv_shapes(variant: str) -> dict[str, tuple[int, ...]]:
    shapes = {}
    for line in (AASIST_FIXTURES / f"state_dict_{variant}.tsv").read_text().splitlines():
        key, shape, _dtype = line.split("\t")
        shapes[key] = tuple(ast.literal_eval(shape))
    return shapes


@pytest.mark.parametrize(("arch", "count"), [("aasist", 297_866), ("aasist-l", 85_306)])
def test_parameter_count_matches_published_model(cfg, arch, count):
    model = build_architecture(arch, cfg.modality_params("voice"))
    assert sum(p.numel() for p in model.parameters()) == count


@pytest.mark.parametrize("variant", VARIANTS)
def test_state_dict_keys_and_shapes_equal_published_listing(cfg, variant):
    require_shared(AASIST_FIXTURES)
    model = build_architecture(
        "aasist" if variant == "AASIST" else "aasist-l", cfg.modality_params("voice")
    )
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert ours == _tsv_shapes(variant)


def test_sinc_filters_are_symmetric_band_passes():
    bank = make_sinc_filters(70, 128)[:, 0]
    assert bank.shape == (70, 129)  # even kernel made odd
    assert torch.allclose(bank, bank.flip(-1))
    # mel-spaced bands: the peak of the response rises with the filter index, up to Nyquist
    peak_hz = torch.fft.rfft(bank, 4096).abs().argmax(dim=1) * 16000 / 4096
    assert bool((peak_hz[1:] >= peak_hz[:-1]).all())
    assert peak_hz[-1] > 7500 and peak_hz[10] < 1000


def test_forward_shapes_and_hidden_pair_on_short_input(cfg):
    model = build_architecture("aasist-l", cfg.modality_params("voice")).eval()
    wave = torch.randn(2, 16000)
    with torch.no_grad():
        hidden, logits = model.forward_with_hidden(wave)
        out = model({"waveform": wave})
    assert hidden.shape == (2, 160) and logits.shape == (2, 2)
    # the detector contract: a dict batch in, logits + embedding (the hidden readout) out
    torch.testing.assert_close(out["logits"], logits)
    torch.testing.assert_close(out["embedding"], hidden)


def test_eval_mode_is_deterministic_and_train_mode_uses_dropout(cfg):
    model = build_architecture("aasist-l", cfg.modality_params("voice"))
    x = {"waveform": torch.randn(1, 8000)}
    with torch.no_grad():
        model.eval()
        assert torch.equal(model(x)["logits"], model(x)["logits"])
        model.train()
        torch.manual_seed(0)
        a = model(x)["logits"]
        torch.manual_seed(1)
        b = model(x)["logits"]
    assert not torch.equal(a, b)


@pytest.fixture(scope="module", params=VARIANTS)
def published(request):
    """(variant, eager model with published weights, reference npz, eager outputs per input)."""
    require_shared(AASIST_FIXTURES)
    variant = request.param
    config = json.loads((AASIST_FIXTURES / "model_config.json").read_text())[variant]
    model = AASIST.from_config(config)
    model.load_state_dict(read_checkpoint(AASIST_FIXTURES / f"{variant}.pth"), strict=True)
    model.eval()
    ref = np.load(AASIST_FIXTURES / "reference_io.npz")
    inputs = {name: torch.from_numpy(ref[f"input/{name}"]) for name in FULL_LENGTH + OTHER_LENGTH}
    outputs = {}
    with torch.no_grad():
        # the full-length inputs in one batch: one forward instead of three
        batch = torch.cat([inputs[n] for n in FULL_LENGTH])
        hidden, logits = model.forward_with_hidden(batch)
        start = 0
        for name in FULL_LENGTH:
            n = inputs[name].shape[0]
            outputs[name] = (hidden[start : start + n], logits[start : start + n])
            start += n
        for name in OTHER_LENGTH:  # the reference ran these at their own length
            outputs[name] = model.forward_with_hidden(inputs[name])
    return variant, model, ref, inputs, outputs


def test_published_weights_reproduce_reference_logits(published):
    variant, _model, ref, _inputs, outputs = published
    for name, (hidden, logits) in outputs.items():
        want = ref[f"{variant}/{name}/logits"]
        assert logits.shape == want.shape
        np.testing.assert_allclose(logits.numpy(), want, atol=1e-4, rtol=0, err_msg=name)
        np.testing.assert_allclose(
            hidden.numpy(), ref[f"{variant}/{name}/hidden"], atol=1e-4, rtol=0, err_msg=name
        )


def test_fast_path_equals_eager_on_reference_inputs(published):
    _variant, model, _ref, inputs, outputs = published
    fast = optimize_for_inference(model)
    with torch.inference_mode():
        batch = torch.cat([inputs[n] for n in FULL_LENGTH])
        got = torch.cat([outputs[n][1] for n in FULL_LENGTH])
        torch.testing.assert_close(fast({"waveform": batch})["logits"], got, atol=1e-4, rtol=0)
        for name in OTHER_LENGTH:
            hidden, logits = fast.forward_with_hidden(inputs[name])
            torch.testing.assert_close(logits, outputs[name][1], atol=1e-4, rtol=0)
            torch.testing.assert_close(hidden, outputs[name][0], atol=1e-4, rtol=0)
