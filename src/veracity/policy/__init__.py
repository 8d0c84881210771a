"""Verdict policy (seed 003 cascade + seed 002 reject option): pure functions, no I/O."""

from veracity.policy.features import feature_membership, human_feature_score
from veracity.policy.verdict import (
    AI,
    HUMAN,
    INCONCLUSIVE,
    LABELS,
    Decision,
    decide_verdict,
    needs_aasist,
    select_band,
)

__all__ = [
    "AI",
    "HUMAN",
    "INCONCLUSIVE",
    "LABELS",
    "Decision",
    "decide_verdict",
    "feature_membership",
    "human_feature_score",
    "needs_aasist",
    "select_band",
]
