"""The out-of-domain guard on synthetic embeddings: fit, threshold on dev, score, guard."""

from __future__ import annotations

import numpy as np
import pytest

from veracity.errors import MetricError
from veracity.evaluation.domain import (
    OUT_OF_DOMAIN,
    DomainGuard,
    fit_domain,
    guard_decision,
    load_domain,
    save_domain,
)
from veracity.modalities.base import AI, HUMAN, INCONCLUSIVE, Decision


def _embeddings(rng, n, d=32, shift=0.0, scale=1.0):
    basis = np.linspace(0.5, 2.0, d)
    return shift + scale * rng.standard_normal((n, d)) * basis


def test_in_domain_clips_pass_and_far_ones_are_flagged():
    rng = np.random.default_rng(0)
    ref = fit_domain(
        _embeddings(rng, 200), _embeddings(rng, 60), shrinkage=0.2, quantile=0.99, margin=1.5
    )
    held_out = ref.score(_embeddings(rng, 500))
    assert np.mean(held_out > ref.threshold) <= 0.02
    far = ref.score(_embeddings(rng, 50, shift=4.0))
    wide = ref.score(_embeddings(rng, 50, scale=4.0))
    assert (far > ref.threshold).all() and (wide > ref.threshold).all()


def test_fewer_clips_than_dimensions_still_gives_a_usable_reference():
    rng = np.random.default_rng(1)
    ref = fit_domain(_embeddings(rng, 20, d=128), _embeddings(rng, 10, d=128), 0.2, 0.99, 1.5)
    assert np.isfinite(ref.threshold)
    assert np.mean(ref.score(_embeddings(rng, 10, d=128, shift=5.0)) > ref.threshold) == 1.0


def _guard(rng) -> DomainGuard:
    emb = fit_domain(_embeddings(rng, 50), _embeddings(rng, 20), 0.1, 0.95, 1.0)
    desc = fit_domain(_embeddings(rng, 50, d=3), _embeddings(rng, 20, d=3), 0.1, 0.95, 1.0)
    return DomainGuard(emb, desc, ("a", "b", "c"))


def test_the_guard_round_trips_through_safetensors(tmp_path):
    rng = np.random.default_rng(2)
    guard = _guard(rng)
    info = {
        "embedding_threshold": guard.embedding.threshold,
        "descriptors_threshold": guard.descriptors.threshold,
        "columns": list(guard.columns),
    }
    back = load_domain(save_domain(tmp_path / "d.safetensors", guard), info)
    x = _embeddings(rng, 5)
    np.testing.assert_allclose(back.embedding_ratio(x), guard.embedding_ratio(x))
    rows = [{"a": 0.1, "b": None, "c": 9.0}]
    np.testing.assert_allclose(back.descriptor_ratio(rows), guard.descriptor_ratio(rows))


def test_a_missing_descriptor_counts_as_the_training_mean():
    guard = _guard(np.random.default_rng(4))
    mean = dict(zip(guard.columns, guard.descriptors.mean, strict=True))
    assert guard.descriptor_ratio([{**mean, "b": float("nan")}])[0] == pytest.approx(0.0)
    assert guard.descriptor_ratio([{**mean, "b": mean["b"] + 50}])[0] > 1.0


def test_bad_input_is_a_clear_error():
    rng = np.random.default_rng(3)
    with pytest.raises(MetricError, match="at least 2 train"):
        fit_domain(_embeddings(rng, 1), _embeddings(rng, 3), 0.1, 0.9, 1.0)
    ref = fit_domain(_embeddings(rng, 20), _embeddings(rng, 5), 0.1, 0.9, 1.0)
    with pytest.raises(MetricError, match="width 32"):
        ref.score(np.zeros((1, 8)))


@pytest.mark.parametrize("label", [HUMAN, AI])
def test_guard_turns_any_label_inconclusive_out_of_domain_and_keeps_the_rule(label):
    decision = Decision(label, 0.97, 0.97, "tier1_agree", label, "tier1_agree", {"band": "x"})
    far = guard_decision(decision, 3.0, 2.0)
    assert far.label == INCONCLUSIVE and far.reason == OUT_OF_DOMAIN
    assert far.rule_label == label and far.rule == "tier1_agree"
    assert far.details["domain_score"] == 3.0 and far.details["band"] == "x"
    near = guard_decision(decision, 1.0, 2.0)
    assert near.label == label and near.reason == "tier1_agree"
