"""Hand-crafted features on synthetic signals whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_features import SR, harmonic

from veracity.modalities.voice.descriptors import (
    DESCRIPTOR_COLUMNS,
    HANDCRAFTED_NAMES,
    extract_handcrafted,
)


def noise(seconds: float, level: float = 0.1, seed: int = 0) -> np.ndarray:
    return (level * np.random.default_rng(seed).standard_normal(round(seconds * SR))).astype(
        np.float32
    )


def with_gaps(wave: np.ndarray, gaps_s: list[tuple[float, float]]) -> np.ndarray:
    out = wave.copy()
    for a, b in gaps_s:
        out[round(a * SR) : round(b * SR)] = 0.0
    return out


@pytest.mark.parametrize("f0", [110.0, 200.0, 310.0])
def test_harmonic_signal_pitch_is_recovered(cfg, f0):
    feats = extract_handcrafted(harmonic(f0, 2.0), SR, cfg.modality_params("voice").segments)
    assert feats["pitch_mean_hz"] == pytest.approx(f0, rel=0.02)
    assert feats["voiced_ratio"] > 0.9
    assert feats["pitch_std_hz"] < 0.02 * f0
    assert feats["hnr_db"] > 20


def test_missing_fundamental_does_not_halve_or_double_pitch(cfg):
    # Harmonics 2..5 only: the period (and the perceived pitch) is still 1/f0.
    t = np.arange(2 * SR) / SR
    wave = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(2, 6)).astype(np.float32)
    feats = extract_handcrafted(0.3 * wave, SR, cfg.modality_params("voice").segments)
    assert feats["pitch_mean_hz"] == pytest.approx(150, rel=0.02)


def test_white_noise_is_flat_and_unvoiced_while_a_tone_is_not(cfg):
    n = extract_handcrafted(noise(2.0), SR, cfg.modality_params("voice").segments)
    h = extract_handcrafted(harmonic(200, 2.0), SR, cfg.modality_params("voice").segments)
    assert n["spectral_flatness"] > 0.4
    assert h["spectral_flatness"] < 0.05
    assert n["voiced_ratio"] < 0.1
    assert n["hnr_db"] < h["hnr_db"]
    # White noise spreads power to Nyquist; the tone's harmonics stop at 1 kHz.
    assert n["spectral_centroid_hz"] > 3000 > h["spectral_centroid_hz"]
    assert n["spectral_rolloff_hz"] > h["spectral_rolloff_hz"]


def test_pause_ratio_matches_the_silent_gaps(cfg):
    wave = with_gaps(harmonic(180, 4.0), [(1.0, 2.0), (3.0, 3.5)])
    feats = extract_handcrafted(wave, SR, cfg.modality_params("voice").segments)
    assert feats["pause_ratio"] == pytest.approx(1.5 / 4.0, abs=0.03)
    assert feats["voiced_ratio"] == pytest.approx(2.5 / 4.0, abs=0.05)


def test_snr_orders_clean_above_noisy(cfg):
    speech = with_gaps(harmonic(150, 3.0), [(1.0, 1.5), (2.2, 2.6)])
    snrs = [
        extract_handcrafted(
            speech + noise(3.0, level, seed=1), SR, cfg.modality_params("voice").segments
        )["snr_db"]
        for level in (0.001, 0.01, 0.05)
    ]
    assert snrs[0] > snrs[1] > snrs[2]


def test_jitter_and_shimmer_grow_with_perturbation(cfg):
    t = np.arange(3 * SR) / SR
    steady = harmonic(150, 3.0)
    # Pitch wobbling by +-8 % and amplitude by +-40 % a few times a second.
    phase = 2 * np.pi * np.cumsum(150 * (1 + 0.08 * np.sin(2 * np.pi * 7 * t))) / SR
    wobbly = (0.3 * np.sin(phase) * (1 + 0.4 * np.sin(2 * np.pi * 11 * t))).astype(np.float32)
    a = extract_handcrafted(steady, SR, cfg.modality_params("voice").segments)
    b = extract_handcrafted(wobbly, SR, cfg.modality_params("voice").segments)
    assert b["jitter"] > a["jitter"] + 0.005
    assert b["shimmer"] > a["shimmer"] + 0.01
    assert b["pitch_std_hz"] > 5


def test_level_in_dbfs(cfg):
    sine = (0.5 * np.sin(2 * np.pi * 440 * np.arange(SR) / SR)).astype(np.float32)
    feats = extract_handcrafted(sine, SR, cfg.modality_params("voice").segments)
    assert feats["rms_db"] == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.1)


@pytest.mark.parametrize("wave", [np.zeros(SR, np.float32), np.zeros(10, np.float32)])
def test_silence_and_tiny_inputs_give_finite_features(cfg, wave):
    feats = extract_handcrafted(wave, SR, cfg.modality_params("voice").segments)
    assert tuple(feats) == HANDCRAFTED_NAMES
    assert all(np.isfinite(v) for v in feats.values())
    assert feats["voiced_ratio"] == 0.0 and feats["pause_ratio"] == 1.0


def test_descriptor_columns_extend_the_handcrafted_names():
    assert DESCRIPTOR_COLUMNS[: len(HANDCRAFTED_NAMES)] == HANDCRAFTED_NAMES
    assert set(DESCRIPTOR_COLUMNS) - set(HANDCRAFTED_NAMES) == {
        "duration_s",
        "sample_rate",
        "speech_ratio",
    }
