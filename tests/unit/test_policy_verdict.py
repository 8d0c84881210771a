"""Seed 003's verdict policy: every example and table row, plus properties (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veracity.errors import InputError
from veracity.modalities.base import AI, HUMAN, INCONCLUSIVE, LABELS, Decision
from veracity.modalities.voice.policy import decide, decide_verdict, needs_aasist, plan

# (s1, aasist, human_feature_score, rule_label, rule, score) — the seed's examples and
# "Expected Behavior" table, with the arithmetic recomputed where the seed mistyped it.
SEED_CASES = [
    # Example 1: 0.7*0.95 + 0.3*0.72 = 0.881
    (0.95, 0.72, None, AI, "tier1_agree", 0.881),
    # Example 2 (and table row "AI, AASIST unsure"): trust S1, score 0.92
    (0.92, 0.35, None, AI, "tier1_trust_s1", 0.92),
    # Example 3: 0.6*0.85 + 0.4*0.38 = 0.662 >= 0.65
    (0.85, 0.38, None, AI, "tier2_weighted", 0.662),
    # Example 4: 0.4*0.55 + 0.6*0.48 = 0.508, between 0.45 and 0.52 (the seed's "Actually")
    (0.55, 0.48, None, INCONCLUSIVE, "ambiguous_weighted_inconclusive", 0.508),
    # Table "Clear AI": 0.7*0.95 + 0.3*0.75 = 0.89
    (0.95, 0.75, None, AI, "tier1_agree", 0.89),
    # Table "AI, weak AASIST": 0.48 >= 0.45 is tier 2's agree band: 0.65*0.85 + 0.35*0.48 =
    # 0.7205 (the seed's "weighted 0.66" used the wrong row)
    (0.85, 0.48, None, AI, "tier2_agree", 0.7205),
    # Table "AI, moderate S1": tier 3, 0.30 <= 0.48 < 0.50
    (0.78, 0.48, None, INCONCLUSIVE, "tier3_uncertain", 0.63),
    # Table "Clear Human": AASIST not used
    (0.15, None, None, HUMAN, "s1_human", 0.15),
    # Table "Ambiguous": 0.4*0.55 + 0.6*0.51 = 0.526 >= 0.52 (the seed wrote 0.53)
    (0.55, 0.51, None, AI, "ambiguous_weighted_ai", 0.526),
]

# One case per remaining row of the tier tables and the no-AASIST table.
ROW_CASES = [
    (0.93, 0.10, None, HUMAN, "tier1_aasist_override", 0.10),
    (0.93, 0.40, None, AI, "tier1_agree", 0.7 * 0.93 + 0.3 * 0.40),
    (0.93, 0.20, None, AI, "tier1_trust_s1", 0.93),
    (0.84, 0.30, None, INCONCLUSIVE, "tier2_weighted_inconclusive", 0.6 * 0.84 + 0.4 * 0.30),
    (0.84, 0.10, 0.9, HUMAN, "tier2_features_human", 0.10),
    (0.84, 0.10, 0.2, INCONCLUSIVE, "tier2_features_inconclusive", 0.6 * 0.84 + 0.4 * 0.10),
    (0.84, 0.10, None, INCONCLUSIVE, "tier2_features_inconclusive", 0.6 * 0.84 + 0.4 * 0.10),
    (0.80, 0.60, None, AI, "tier3_agree", 0.70),
    (0.80, 0.20, None, HUMAN, "tier3_aasist_human", 0.20),
    (0.60, 0.80, None, AI, "ambiguous_aasist_ai", 0.80),
    (0.60, 0.20, None, HUMAN, "ambiguous_aasist_human", 0.20),
    (0.40, 0.40, None, HUMAN, "ambiguous_weighted_human", 0.4 * 0.40 + 0.6 * 0.40),
    (0.95, None, None, AI, "no_aasist_trust_s1", 0.95),
    (0.85, None, None, INCONCLUSIVE, "no_aasist_unverified", 0.85),
    (0.90, None, None, INCONCLUSIVE, "no_aasist_unverified", 0.90),
    (0.60, None, None, INCONCLUSIVE, "ambiguous_no_aasist", 0.60),
]


@pytest.mark.parametrize("s1,aasist,hfs,rule_label,rule,score", SEED_CASES + ROW_CASES)
def test_policy_reproduces_seed_rule(cfg, s1, aasist, hfs, rule_label, rule, score):
    d = decide_verdict(s1, aasist, hfs, cfg.modality_params("voice").policy)
    assert (d.rule_label, d.rule) == (rule_label, rule)
    assert d.score == pytest.approx(score, abs=1e-9)
    assert d.confidence == pytest.approx(max(score, 1 - score), abs=1e-9)


@pytest.mark.parametrize("s1,aasist,hfs,rule_label,rule,score", SEED_CASES + ROW_CASES)
def test_policy_reproduces_seed_rule_without_reject_option(
    cfg, s1, aasist, hfs, rule_label, rule, score
):
    """With the reject option off (min_confidence 0.5), the final label is seed 003's."""
    policy = cfg.modality_params("voice").policy.model_copy(update={"min_confidence": 0.5})
    d = decide_verdict(s1, aasist, hfs, policy)
    assert (d.label, d.reason) == (rule_label, rule)


