"""Song-level music verdicts, incl. the reject option."""

from __future__ import annotations

import numpy as np
import pytest
from music_params import music_params

from veracity.modalities.base import AI, HUMAN, INCONCLUSIVE, Segments
from veracity.modalities.music.policy import decide, plan

P = music_params()


def segments_with(scores: list[float], role: str = "hybrid") -> Segments:
    n = len(scores)
    return Segments(
        inputs={"waveform": np.zeros((n, 4), np.float32)},
        starts_s=np.arange(n, dtype=float),
        ends_s=np.arange(n, dtype=float) + 1,
        descriptors={},
        duration_s=float(n),
        info={"segment_scores": {role: scores}},
    )


def test_plan_asks_for_the_hybrid_then_decides():
    assert plan({}, P) == "hybrid"
    assert plan({"hybrid": 0.9}, P) is None
    assert plan({"cnn": 0.9}, P) == "hybrid"  # the hybrid decides whenever the bundle has it
    assert plan({"hybrid": None}, P) == "autoencoder"  # absent: the first fallback
    assert plan({"hybrid": None, "autoencoder": None, "cnn": None}, P) is None


@pytest.mark.parametrize(
    ("score", "label", "reason"),
    [(0.95, AI, "hybrid_mean"), (0.05, HUMAN, "hybrid_mean"), (0.55, INCONCLUSIVE, "low_confidence"),
     (0.42, INCONCLUSIVE, "low_confidence")],
)  # fmt: skip
def test_hybrid_decides_with_reject_option(score, label, reason):
    d = decide({"hybrid": score, "cnn": 0.1}, None, P)
    assert (d.label, d.reason) == (label, reason)
    assert d.score == pytest.approx(score) and d.confidence == pytest.approx(max(score, 1 - score))
    assert d.details["deciding_role"] == "hybrid" and d.details["scores"]["cnn"] == 0.1
    assert d.rule_label in (AI, HUMAN)


def test_fallback_role_when_hybrid_missing():
    d = decide({"autoencoder": 0.9, "cnn": 0.1}, None, P)
    assert d.label == AI and d.rule == "fallback_autoencoder_mean"
    assert decide({}, None, P).label == INCONCLUSIVE
    assert decide({}, None, P).rule == "no_scores"


def test_ai_share_overrides_a_human_mean():
    segs = segments_with([0.1, 0.1, 0.95, 0.9])
    d = decide({"hybrid": 0.3}, segs, P)
    assert d.label == AI and d.rule == "hybrid_ai_share"
    assert d.details["ai_share"] == pytest.approx(0.5) and d.score == pytest.approx(0.925)
    d = decide({"hybrid": 0.1}, segments_with([0.1, 0.1, 0.1, 0.9]), P)
    assert d.label == HUMAN and d.details["ai_share"] == pytest.approx(0.25)
    assert d.to_dict()["ai_share"] == pytest.approx(0.25)


def test_absent_hybrid_falls_back_in_the_served_loop():
    """The transformer passes a role the bundle lacks as None; the policy asks the next."""
    from veracity.evaluation.verdicts import run_policy
    from veracity.modalities.music import MODALITY

    d, asked = run_policy(MODALITY, P, {"autoencoder": 0.92, "cnn": 0.1}, None)
    assert asked == ["hybrid", "autoencoder"]
    assert d.label == AI and d.rule == "fallback_autoencoder_mean"
    assert d.details["scores"] == {"hybrid": None, "autoencoder": 0.92}


def test_each_role_is_decided_at_its_calibrated_threshold():
    """Temperature scaling keeps a detector's bias: with its calibrated threshold at 0.8, a
    song at p_ai 0.7 is HUMAN-leaning and one at 0.95 is AI; the score is re-centred."""
    from veracity.modalities.music.policy import centred, fit_policy

    fitted = fit_policy(P, None, {"hybrid": 0.8, "cnn": 1.5})  # out-of-range thresholds dropped
    assert fitted.policy.role_thresholds == {"hybrid": 0.8}
    assert centred(0.8, 0.8) == pytest.approx(0.5) and centred(0.0, 0.8) == 0.0
    assert centred(1.0, 0.8) == pytest.approx(1.0) and centred(0.4, 0.8) == pytest.approx(0.25)
    assert decide({"hybrid": 0.95}, None, fitted).label == AI
    low = decide({"hybrid": 0.2}, None, fitted)
    assert low.label == HUMAN and low.score == pytest.approx(0.125)
    assert decide({"hybrid": 0.7}, None, fitted).label == INCONCLUSIVE  # centred 0.4375
    assert decide({"hybrid": 0.7}, None, P).label == AI  # at 0.5 the bias would call it AI
    assert decide({"hybrid": 0.9}, None, P).label == AI
