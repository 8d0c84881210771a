"""Metrics: the ASVspoof EER fixture, ties, separation, bad input, t-DCF."""

from __future__ import annotations

import numpy as np
import pytest

from veracity.config import TdcfConfig
from veracity.errors import MetricError
from veracity.evaluation import metrics as m
from veracity.evaluation.tdcf import AsvErrorRates, compute_asv_error_rates, compute_tdcf


def _reference_eer(target, nontarget):
    """The published ASVspoof 2019 eval_metrics.compute_eer, verbatim in logic."""
    n = target.size + nontarget.size
    scores = np.concatenate((target, nontarget))
    labels = np.concatenate((np.ones(target.size), np.zeros(nontarget.size)))
    idx = np.argsort(scores, kind="mergesort")
    labels = labels[idx]
    tar = np.cumsum(labels)
    non = nontarget.size - (np.arange(1, n + 1) - tar)
    frr = np.concatenate(([0], tar / target.size))
    far = np.concatenate(([1], non / nontarget.size))
    thr = np.concatenate(([scores[idx[0]] - 0.001], scores[idx]))
    i = np.argmin(np.abs(frr - far))
    return np.mean((frr[i], far[i])), thr[i]


def test_eer_matches_published_fixture():
    rng = np.random.default_rng(0)
    bona = rng.normal(2, 1, 1000)
    spoof = rng.normal(-2, 1, 9000)
    eer, thr = m.compute_eer(bona, spoof)
    assert f"{eer * 100:.5f}" == "2.00556"
    assert f"{thr:.4f}" == "0.0507"
    ref_eer, ref_thr = _reference_eer(bona, spoof)
    assert eer == pytest.approx(ref_eer, abs=1e-15) and thr == ref_thr


def test_eer_perfect_separation_and_inversion():
    assert m.compute_eer(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == (0.0, 2.0)
    eer, _ = m.compute_eer(np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    assert eer == 1.0


def test_eer_ties_are_one_operating_point():
    # All scores equal: no threshold separates anything -> chance, not the reference's 1.0.
    eer, _ = m.compute_eer(np.zeros(5), np.zeros(7))
    assert eer == 0.5
    # Partial ties: one bonafide tied with one spoof at 1.0.
    eer, thr = m.compute_eer(np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, -1.0]))
    # The tie at 1.0 is one step (FRR 0 -> 1/3, FAR 1/3 -> 0), never half of it.
    assert thr == 0.0 and eer == pytest.approx(1 / 6)
    assert m.compute_eer(np.array([1.0]), np.array([1.0]))[0] == 0.5  # reference: 1.0


@pytest.mark.parametrize(
    ("bona", "spoof", "match"),
    [
        (np.array([]), np.array([1.0]), "at least one bonafide"),
        (np.array([1.0]), np.array([]), "at least one spoof"),
        (np.array([1.0, np.nan]), np.array([0.0]), "NaN"),
        (np.array([1.0]), np.array([np.inf]), "NaN/Inf"),
    ],
)
def test_eer_bad_input_is_metric_error(bona, spoof, match):
    with pytest.raises(MetricError, match=match):
        m.compute_eer(bona, spoof)


def test_single_class_is_refused():
    with pytest.raises(MetricError, match="only bonafide"):
        m.compute_roc_auc(np.ones(4), np.arange(4.0))
    with pytest.raises(MetricError, match="only spoof"):
        m.compute_classification(np.zeros(4), np.full(4, 0.9), 0.5)


def test_classification_confusion_and_probability_metrics():
    targets = np.array([1, 1, 1, 0, 0, 0])
    p = np.array([0.1, 0.2, 0.7, 0.8, 0.9, 0.4])
    cls = m.compute_classification(targets, p, 0.5)
    assert cls["accuracy"] == pytest.approx(4 / 6)
    assert cls["recall_ai"] == pytest.approx(2 / 3) and cls["precision_ai"] == pytest.approx(2 / 3)
    conf = m.compute_confusion(targets, p, 0.5)
    assert conf == {"ai_as_ai": 2, "ai_as_human": 1, "human_as_ai": 1, "human_as_human": 2}
    assert m.compute_roc_auc(targets, 1 - p) == pytest.approx(8 / 9)
    assert m.compute_brier(targets, p) == pytest.approx(np.mean((p - (1 - targets)) ** 2))
    perfect = np.array([0.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    assert m.compute_ece(targets, perfect, 10) == 0.0
    assert m.compute_nll(targets, perfect) < 1e-9


def test_fpr_at_95_tpr():
    targets = np.array([0] * 20 + [1] * 10)
    p = np.r_[np.linspace(0.5, 1.0, 20), np.linspace(0.0, 0.6, 10)]
    # 19 of 20 spoofs caught needs threshold ~0.526: bonafide above it are 0.533, 0.6
    assert m.fpr_at_tpr(targets, p, 0.95) == pytest.approx(0.2)


def test_min_tdcf_published_cost_model():
    cfg = TdcfConfig(p_spoof=0.05, asv_target_share=0.99, c_miss=1.0, c_fa=10.0)
    rng = np.random.default_rng(1)
    asv = compute_asv_error_rates(
        rng.normal(2, 1, 500), rng.normal(-2, 1, 500), rng.normal(1, 1, 500)
    )
    assert 0 < asv.pmiss < 0.05 and 0 < asv.pfa < 0.05
    perfect = compute_tdcf(np.array([2.0, 3.0]), np.array([0.0, 1.0]), asv, cfg)
    assert perfect == 0.0
    useless = compute_tdcf(np.zeros(10), np.zeros(10), asv, cfg)
    assert useless == pytest.approx(1.0)  # a CM that accepts everything: normalised cost 1
    good = compute_tdcf(rng.normal(2, 1, 300), rng.normal(-2, 1, 300), asv, cfg)
    assert 0 < good < 1
    with pytest.raises(MetricError, match="non-negative"):
        compute_tdcf(
            np.ones(2), np.zeros(2), AsvErrorRates(pfa=1.0, pmiss=1.0, pmiss_spoof=0.0), cfg
        )
