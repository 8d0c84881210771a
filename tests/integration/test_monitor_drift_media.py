"""Drift report on features computed by veracity.media from demo-corpus clips.

The reference and the "same distribution" window are disjoint random halves of one pool of
clips; the shifted window is the held-out half after noise and low-bitrate-codec
degradation. The test fails if the report misses the shift or raises a false alarm.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from veracity.data.demo.corpus import plan_corpus, render_clip
from veracity.media import MONITORING_COLUMNS, prepare_clip
from veracity.monitoring.drift import build_drift_report
from veracity.monitoring.shifts import apply_shift

pytestmark = pytest.mark.integration

N_REFERENCE = 90
N_WINDOW = 60
WINDOW = {"since": "test", "start": "-", "end": "-"}


def _feature_row(wave: np.ndarray, sr: int, features_cfg) -> dict:
    clip = prepare_clip(wave, sr, features_cfg)
    return {**clip.handcrafted, "duration_s": clip.duration_s, "sample_rate": sr,
            "speech_ratio": clip.speech_ratio}


@pytest.fixture(scope="module")
def feature_frames(cfg):
    sr = cfg.data.sample_rate
    rng = np.random.default_rng(2024)
    plans = plan_corpus("small", cfg.seed, cfg.data.demo)
    picked = rng.choice(len(plans), N_REFERENCE + N_WINDOW, replace=False)
    reference, same, shifted = [], [], []
    for i, idx in enumerate(picked):
        wave = render_clip(plans[idx], cfg.data.demo, sr)
        if i < N_REFERENCE:
            reference.append(_feature_row(wave, sr, cfg.features))
            continue
        same.append(_feature_row(wave, sr, cfg.features))
        shift = "noise" if i % 2 else "codec"
        moved, moved_sr = apply_shift(shift, wave, sr, cfg.monitoring.shifts, rng)
        shifted.append(_feature_row(moved, moved_sr, cfg.features))
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