def test_reject_option_overrides_low_confidence_ai(cfg):
    # Seed 002 on top of seed 003: the table's "Ambiguous" AI (0.526) is below 0.6 confidence.
    d = decide_verdict(0.55, 0.51, None, cfg.modality_params("voice").policy)
    assert (d.label, d.reason, d.rule_label) == (INCONCLUSIVE, "low_confidence", AI)
    # Every other seed case keeps its label under the default reject option.
    for s1, aasist, hfs, rule_label, rule, _ in SEED_CASES[:-1]:
        d = decide_verdict(s1, aasist, hfs, cfg.modality_params("voice").policy)
        assert (d.label, d.reason) == (rule_label, rule)


def test_weighted_value_reported_only_when_used(cfg):
    assert decide_verdict(0.92, 0.35, None, cfg.modality_params("voice").policy).weighted is None
    assert decide_verdict(
        0.85, 0.38, None, cfg.modality_params("voice").policy
    ).weighted == pytest.approx(0.662)


def test_needs_aasist_only_outside_human_band(cfg):
    assert not needs_aasist(0.39, cfg.modality_params("voice").policy)
    assert needs_aasist(0.40, cfg.modality_params("voice").policy)
    assert needs_aasist(0.99, cfg.modality_params("voice").policy)


def test_band_edges_follow_seed(cfg):
    # 0.40 and 0.75 are ambiguous (0.40 <= s1 <= 0.75); 0.82 is tier 3, 0.90 tier 2.
    assert decide_verdict(0.75, 0.20, None, cfg.modality_params("voice").policy).band == "ambiguous"
    assert decide_verdict(0.82, 0.20, None, cfg.modality_params("voice").policy).band == "tier3"
    assert decide_verdict(0.90, 0.20, None, cfg.modality_params("voice").policy).band == "tier2"
    assert decide_verdict(0.9001, 0.20, None, cfg.modality_params("voice").policy).band == "tier1"


@pytest.mark.parametrize("bad", [float("nan"), -0.1, 1.5, float("inf")])
def test_rejects_non_probabilities(cfg, bad):
    with pytest.raises(InputError, match="probability"):
        decide_verdict(bad, 0.5, None, cfg.modality_params("voice").policy)
    with pytest.raises(InputError, match="probability"):
        decide_verdict(0.5, bad, None, cfg.modality_params("voice").policy)


probs = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
maybe_probs = st.none() | probs


@settings(max_examples=400, deadline=None)
@given(s1=probs, a=maybe_probs, hfs=maybe_probs)
def test_property_label_and_scores_in_range(cfg, s1, a, hfs):
    d = decide_verdict(s1, a, hfs, cfg.modality_params("voice").policy)
    assert d.label in LABELS and d.rule_label in LABELS
    assert 0.0 <= d.score <= 1.0
    assert 0.5 <= d.confidence <= 1.0
    assert d.weighted is None or 0.0 <= d.weighted <= 1.0
    if d.label != INCONCLUSIVE:
        assert d.confidence >= cfg.modality_params("voice").policy.min_confidence
    # A label's score always lies on its own side of 0.5.
    if d.rule_label == AI:
        assert d.score > 0.5
    if d.rule_label == HUMAN:
        assert d.score < 0.5


