"""Seed 003's cascade verdict policy, table-driven, plus seed 002's reject option.

Stage 1 (the fast detector) scores every clip; its clip score ``s1_mean`` picks a band:

* ``s1 < s1_human_below``                        -> HUMAN, AASIST is never consulted;
* ``s1 > s1_ai_above``: tier 1 (``> tier1_above``), tier 2 (``> tier2_above``), else tier 3;
* otherwise the ambiguous band.

Inside a band the AASIST score ``a`` falls in one of three zones (``high``: ``a >= aasist_ai``,
``low``: ``a < aasist_low``, else ``mid``) and the band's :data:`ACTIONS` row says what each zone
does. Every threshold and weight comes from ``params.yaml`` (``policy:``); this file only holds
the *shape* of seed 003's tables.

``score`` is the calibrated probability that the clip is AI, taken from the signal the rule
trusted (a weighted combination, S1 alone, or AASIST alone); ``confidence`` is
``max(score, 1 - score)``, the calibrated probability of the side the score falls on. On top of
the rule, seed 002's reject option turns any HUMAN/AI verdict whose confidence is below
``policy.min_confidence`` into INCONCLUSIVE with reason ``low_confidence``; the rule's own
label and reason stay in ``rule_label`` and ``rule``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from veracity.errors import InputError
from veracity.modalities.base import AI, HUMAN, INCONCLUSIVE, Decision
from veracity.modalities.voice.human_features import human_feature_score
from veracity.modalities.voice.params import PolicyConfig, VoiceParams

# Seed 003's tables: what each AASIST zone does in each band (thresholds come from params).
ACTIONS: dict[str, dict[str, str]] = {
    "tier1": {"high": "agree", "mid": "trust_s1", "low": "aasist_human"},
    "tier2": {"high": "agree", "mid": "weighted", "low": "check_features"},
    "tier3": {"high": "agree", "mid": "uncertain", "low": "aasist_human"},
    "ambiguous": {"high": "aasist_ai", "mid": "weighted", "low": "aasist_human"},
}
# Reason names where the generic "<band>_<action>" would read worse.
_REASON_NAMES = {("tier1", "aasist_human"): "tier1_aasist_override"}


@dataclass(frozen=True)
class CascadeDecision:
    """The verdict of seed 003's cascade for one clip (every intermediate value)."""

    label: str  # HUMAN | AI | INCONCLUSIVE (after the reject option)
    score: float  # calibrated AI probability in [0, 1]
    confidence: float  # max(score, 1 - score)
    reason: str  # the rule that decided, or "low_confidence"
    rule_label: str  # what seed 003's rule alone said
    rule: str  # the seed 003 rule, also when the reject option overrode it
    band: str  # s1_human | tier1 | tier2 | tier3 | ambiguous
    s1_mean: float
    aasist: float | None
    weighted: float | None  # the weighted combination when the rule used one
    human_feature_score: float | None

    def to_dict(self) -> dict:
        """JSON-safe mapping of every field."""
        return asdict(self)


def select_band(s1_mean: float, policy_cfg: PolicyConfig) -> str:
    """Which band of seed 003 a Stage-1 clip score falls in."""
    if s1_mean < policy_cfg.s1_human_below:
        return "s1_human"
    if s1_mean > policy_cfg.s1_ai_above:
        if s1_mean > policy_cfg.tier1_above:
            return "tier1"
        if s1_mean > policy_cfg.tier2_above:
            return "tier2"
        return "tier3"
    return "ambiguous"


def needs_aasist(s1_mean: float, policy_cfg: PolicyConfig) -> bool:
    """True when the policy consults AASIST for this Stage-1 score (not in the HUMAN band)."""
    return select_band(_check_prob("s1_mean", s1_mean), policy_cfg) != "s1_human"


def decide_verdict(
    s1_mean: float,
    aasist: float | None,
    human_feature_score: float | None,
    policy_cfg: PolicyConfig,
) -> CascadeDecision:
    """Apply seed 003's decision flow and seed 002's reject option to one clip.

    ``aasist`` is the calibrated AASIST spoof probability, or None when AASIST is unavailable;
    ``human_feature_score`` (see :func:`veracity.modalities.voice.human_features.human_feature_score`) decides tier 2's
    "check features" branch, None counting as "not strong".
    """
    s1 = _check_prob("s1_mean", s1_mean)
    a = None if aasist is None else _check_prob("aasist", aasist)
    band = select_band(s1, policy_cfg)
    if band == "s1_human":
        label, score, rule, weighted = HUMAN, s1, "s1_human", None
    elif a is None:
        label, score, rule, weighted = _decide_without_aasist(band, s1, policy_cfg)
    else:
        label, score, rule, weighted = _decide_band(band, s1, a, human_feature_score, policy_cfg)
    score = min(1.0, max(0.0, score))
    confidence = max(score, 1.0 - score)
    final_label, reason = label, rule
    if label != INCONCLUSIVE and confidence < policy_cfg.min_confidence:
        final_label, reason = INCONCLUSIVE, "low_confidence"
    return CascadeDecision(
        label=final_label,
        score=score,
        confidence=confidence,
        reason=reason,
        rule_label=label,
        rule=rule,
        band=band,
        s1_mean=s1,
        aasist=a,
        weighted=weighted,
        human_feature_score=human_feature_score,
    )


