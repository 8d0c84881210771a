"""Waveform augmentations for training: additive noise, random gain, band-limiting, low cut.

All functions are pure torch on batches ``[B, L]`` and never modify their input.
Randomness comes only from the ``torch.Generator`` passed in, so a seeded generator
reproduces the same augmented batch. Probabilities and ranges come from
``params.yaml`` ``training.augment``.

Why these: real uploads differ from the training corpus mainly in background noise,
recording level and channel bandwidth (telephone and VoIP codecs cut everything above
3.4–7 kHz, and the telephone network everything below ~300 Hz). Teaching the detectors to
ignore those keeps them on the synthesis artefacts.
"""

from __future__ import annotations

import logging

import torch
import torchaudio.functional as AF

from veracity.config import AugmentConfig
from veracity.errors import InputError

log = logging.getLogger(__name__)

_EPS = 1e-12
# Band-limit target rates are rounded to this step so that resampling kernels stay small
# (torchaudio reduces the rate ratio by the gcd).
_RATE_STEP_HZ = 200


def add_noise(
    waves: torch.Tensor, snr_db: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Add white Gaussian noise to each row at exactly the given SNR (dB).

    The noise of row ``i`` is rescaled so that ``mean(x_i**2) / mean(n_i**2)`` equals
    ``10 ** (snr_db[i] / 10)``; silent rows stay silent.
    """
    noise = torch.randn(waves.shape, generator=generator, dtype=waves.dtype)
    signal_power = waves.pow(2).mean(dim=1, keepdim=True)
    noise_power = noise.pow(2).mean(dim=1, keepdim=True).clamp_min(_EPS)
    target_power = signal_power / torch.pow(10.0, snr_db.to(waves.dtype).unsqueeze(1) / 10.0)
    return waves + noise * torch.sqrt(target_power / noise_power)


def apply_gain(waves: torch.Tensor, gain_db: torch.Tensor) -> torch.Tensor:
    """Scale each row by ``10 ** (gain_db[i] / 20)`` (amplitude gain in dB)."""
    return waves * torch.pow(10.0, gain_db.to(waves.dtype).unsqueeze(1) / 20.0)


def band_limit(waves: torch.Tensor, cutoff_hz: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Simulate a narrow-band channel: resample each row down to ``2 * cutoff`` and back.

    torchaudio's windowed-sinc resampler removes everything above the new Nyquist
    frequency, like a codec running at that rate. Rows whose cutoff is at or above the
    input Nyquist frequency are returned unchanged.
    """
    out = waves.clone()
    length = waves.shape[1]
    for i, cutoff in enumerate(cutoff_hz.tolist()):
        low_rate = int(round(2.0 * cutoff / _RATE_STEP_HZ)) * _RATE_STEP_HZ
        if low_rate >= sample_rate or low_rate <= 0:
            continue
        down = AF.resample(waves[i : i + 1], sample_rate, low_rate)
        up = AF.resample(down, low_rate, sample_rate)
        # Resampling round trips can be a sample short or long; keep the window length.
        if up.shape[1] >= length:
            out[i] = up[0, :length]
        else:
            out[i, : up.shape[1]] = up[0]
            out[i, up.shape[1] :] = 0.0
    return out


def low_cut(waves: torch.Tensor, cutoff_hz: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """A channel that drops the low end, as the telephone network does below ~300 Hz: a
    second-order high-pass (biquad) per row at ``cutoff_hz[i]``."""
    out = waves.clone()
    for i, cutoff in enumerate(cutoff_hz.tolist()):
        out[i] = AF.highpass_biquad(waves[i], sample_rate, float(cutoff))
    return out


def _uniform(n: int, bounds: tuple[float, float], generator: torch.Generator) -> torch.Tensor:
    low, high = float(bounds[0]), float(bounds[1])
    return low + (high - low) * torch.rand(n, generator=generator)


def augment_batch(
    waves: torch.Tensor,
    augment_cfg: AugmentConfig,
    generator: torch.Generator,
    sample_rate: int,
) -> torch.Tensor:
    """Augment a batch of windows ``[B, L]`` (CPU tensor); returns a new tensor.

    Each row independently gets band-limiting (``bandlimit_prob``, cutoff uniform in
    ``bandlimit_hz``) and a low cut (``lowcut_prob``, cutoff uniform in ``lowcut_hz``),
    then additive noise (``noise_prob``, SNR uniform in
    ``noise_snr_db``), then a gain (``gain_prob``, uniform in ``gain_db``). Noise is
    added after the channel so the noise floor is broadband, as a microphone's is.
    """
    if waves.dim() != 2:
        raise InputError(f"augment_batch expects a batch [B, L], got shape {tuple(waves.shape)}")
    n = waves.shape[0]
    out = waves
    # Draw every random number up front, in a fixed order, so results do not depend on
    # which branches fire.
    do_band = torch.rand(n, generator=generator) < augment_cfg.bandlimit_prob
    cutoffs = _uniform(n, augment_cfg.bandlimit_hz, generator)
    do_noise = torch.rand(n, generator=generator) < augment_cfg.noise_prob
    snrs = _uniform(n, augment_cfg.noise_snr_db, generator)
    do_gain = torch.rand(n, generator=generator) < augment_cfg.gain_prob
    gains = _uniform(n, augment_cfg.gain_db, generator)
    do_low = torch.rand(n, generator=generator) < augment_cfg.lowcut_prob
    low_cutoffs = _uniform(n, augment_cfg.lowcut_hz, generator)

    if do_band.any():
        idx = do_band.nonzero().squeeze(1)
        out = out.clone()
        out[idx] = band_limit(out[idx], cutoffs[idx], sample_rate)
    if do_low.any():
        idx = do_low.nonzero().squeeze(1)
        out = out.clone()
        out[idx] = low_cut(out[idx], low_cutoffs[idx], sample_rate)
    if do_noise.any():
        # Rows without noise get an infinite SNR, i.e. zero added noise.
        snr = torch.where(do_noise, snrs, torch.full_like(snrs, float("inf")))
        out = add_noise(out, snr, generator)
    if do_gain.any():
        out = apply_gain(out, torch.where(do_gain, gains, torch.zeros_like(gains)))
    return out


def random_crop(waves: torch.Tensor, length: int, generator: torch.Generator) -> torch.Tensor:
    """A random ``length``-sample excerpt of every window of ``waves`` [B, L].

    Training on excerpts makes each step several times cheaper on CPU; both detectors
    accept any input length, and dev/eval always score whole windows.
    """
    total = waves.shape[-1]
    if length <= 0 or length >= total:
        return waves
    starts = torch.randint(0, total - length + 1, (waves.shape[0], 1), generator=generator)
    index = starts + torch.arange(length).unsqueeze(0)
    return waves.gather(1, index)
