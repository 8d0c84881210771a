"""Augmentations: known answers for SNR, gain and band-limiting; reproducibility."""

from __future__ import annotations

import math

import pytest
import torch

from veracity.config import AugmentConfig
from veracity.errors import InputError
from veracity.training.augment import add_noise, apply_gain, augment_batch, band_limit, low_cut

SR = 16000


def _sine(freq_hz: float, n: int = 16000, amp: float = 0.3) -> torch.Tensor:
    t = torch.arange(n, dtype=torch.float32) / SR
    return amp * torch.sin(2 * math.pi * freq_hz * t)


def _power_db(x: torch.Tensor) -> torch.Tensor:
    return 10 * torch.log10(x.pow(2).mean(dim=-1))


def _cfg(**kw) -> AugmentConfig:
    base = dict(
        noise_prob=0.0,
        noise_snr_db=(10.0, 40.0),
        gain_prob=0.0,
        gain_db=(-6.0, 6.0),
        bandlimit_prob=0.0,
        bandlimit_hz=(3400.0, 7000.0),
        lowcut_prob=0.0,
        lowcut_hz=(100.0, 400.0),
    )
    base.update(kw)
    return AugmentConfig(**base)


def test_add_noise_hits_requested_snr():
    gen = torch.Generator().manual_seed(0)
    x = torch.stack([_sine(440.0), _sine(1000.0, amp=0.05)])
    snr = torch.tensor([10.0, 25.0])
    y = add_noise(x, snr, gen)
    measured = _power_db(x) - _power_db(y - x)
    assert torch.allclose(measured, snr, atol=1e-3)
    assert torch.equal(x[0], _sine(440.0)), "input must not be modified"


def test_add_noise_infinite_snr_adds_nothing():
    x = _sine(440.0).unsqueeze(0)
    y = add_noise(x, torch.tensor([float("inf")]), torch.Generator().manual_seed(0))
    assert torch.equal(x, y)


def test_apply_gain_scales_rms_by_db():
    x = torch.stack([_sine(300.0), _sine(300.0)])
    y = apply_gain(x, torch.tensor([6.0, -12.0]))
    assert torch.allclose(_power_db(y) - _power_db(x), torch.tensor([6.0, -12.0]), atol=1e-4)


def test_band_limit_removes_energy_above_cutoff_only():
    x = torch.stack([_sine(6000.0), _sine(1000.0)])
    y = band_limit(x, torch.tensor([3400.0, 3400.0]), SR)
    assert y.shape == x.shape
    core = slice(1000, -1000)  # ignore filter edge effects
    drop = _power_db(x[:, core]) - _power_db(y[:, core])
    assert drop[0] > 30.0, f"6 kHz tone only dropped {drop[0]:.1f} dB"
    assert abs(drop[1]) < 0.5, f"1 kHz tone changed by {drop[1]:.2f} dB"


def test_band_limit_at_nyquist_is_identity():
    x = _sine(6000.0).unsqueeze(0)
    assert torch.equal(band_limit(x, torch.tensor([8000.0]), SR), x)


def test_low_cut_removes_the_low_end_only():
    x = torch.stack([_sine(60.0), _sine(2000.0)])
    y = low_cut(x, torch.tensor([300.0, 300.0]), SR)
    core = slice(2000, -1000)  # ignore the filter's start-up
    drop = _power_db(x[:, core]) - _power_db(y[:, core])
    assert drop[0] > 25.0, f"60 Hz hum only dropped {drop[0]:.1f} dB"
    assert abs(drop[1]) < 0.5, f"2 kHz tone changed by {drop[1]:.2f} dB"


def test_low_cut_fires_with_its_probability_only():
    x = torch.randn(6, 4000) * 0.1
    on = dict(noise_prob=1.0, gain_prob=1.0, bandlimit_prob=0.5)
    plain = augment_batch(x, _cfg(**on), torch.Generator().manual_seed(3), SR)
    zero = augment_batch(
        x, _cfg(**on, lowcut_hz=(300.0, 300.0)), torch.Generator().manual_seed(3), SR
    )
    cut = augment_batch(x, _cfg(**on, lowcut_prob=1.0), torch.Generator().manual_seed(3), SR)
    assert torch.equal(plain, zero)
    assert not torch.equal(plain, cut)


def test_augment_batch_zero_probabilities_is_identity():
    x = torch.randn(4, 4000)
    y = augment_batch(x, _cfg(), torch.Generator().manual_seed(1), SR)
    assert torch.equal(x, y)


def test_augment_batch_always_on_changes_every_row_and_is_reproducible():
    x = torch.randn(4, 4000) * 0.1
    before = x.clone()
    cfg = _cfg(noise_prob=1.0, gain_prob=1.0, bandlimit_prob=1.0, lowcut_prob=1.0)
    a = augment_batch(x, cfg, torch.Generator().manual_seed(7), SR)
    b = augment_batch(x, cfg, torch.Generator().manual_seed(7), SR)
    c = augment_batch(x, cfg, torch.Generator().manual_seed(8), SR)
    assert torch.equal(x, before)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert ((a - x).abs().amax(dim=1) > 1e-4).all()


def test_augment_batch_gain_within_configured_range():
    x = torch.stack([_sine(500.0)] * 16)
    y = augment_batch(x, _cfg(gain_prob=1.0, gain_db=(-3.0, 2.0)), torch.Generator(), SR)
    gains = _power_db(y) - _power_db(x)
    assert (gains >= -3.0 - 1e-3).all() and (gains <= 2.0 + 1e-3).all()
    assert gains.std() > 0.1  # one random gain per row


def test_augment_batch_rejects_1d_input():
    with pytest.raises(InputError, match=r"\[B, L\]"):
        augment_batch(torch.zeros(100), _cfg(), torch.Generator(), SR)


def test_random_crop_takes_contiguous_excerpts_of_each_window():
    import torch

    from veracity.training.augment import random_crop

    waves = torch.arange(3 * 100, dtype=torch.float32).reshape(3, 100)
    gen = torch.Generator().manual_seed(0)
    out = random_crop(waves, 40, gen)
    assert out.shape == (3, 40)
    for row, crop in zip(waves, out, strict=True):
        start = int(crop[0] - row[0])
        assert 0 <= start <= 60
        assert torch.equal(crop, row[start : start + 40])
    # 0 or a length >= the window keeps whole windows (dev/eval path)
    assert random_crop(waves, 0, gen) is waves
    assert random_crop(waves, 100, gen) is waves
