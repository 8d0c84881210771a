"""One detector decides; seed 002's reject option on top."""

from __future__ import annotations

from veracity.modalities.base import AI, HUMAN, reject_low_confidence


def plan(scores, params):
    return None if "tone" in scores else "tone"


def decide(scores, segments, params):
    p = scores["tone"]
    label = AI if p > params.policy.ai_above else HUMAN
    return reject_low_confidence(label, p, f"tone_{label.lower()}", params.policy.min_confidence)
