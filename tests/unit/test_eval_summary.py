"""Per-model summary, clip aggregation, reports and model cards on synthetic score tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from veracity.errors import DataError, MetricError
from veracity.evaluation.calibration import Calibration, apply_calibration
from veracity.evaluation.model_card import render_model_card, set_approval_section
from veracity.evaluation.report import render_evaluation_html, render_gate_markdown
from veracity.evaluation.scoring import aggregate_clips, window_logodds
from veracity.evaluation.summary import comparison_table, summarize_scores
from veracity.evaluation.tdcf import parse_asv_scores

CAL = Calibration(temperature=2.0, threshold=0.5, threshold_mode="eer")


def _scores(seed=0, n=60):
    rng = np.random.default_rng(seed)
    target = np.r_[np.ones(n // 2), np.zeros(n // 2)].astype(int)
    attack = np.where(target == 1, "-", np.where(np.arange(n) % 2 == 0, "A01", "A04"))
    z = rng.normal(np.where(target == 1, 1.5, -1.5), 1.0) + np.where(attack == "A04", 1.0, 0)
    df = pd.DataFrame(
        {
            "utt_id": [f"u{i}" for i in range(n)],
            "attack": attack,
            "duration_s": rng.uniform(0.5, 6.0, n),
            "target": target,
            "logodds": z,
        }
    )
    df["p_spoof"] = apply_calibration(z, CAL)
    return df


def test_summary_per_attack_unseen_and_duration(cfg):
    df = _scores()
    met = summarize_scores(df, CAL, {"A01"}, cfg.evaluation, cfg.calibration.ece_bins)
    assert set(met["attack_eer"]) == {"A01", "A04"}
    assert met["unseen_attacks"] == ["A04"] and met["unseen_attack_eer"] == met["attack_eer"]["A04"]
    assert met["attack_eer"]["A04"] > met["attack_eer"]["A01"]  # A04 was made harder
    assert met["max_attack_eer"] == met["attack_eer"]["A04"]
    assert set(met["duration_eer"]) == {"0-2s", "2-4s", "4-8s", "8-1000s"}
    assert met["duration_eer"]["8-1000s"] is None  # no clip that long: no EER, not an error
    seen = summarize_scores(df, CAL, {"A01", "A04"}, cfg.evaluation, cfg.calibration.ece_bins)
    assert seen["unseen_attack_eer"] is None and seen["notes"]
    table = comparison_table({"a": met, "b": {**met, "accuracy": 1.0}}, extra=("eer",))
    assert list(table["Model"]) == ["b", "a"]
    assert list(table.columns)[-1] == "EER" and table["EER"].tolist() == [met["eer"]] * 2


def test_summary_bad_input(cfg):
    df = _scores()
    with pytest.raises(MetricError, match="only bonafide"):
        summarize_scores(df[df["target"] == 1], CAL, set(), cfg.evaluation, 15)
    with pytest.raises(MetricError, match="empty"):
        summarize_scores(df.iloc[:0], CAL, set(), cfg.evaluation, 15)
    nan = df.copy()
    nan.loc[3, "logodds"] = np.nan
    with pytest.raises(MetricError, match="NaN"):
        summarize_scores(nan, CAL, set(), cfg.evaluation, 15)


def test_clip_aggregation():
    z = window_logodds(np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 3.0]]))
    assert list(z) == [1.0, -1.0, 3.0]
    assert list(aggregate_clips(z, np.array([0, 0, 1]), 2)) == [0.0, 3.0]
    with pytest.raises(DataError, match="at least one window"):
        aggregate_clips(z, np.array([0, 0, 0]), 2)
    with pytest.raises(MetricError, match=r"\[N, 2\]"):
        window_logodds(np.zeros((3, 3)))


def test_reports_and_cards(cfg):
    met = summarize_scores(_scores(), CAL, {"A01"}, cfg.evaluation, 15)
    page = render_evaluation_html("t", {"features": "/x"}, {"m": met}, {"ROC": b"png"}, ["n1"])
    assert "base64,cG5n" in page and "A04" in page and "n1" in page
    gate = {
        "verdict": "fail",
        "checks": [
            {"model": "stage1", "check": "eer", "value": 0.5, "bound": 0.3, "verdict": "fail"}
        ],
    }
    assert "| stage1 | eer | 0.5000 | 0.3000 | fail |" in render_gate_markdown(gate)
    card = render_model_card(
        "m", {"architecture": "stage1", "dataset_version": "abc"}, CAL.to_dict(), met, gate=gate
    )
    assert "EER attack A04" in card and "`abc`" in card and "background noise" in card
    approved = set_approval_section(card, {"state": "approved", "reviewer": "alice"})
    assert approved.count("## Approval") == 1 and "- reviewer: alice" in approved
    assert "pending" not in approved


def test_parse_asv_scores():
    tar, non, spoof = parse_asv_scores(
        [
            "LA_0039 bonafide target 3.9",
            "LA_0039 bonafide nontarget -2",
            "",
            "LA_0040 A01 spoof 0.5",
        ]
    )
    assert list(tar) == [3.9] and list(non) == [-2.0] and list(spoof) == [0.5]
    with pytest.raises(MetricError, match="line 1"):
        parse_asv_scores(["LA_0039 bonafide target high"])
