"""The recording channel every demo clip passes through, bonafide and spoof alike.

Level cues must not separate the classes: each clip gets the same kind of noise floor,
an RMS level and a peak-to-RMS ratio (crest factor) drawn from one distribution for both
classes. A smooth look-ahead-free limiter brings the crest factor to its drawn value, so
that vocoders that flatten or sharpen peaks do not give themselves away by peak level.
"""

from __future__ import annotations

import numpy as np


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2)) + 1e-12)


def _running_min(x: np.ndarray, width: int) -> np.ndarray:
    pad = np.pad(x, (width // 2, width - 1 - width // 2), mode="edge")
    view = np.lib.stride_tricks.sliding_window_view(pad, width)
    return view.min(axis=1)


def limit_crest(x: np.ndarray, crest_db: float, width: int = 32, rounds: int = 4) -> np.ndarray:
    """Lower the crest factor of ``x`` to about ``crest_db`` with a smooth gain curve."""
    kernel = np.ones(width) / width
    for _ in range(rounds):
        x = x / _rms(x)
        ceiling = 10 ** (crest_db / 20)
        gain = np.minimum(1.0, ceiling / np.maximum(np.abs(x), 1e-12))
        if gain.min() >= 1.0:
            break
        # min-filter first so the smoothed gain still reaches down to each peak
        gain = np.convolve(_running_min(gain, width), kernel, mode="same")
        x = x * gain
    return x / _rms(x)


def apply_channel(
    wave: np.ndarray,
    rng: np.random.Generator,
    rms_db: tuple[float, float],
    crest_db: tuple[float, float],
    noise_floor_db: tuple[float, float],
) -> np.ndarray:
    """Noise floor, crest factor and level drawn from shared ranges -> float32 in [-1, 1]."""
    x = wave / _rms(wave)
    noise = rng.standard_normal(len(x)) * 10 ** (rng.uniform(*noise_floor_db) / 20)
    x = limit_crest(x + noise, float(rng.uniform(*crest_db)))
    x = x * 10 ** (rng.uniform(*rms_db) / 20)
    return np.clip(x, -1.0, 1.0).astype(np.float32)