@settings(max_examples=600, deadline=None)
@given(s1=probs, a=probs, delta=st.floats(min_value=0.0, max_value=1.0), hfs=maybe_probs)
def test_property_raising_aasist_never_turns_ai_into_human(cfg, s1, a, delta, hfs):
    higher = min(1.0, a + delta)
    for policy in (
        cfg.modality_params("voice").policy,
        cfg.modality_params("voice").policy.model_copy(update={"min_confidence": 0.5}),
    ):
        before = decide_verdict(s1, a, hfs, policy)
        after = decide_verdict(s1, higher, hfs, policy)
        if before.label == AI:
            assert after.label != HUMAN, (before, after)
        if before.rule_label == AI:
            assert after.rule_label == AI, (before, after)


@settings(max_examples=600, deadline=None)
@given(s1=probs, a=maybe_probs, delta=st.floats(min_value=0.0, max_value=1.0), hfs=maybe_probs)
def test_property_raising_s1_never_turns_ai_into_human(cfg, s1, a, delta, hfs):
    before = decide_verdict(s1, a, hfs, cfg.modality_params("voice").policy)
    after = decide_verdict(min(1.0, s1 + delta), a, hfs, cfg.modality_params("voice").policy)
    if before.label == AI:
        assert after.label != HUMAN, (before, after)


def test_seed_seams_that_are_not_monotone(cfg):
    """Documented seed 003 behaviour: more evidence for AI can give INCONCLUSIVE (never HUMAN).

    Raising S1 from the ambiguous band into tier 3 (stricter AASIST bar) and raising AASIST
    across the ambiguous band's 0.55 edge (the score switches from the weighted value to
    AASIST alone, and the reject option then fires) both turn an AI verdict INCONCLUSIVE.
    """
    assert (
        decide_verdict(0.75, 0.49, None, cfg.modality_params("voice").policy).rule_label == AI
    )  # weighted 0.594
    assert (
        decide_verdict(0.76, 0.49, None, cfg.modality_params("voice").policy).rule_label
        == INCONCLUSIVE
    )  # tier 3
    assert (
        decide_verdict(0.75, 0.54, None, cfg.modality_params("voice").policy).label == AI
    )  # weighted 0.624
    d = decide_verdict(0.75, 0.55, None, cfg.modality_params("voice").policy)
    assert (d.rule_label, d.label, d.reason) == (AI, INCONCLUSIVE, "low_confidence")


def test_plan_scores_stage1_first_and_aasist_only_outside_the_human_band(cfg):
    voice = cfg.modality_params("voice")
    assert plan({}, voice) == "stage1"
    assert plan({"stage1": 0.39}, voice) is None  # clear human: AASIST is never consulted
    assert plan({"stage1": 0.40}, voice) == "aasist"
    assert plan({"stage1": 0.95}, voice) == "aasist"
    assert plan({"stage1": 0.95, "aasist": 0.72}, voice) is None
    assert plan({"stage1": 0.95, "aasist": None}, voice) is None  # bundle without aasist


# decide() computes the human-feature score from the segments' descriptors: cases without one
@pytest.mark.parametrize(
    "s1,aasist,hfs,rule_label,rule,score", [c for c in SEED_CASES + ROW_CASES if c[2] is None]
)
def test_decide_of_the_contract_is_the_cascade(cfg, s1, aasist, hfs, rule_label, rule, score):
    voice = cfg.modality_params("voice")
    d = decide({"stage1": s1, "aasist": aasist}, None, voice)
    cascade = decide_verdict(s1, aasist, None, voice.policy)
    assert isinstance(d, Decision)
    assert (d.label, d.reason, d.rule_label, d.rule) == (
        cascade.label, cascade.reason, rule_label, rule,
    )  # fmt: skip
    assert d.score == pytest.approx(score, abs=1e-9)
    assert d.details["band"] == cascade.band and d.details["s1_mean"] == s1
    assert d.details["aasist"] == aasist


def test_decide_needs_a_stage1_score(cfg):
    with pytest.raises(InputError, match="stage1"):
        decide({"aasist": 0.5}, None, cfg.modality_params("voice"))
