"""Drift report on features computed by veracity.media from demo-corpus clips.

The reference and the "same distribution" window are disjoint random halves of one pool of
clips; the shifted window is the held-out half after noise and low-bitrate-codec
degradation. The test fails if the report misses the shift or raises a false alarm.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from veracity.media import MONITORING_COLUMNS, prepare_clip
from veracity.media.shifts import add_noise, codec_roundtrip
from veracity.modalities.voice.demo.corpus import plan_corpus, render_clip
from veracity.monitoring.drift import build_drift_report

pytestmark = pytest.mark.integration

N_REFERENCE = 90
N_WINDOW = 60
WINDOW = {"since": "test", "start": "-", "end": "-"}


def _feature_row(wave: np.ndarray, sr: int, features_cfg) -> dict:
    clip = prepare_clip(wave, sr, features_cfg)
    return {
        **clip.handcrafted,
        "duration_s": clip.duration_s,
        "sample_rate": sr,
        "speech_ratio": clip.speech_ratio,
    }


def _codec_batch(waves: list[np.ndarray], sr: int, shifts_cfg) -> list[np.ndarray]:
    """The codec shift for many clips with one ffmpeg round trip (process start-up dominates
    per-clip calls): clips joined with 0.25 s gaps, degraded, cut back at the same offsets."""
    gap = np.zeros(sr // 4, dtype=np.float32)
    joined = np.concatenate([np.concatenate([w, gap]) for w in waves])
    moved = codec_roundtrip(
        joined, sr, shifts_cfg.codec, shifts_cfg.codec_format, shifts_cfg.codec_bitrate
    )
    out, pos = [], 0
    for w in waves:
        out.append(moved[pos : pos + len(w)])
        pos += len(w) + len(gap)
    return out


@pytest.fixture(scope="module")
def feature_frames(cfg):
    sr = cfg.modality_params("voice").segments.sample_rate
    rng = np.random.default_rng(2024)
    # Bona fide clips only: rendering the spoofing attacks is slow and adds nothing here.
    plans = [
        p
        for p in plan_corpus("small", cfg.seed, cfg.modality_params("voice").demo)
        if p.label == "bonafide"
    ]
    picked = rng.choice(len(plans), N_REFERENCE + N_WINDOW, replace=False)
    waves = [render_clip(plans[i], cfg.modality_params("voice").demo, sr) for i in picked]
    reference = [
        _feature_row(w, sr, cfg.modality_params("voice").segments) for w in waves[:N_REFERENCE]
    ]
    held_out = waves[N_REFERENCE:]
    same = [_feature_row(w, sr, cfg.modality_params("voice").segments) for w in held_out]
    noisy = [add_noise(w, cfg.monitoring.shifts.noise_snr_db, rng) for w in held_out[0::2]]
    coded = _codec_batch(held_out[1::2], sr, cfg.monitoring.shifts)
    shifted = [_feature_row(w, sr, cfg.modality_params("voice").segments) for w in noisy + coded]
    return pd.DataFrame(reference), pd.DataFrame(same), pd.DataFrame(shifted)


def test_window_from_the_reference_distribution_has_no_drift(cfg, feature_frames):
    reference, same, _ = feature_frames
    assert set(MONITORING_COLUMNS) <= set(reference.columns)
    summary, _ = build_drift_report(reference, same, cfg.monitoring.drift, window=WINDOW)
    assert summary.dataset_drift is False, summary.drifted_features
    assert summary.drift_share < cfg.monitoring.drift.drift_share


def test_noise_and_codec_shift_is_detected_in_the_expected_features(cfg, feature_frames):
    reference, _, shifted = feature_frames
    summary, _ = build_drift_report(reference, shifted, cfg.monitoring.drift, window=WINDOW)
    assert summary.dataset_drift is True
    # Added noise lowers the estimated SNR and HNR and raises spectral flatness; both
    # degradations change the spectral shape.
    assert {"snr_db", "hnr_db", "spectral_flatness"} <= set(summary.drifted_features)
    assert summary.features["snr_db"]["score"] < 1e-6
    # Duration and sample rate are untouched by these shifts and must not be flagged.
    assert "duration_s" not in summary.drifted_features
    assert "sample_rate" not in summary.drifted_features
