"""The demo's AI generators on a short tone (no fluidsynth needed)."""

from __future__ import annotations

import numpy as np
import pytest

from veracity.modalities.music.demo.generators import GENERATORS


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generator_shape_level_and_determinism(name):
    sr = 16000
    t = np.arange(sr // 2) / sr
    x = (0.3 * np.sin(2 * np.pi * 330 * t) + 0.1 * np.sin(2 * np.pi * 990 * t)).astype(np.float32)
    a = GENERATORS[name](x, sr, np.random.default_rng(3))
    b = GENERATORS[name](x, sr, np.random.default_rng(3))
    assert a.shape == x.shape and a.dtype == np.float32 and np.isfinite(a).all()
    assert np.sqrt(np.mean(a.astype(np.float64) ** 2)) == pytest.approx(1.0, rel=1e-3)
    assert np.array_equal(a, b)
    # a reconstruction, not a copy
    assert not np.allclose(a, x / np.sqrt(np.mean(x**2)), atol=1e-2)


def test_deconv_leaves_spectral_images():
    """Stride-2 transposed convs image a low tone's energy around sr/4 and sr/2."""
    sr = 16000
    x = np.sin(2 * np.pi * 500 * np.arange(sr) / sr).astype(np.float32)
    y = GENERATORS["deconv"](x, sr, np.random.default_rng(0))
    spec = np.abs(np.fft.rfft(y)) ** 2
    freqs = np.fft.rfftfreq(y.size, 1 / sr)
    image = spec[(np.abs(freqs - (sr / 4 - 500)) < 20) | (np.abs(freqs - (sr / 4 + 500)) < 20)]
    floor = np.median(spec[(freqs > 2000) & (freqs < 3000)])
    assert image.max() > 100 * floor
