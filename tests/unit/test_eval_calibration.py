"""Temperature scaling, thresholds, the paired bootstrap and plots on synthetic arrays."""

from __future__ import annotations

import numpy as np
import pytest

from veracity.config import CalibrationConfig
from veracity.errors import CalibrationError, MetricError
from veracity.evaluation import plots
from veracity.evaluation.bootstrap import paired_bootstrap_eer
from veracity.evaluation.calibration import (
    Calibration,
    apply_calibration,
    calibrate_scores,
    choose_threshold,
    fit_temperature,
)
from veracity.evaluation.metrics import compute_ece

CAL = CalibrationConfig(threshold_mode="eer", target_fpr=0.05, ece_bins=15, max_temperature=100.0)


def _overconfident(n=2000, scale=8.0, seed=0):
    """Log-odds of a well-calibrated model, multiplied by ``scale`` (over-confident)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    z = rng.normal(np.where(y == 1, 1.0, -1.0), 1.0)  # true log-odds of N(+-1, 1) is 2z
    return scale * 2 * z, y


def test_temperature_lowers_ece_on_overconfident_logits():
    z, y = _overconfident()
    cal = calibrate_scores(z, y, CAL)
    assert cal.temperature == pytest.approx(8.0, rel=0.15)
    assert cal.after["ece"] < cal.before["ece"] / 3
    assert cal.after["nll"] < cal.before["nll"]
    ece_raw = compute_ece(y, 1 / (1 + np.exp(z)), 15)
    assert compute_ece(y, apply_calibration(z, cal), 15) == pytest.approx(cal.after["ece"])
    assert ece_raw == pytest.approx(cal.before["ece"])


def test_temperature_respects_bound():
    z, y = _overconfident(scale=1000.0)
    bounded = CalibrationConfig(
        threshold_mode="eer", target_fpr=0.05, ece_bins=15, max_temperature=10.0
    )
    assert fit_temperature(z, y, bounded) == pytest.approx(10.0, rel=1e-3)


def test_apply_calibration_formula_and_roundtrip():
    cal = Calibration(temperature=2.0, threshold=0.4, threshold_mode="eer")
    p = apply_calibration(np.array([0.0, 2.0, -2.0]), cal.to_dict())
    assert p == pytest.approx([0.5, 1 / (1 + np.e), 1 / (1 + np.exp(-1))])
    assert Calibration.from_dict(cal.to_dict()) == cal


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({}, "temperature"),
        ({"temperature": -1, "threshold": 0.5}, "positive"),
        ({"temperature": 1, "threshold": 3}, r"\[0, 1\]"),
        ([], "mapping"),
    ],
)
def test_bad_calibration_is_refused(data, match):
    with pytest.raises(CalibrationError, match=match):
        apply_calibration(np.zeros(2), data)


def test_fit_refuses_one_class_and_nan():
    with pytest.raises(CalibrationError, match="only bonafide"):
        fit_temperature(np.arange(4.0), np.ones(4), CAL)
    with pytest.raises(CalibrationError, match="NaN"):
        fit_temperature(np.array([1.0, np.nan]), np.array([0, 1]), CAL)


def test_thresholds_eer_and_target_fpr():
    z, y = _overconfident(scale=1.0)
    p = apply_calibration(z, {"temperature": 1.0, "threshold": 0.5})
    thr = choose_threshold(p, y, CAL)
    far = np.mean(p[y == 0] < thr)  # AI accepted as human
    frr = np.mean(p[y == 1] >= thr)  # human flagged as AI
    assert abs(far - frr) < 0.01
    fpr_cfg = CalibrationConfig(
        threshold_mode="target_fpr", target_fpr=0.05, ece_bins=15, max_temperature=100.0
    )
    thr = choose_threshold(p, y, fpr_cfg)
    flagged = np.mean(p[y == 1] >= thr)
    assert flagged <= 0.05 and flagged > 0.045


def test_paired_bootstrap_detects_regression_and_equality():
    rng = np.random.default_rng(3)
    y = np.r_[np.ones(300), np.zeros(300)].astype(int)
    good = rng.normal(np.where(y == 1, 2.0, -2.0), 1.0)
    bad = good + rng.normal(0, 2.5, y.size)
    res = paired_bootstrap_eer(y, bad, good, samples=200, ci=0.95, seed=1)
    assert res.diff > 0 and res.ci_low > 0 and res.ci_low <= res.diff <= res.ci_high
    same = paired_bootstrap_eer(y, good, good, samples=50, ci=0.95, seed=1)
    assert same.diff == same.ci_low == same.ci_high == 0.0
    with pytest.raises(MetricError, match="same clips"):
        paired_bootstrap_eer(y, good[:10], good, samples=10, ci=0.95, seed=1)


def test_plots_render(tmp_path):
    z, y = _overconfident(n=300, scale=1.0)
    p = apply_calibration(z, {"temperature": 1.0, "threshold": 0.5})
    figs = {
        "roc": plots.plot_roc({"m": (y, p)}),
        "det": plots.plot_det({"m": (z[y == 1], z[y == 0])}),
        "hist": plots.plot_score_histogram(y, p, 0.5, "m"),
        "cm": plots.plot_confusion(
            {"ai_as_ai": 1, "ai_as_human": 2, "human_as_ai": 3, "human_as_human": 4}, "m"
        ),
        "rel": plots.plot_reliability(y, {"m": p}, 10),
    }
    for name, fig in figs.items():
        assert fig.axes[0].get_title() and fig.axes[0].get_xlabel()
        out = plots.save_figure(fig, tmp_path / f"{name}.png", 50)
        assert out.read_bytes()[:4] == b"\x89PNG"
