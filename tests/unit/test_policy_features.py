"""The hand-crafted human-likeness score behind tier 2's "check features"."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veracity.modalities.voice.human_features import feature_membership, human_feature_score

NATURAL = {
    "pitch_std_hz": 30.0,
    "jitter": 0.01,
    "shimmer": 0.05,
    "hnr_db": 12.0,
    "pause_ratio": 0.2,
}
SYNTHETIC = {
    "pitch_std_hz": 1.0,
    "jitter": 0.0,
    "shimmer": 0.001,
    "hnr_db": 40.0,
    "pause_ratio": 0.0,
}


def test_natural_speech_scores_high_and_flat_synthetic_low(cfg):
    assert human_feature_score(NATURAL, cfg.modality_params("voice").policy) == 1.0
    assert (
        human_feature_score(SYNTHETIC, cfg.modality_params("voice").policy)
        < cfg.modality_params("voice").policy.human_feature_score_min
    )


def test_membership_falls_linearly_outside_band():
    assert feature_membership(5.0, 0.0, 10.0, 0.5) == 1.0
    assert feature_membership(12.5, 0.0, 10.0, 0.5) == pytest.approx(0.5)
    assert feature_membership(-5.0, 0.0, 10.0, 0.5) == 0.0


def test_missing_and_nan_features_are_skipped(cfg):
    assert human_feature_score({}, cfg.modality_params("voice").policy) is None
    assert (
        human_feature_score({"jitter": math.nan, "other": 1.0}, cfg.modality_params("voice").policy)
        is None
    )
    partial = {"pitch_std_hz": 30.0, "jitter": math.nan, "hnr_db": 40.0}
    # pitch in range (1.0), hnr far out of range (0.0): mean of the two usable features
    assert human_feature_score(partial, cfg.modality_params("voice").policy) == pytest.approx(0.5)


@given(st.dictionaries(st.sampled_from(sorted(NATURAL)), st.floats(allow_nan=True)))
def test_score_is_in_unit_interval(cfg, features):
    score = human_feature_score(features, cfg.modality_params("voice").policy)
    assert score is None or 0.0 <= score <= 1.0