def _decide_without_aasist(band: str, s1: float, cfg: PolicyConfig):
    # Seed 003 "No AASIST Available": only a very confident S1 decides on its own.
    if band == "ambiguous":
        return INCONCLUSIVE, s1, "ambiguous_no_aasist", None
    if s1 > cfg.no_aasist_ai_above:
        return AI, s1, "no_aasist_trust_s1", None
    return INCONCLUSIVE, s1, "no_aasist_unverified", None


def _band_params(band: str, cfg: PolicyConfig) -> dict:
    """Thresholds and weights of one band, normalized to the same keys."""
    if band == "tier2":
        t = cfg.tier2
        return {
            "aasist_ai": t.aasist_ai,
            "aasist_low": t.aasist_check_below,
            "agree": (t.w_s1_agree, t.w_aasist_agree),
            "mid": (t.w_s1_weighted, t.w_aasist_weighted),
            "weighted_ai": t.weighted_ai,
            "weighted_human_below": None,
        }
    if band == "ambiguous":
        t = cfg.ambiguous
        return {
            "aasist_ai": t.aasist_ai,
            "aasist_low": t.aasist_human_below,
            "agree": (t.w_s1, t.w_aasist),
            "mid": (t.w_s1, t.w_aasist),
            "weighted_ai": t.weighted_ai,
            "weighted_human_below": t.weighted_human_below,
        }
    t = cfg.tier1 if band == "tier1" else cfg.tier3
    return {
        "aasist_ai": t.aasist_ai,
        "aasist_low": t.aasist_human_below,
        "agree": (t.w_s1, t.w_aasist),
        "mid": (t.w_s1, t.w_aasist),
        "weighted_ai": None,
        "weighted_human_below": None,
    }


def _decide_band(band: str, s1: float, a: float, hfs: float | None, cfg: PolicyConfig):
    p = _band_params(band, cfg)
    zone = "high" if a >= p["aasist_ai"] else ("low" if a < p["aasist_low"] else "mid")
    action = ACTIONS[band][zone]
    rule = _REASON_NAMES.get((band, action), f"{band}_{action}")
    agree = _combine(s1, a, p["agree"])
    mid = _combine(s1, a, p["mid"])
    if action == "agree":
        return AI, agree, rule, agree
    if action == "trust_s1":
        return AI, s1, rule, None
    if action == "aasist_ai":
        return AI, a, rule, None
    if action == "aasist_human":
        return HUMAN, a, rule, None
    if action == "uncertain":
        return INCONCLUSIVE, agree, rule, agree
    if action == "weighted":
        if mid >= p["weighted_ai"]:
            return AI, mid, f"{band}_weighted" if band == "tier2" else f"{band}_weighted_ai", mid
        human_below = p["weighted_human_below"]
        if human_below is not None and mid < human_below:
            return HUMAN, mid, f"{band}_weighted_human", mid
        return INCONCLUSIVE, mid, f"{band}_weighted_inconclusive", mid
    # check_features: AASIST disagrees with a confident S1; the hand-crafted features break the tie.
    if hfs is not None and hfs >= cfg.human_feature_score_min:
        return HUMAN, a, f"{band}_features_human", None
    return INCONCLUSIVE, mid, f"{band}_features_inconclusive", mid


def _combine(s1: float, a: float, weights: tuple[float, float]) -> float:
    return weights[0] * s1 + weights[1] * a


def _check_prob(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise InputError(
            f"{name} must be a probability in [0, 1], got {value!r}; "
            "pass calibrated spoof probabilities (apply_calibration)"
        )
    return value


STAGE1, AASIST = "stage1", "aasist"


def plan(scores: Mapping[str, float | None], params: VoiceParams) -> str | None:
    """The next role to score: stage-1 first, AASIST only when stage-1 is not sure.

    ``scores`` holds the calibrated clip spoof probabilities scored so far; None marks a
    role the bundle does not have (the no-AASIST rules then decide).
    """
    if STAGE1 not in scores:
        return STAGE1
    s1 = scores[STAGE1]
    if s1 is not None and AASIST not in scores and needs_aasist(s1, params.policy):
        return AASIST
    return None


def decide(scores: Mapping[str, float | None], segments, params: VoiceParams) -> Decision:
    """Seed 003's cascade on the clip scores (+ the "check features" score of the segments)."""
    if scores.get(STAGE1) is None:
        raise InputError(
            "the voice policy needs a stage1 score; a voice bundle without stage1 cannot serve"
        )
    hfs = None
    if segments is not None:
        hfs = human_feature_score(segments.descriptors, params.policy)
    cascade = decide_verdict(scores[STAGE1], scores.get(AASIST), hfs, params.policy)
    details = {
        "band": cascade.band,
        "s1_mean": cascade.s1_mean,
        "aasist": cascade.aasist,
        "weighted": cascade.weighted,
        "human_feature_score": cascade.human_feature_score,
    }
    return Decision(
        label=cascade.label,
        score=cascade.score,
        confidence=cascade.confidence,
        reason=cascade.reason,
        rule_label=cascade.rule_label,
        rule=cascade.rule,
        details=details,
    )
