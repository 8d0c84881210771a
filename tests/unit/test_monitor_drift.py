"""Drift report on synthetic feature rows: detects shifts, not noise; stable JSON; exit codes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from veracity.cli import main
from veracity.errors import InputError, NotEnoughDataError
from veracity.modalities.voice.descriptors import DESCRIPTOR_COLUMNS as MONITORING_COLUMNS
from veracity.monitoring.drift import (
    build_drift_report,
    drop_duplicate_requests,
    inconclusive_series,
    parse_window,
    select_window,
    verdict_mix,
)
from veracity.monitoring.sinks import LocalSink

REPORT_KEYS = {
    "schema_version",
    "generated_at",
    "model",
    "model_versions",
    "window",
    "n_rows",
    "n_reference",
    "stattest",
    "stattest_threshold",
    "drift_share_threshold",
    "drift_share",
    "dataset_drift",
    "drifted_features",
    "features",
    "score_drift",
    "verdict_mix",
    "inconclusive_rate_series",
    "out_of_domain_rate_series",
    "status",
}
NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


def _frame(n: int, seed: int, shift: dict[str, float] | None = None, with_context=True):
    """Rows with every monitoring column; ``shift`` moves named columns by that many SDs."""
    rng = np.random.default_rng(seed)
    data = {c: rng.normal(10.0, 2.0, n) for c in MONITORING_COLUMNS}
    for col, sds in (shift or {}).items():
        data[col] = data[col] + 2.0 * sds
    frame = pd.DataFrame(data)
    frame["score_stage1"] = rng.beta(2, 5, n)
    frame["score_aasist"] = rng.beta(2, 5, n)
    if with_context:
        frame["label"] = rng.choice(["HUMAN", "AI", "INCONCLUSIVE"], n, p=[0.5, 0.3, 0.2])
        minutes = rng.uniform(0, 3 * 24 * 60, n)
        frame["timestamp"] = [(NOW - timedelta(minutes=float(m))).isoformat() for m in minutes]
        frame["model_version"] = "3"
    return frame


def _window():
    return {"since": "7d", "start": (NOW - timedelta(days=7)).isoformat(), "end": NOW.isoformat()}


def test_parse_window():
    assert parse_window("7d") == timedelta(days=7)
    assert parse_window("36h") == timedelta(hours=36)
    assert parse_window("90s") == timedelta(seconds=90)
    with pytest.raises(InputError, match="7d"):
        parse_window("a week")


def test_select_window_and_verdict_mix():
    rows = pd.DataFrame(
        {
            "timestamp": [(NOW - timedelta(days=d)).isoformat() for d in (1, 2, 9)] + ["garbage"],
            "label": ["AI", "INCONCLUSIVE", "HUMAN", "HUMAN"],
        }
    )
    inside = select_window(rows, NOW - timedelta(days=7), NOW)
    assert inside["label"].tolist() == ["AI", "INCONCLUSIVE"]
    mix = verdict_mix(inside["label"])
    assert mix["counts"] == {"HUMAN": 0, "AI": 1, "INCONCLUSIVE": 1} and mix["share"]["AI"] == 0.5
    series = inconclusive_series(inside, "1D")
    assert [p["rate"] for p in series] == [1.0, 0.0] and sum(p["n"] for p in series) == 2


def test_duplicate_requests_are_counted_once():
    rows = pd.DataFrame({"request_id": ["a", "b", "a", None, None], "x": [1, 2, 3, 4, 5]})
    assert drop_duplicate_requests(rows)["x"].tolist() == [1, 2, 4, 5]


def test_shifted_window_drifts_in_the_shifted_features(cfg):
    ref = _frame(400, seed=1, with_context=False)
    shifted = ["snr_db", "spectral_flatness", "hnr_db", "spectral_rolloff_hz", "rms_db"]
    cur = _frame(200, seed=2, shift={c: 1.0 for c in shifted})
    cur["score_stage1"] = cur["score_stage1"] + 0.3
    summary, _ = build_drift_report(
        ref, cur, cfg.monitoring.drift, window=_window(), model="m@champion"
    )
    assert summary.dataset_drift is True and summary.status == "drift"
    _check_schema(json.loads(json.dumps(summary.to_dict())))
    assert set(shifted) <= set(summary.drifted_features)
    assert summary.drift_share == pytest.approx(
        len(summary.drifted_features) / len(MONITORING_COLUMNS)
    )
    assert summary.score_drift["reference"] == "reference_profile"
    assert summary.score_drift["columns"]["score_stage1"]["drifted"] is True
    assert summary.score_drift["columns"]["score_aasist"]["drifted"] is False
    assert summary.features["snr_db"]["stattest"] == "ks"
    assert summary.features["snr_db"]["score"] < cfg.monitoring.drift.stattest_threshold


def test_same_distribution_has_no_drift(cfg):
    ref = _frame(400, seed=3, with_context=False)
    cur = _frame(1500, seed=4)  # > 1000 rows: the pinned ks p-value must still apply
    summary, _ = build_drift_report(ref, cur, cfg.monitoring.drift, window=_window())
    assert summary.dataset_drift is False and summary.status == "no_drift"
    assert summary.drift_share < cfg.monitoring.drift.drift_share
    assert all(f["stattest"] == "ks" for f in summary.features.values())


def _check_schema(data: dict) -> None:
    assert set(data) == REPORT_KEYS and data["schema_version"] == 1
    assert set(data["window"]) >= {"since", "start", "end"}
    assert set(data["features"]) == set(MONITORING_COLUMNS)
    for entry in data["features"].values():
        assert set(entry) == {"stattest", "score", "threshold", "drifted"}
    assert set(data["score_drift"]) == {"reference", "columns"}
    assert set(data["verdict_mix"]) == {"n", "counts", "share"}
    assert all(set(p) == {"period", "n", "rate"} for p in data["inconclusive_rate_series"])
    assert all(set(p) == {"period", "n", "rate"} for p in data["out_of_domain_rate_series"])


def test_too_few_rows_is_not_enough_data(cfg):
    with pytest.raises(NotEnoughDataError, match="at least 30"):
        build_drift_report(_frame(100, 7), _frame(29, 8), cfg.monitoring.drift, window=_window())


def _write_log(root, frame):
    sink = LocalSink(root, "jsonl")
    sink.write(json.loads(frame.to_json(orient="records")))


@pytest.mark.parametrize(
    ("n_rows", "shift", "expected"),
    [
        (80, {}, 0),
        (
            80,
            {
                "snr_db": 1.5,
                "hnr_db": 1.5,
                "rms_db": 1.5,
                "pause_ratio": 1.5,
                "spectral_flatness": 1.5,
            },
            10,
        ),
        (10, {}, 11),
    ],
)
def test_cli_exit_status(tmp_path, repo_root, n_rows, shift, expected, capsys):
    ref_path = tmp_path / "reference_profile.parquet"
    # A reference without model scores: score drift is reported as not compared.
    ref = _frame(300, seed=9, with_context=False).drop(columns=["score_stage1", "score_aasist"])
    ref.to_parquet(ref_path)
    cur = _frame(n_rows, seed=10, shift=shift)
    now = datetime.now(UTC)  # the CLI's window ends now
    cur["timestamp"] = [(now - timedelta(hours=1 + i % 20)).isoformat() for i in range(n_rows)]
    _write_log(tmp_path / "payloads", cur)
    out = tmp_path / "report"
    code = main(
        [
            "--params",
            str(repo_root / "params.yaml"),
            "monitor",
            "drift",
            "--since",
            "2d",
            "--reference",
            str(ref_path),
            "--payloads",
            str(tmp_path / "payloads"),
            "--out",
            str(out),
            "--no-mlflow",
        ]
    )
    assert code == expected
    if expected == 11:
        assert "not enough data" in capsys.readouterr().err
        assert not (out / "drift_report.json").exists()
    else:
        report = json.loads((out / "drift_report.json").read_text())
        _check_schema(report)
        assert report["score_drift"] == {"reference": "none", "columns": {}}
        assert report["model_versions"] == ["3"]
        assert report["dataset_drift"] is (expected == 10) and report["n_rows"] == n_rows
        assert (out / "drift_report.html").stat().st_size > 1000
        assert (out / "inconclusive_rate.png").exists()


def test_retrain_on_drift_needs_a_host(tmp_path, repo_root, capsys):
    code = main(
        [
            "--params",
            str(repo_root / "params.yaml"),
            "monitor",
            "drift",
            "--reference",
            str(tmp_path),
            "--out",
            str(tmp_path / "out"),
            "--retrain-on-drift",
        ]
    )
    assert code == 2 and "--host" in capsys.readouterr().err
