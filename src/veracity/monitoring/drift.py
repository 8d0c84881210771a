"""Drift of the logged payload window against the model's reference profile (pure).

:func:`build_drift_report` runs an Evidently 0.7 report (``DataDriftPreset`` with tests, the
stat test pinned by ``monitoring.drift``) over the monitoring feature columns, adds the
model-score columns when the reference has them, and summarizes everything in a
:class:`DriftSummary` whose ``to_dict()`` is the versioned report JSON (docs/monitoring.md).
Nothing here reads or writes files; ``veracity.monitoring.job`` is the I/O edge.
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from veracity.config import DriftConfig
from veracity.errors import InputError, NotEnoughDataError
from veracity.monitoring.schema import CONTEXT_COLUMNS, VERDICT_LABELS, score_columns

log = logging.getLogger(__name__)

REPORT_SCHEMA_VERSION = 1
_WINDOW = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass
class DriftSummary:
    """The drift report in numbers; ``to_dict()`` is the report JSON (schema version 1)."""

    window: dict[str, Any]
    n_rows: int
    n_reference: int
    stattest: str
    stattest_threshold: float
    drift_share_threshold: float
    drift_share: float
    dataset_drift: bool
    drifted_features: list[str]
    features: dict[str, dict[str, Any]]
    score_drift: dict[str, Any]
    verdict_mix: dict[str, Any]
    inconclusive_rate_series: list[dict[str, Any]]
    out_of_domain_rate_series: list[dict[str, Any]] = field(default_factory=list)
    model: str | None = None
    model_versions: list[str] = field(default_factory=list)
    generated_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    schema_version: int = REPORT_SCHEMA_VERSION

    @property
    def status(self) -> str:
        return "drift" if self.dataset_drift else "no_drift"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["status"] = self.status
        return out


def parse_window(text: str) -> timedelta:
    """``"7d"``, ``"24h"``, ``"30m"``, ``"90s"``, ``"2w"`` as a timedelta."""
    match = _WINDOW.match(str(text))
    if not match:
        raise InputError(
            f"expected a window like 7d, 24h, 30m, 90s or 2w, got {text!r}; fix --since "
            "or monitoring.drift.window"
        )
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


def parse_timestamps(values: pd.Series) -> pd.Series:
    """Row timestamps as UTC datetimes (unparseable ones become NaT)."""
    return pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")


def select_window(rows: pd.DataFrame, start: datetime, end: datetime) -> pd.DataFrame:
    """The rows logged in ``[start, end)``; rows without a valid timestamp are excluded and
    counted in the log (they cannot be placed in any window)."""
    if rows.empty or "timestamp" not in rows:
        return rows.iloc[0:0]
    stamps = parse_timestamps(rows["timestamp"])
    bad = int(stamps.isna().sum())
    if bad:
        log.warning("%d payload rows have no valid timestamp and are left out of the window", bad)
    mask = (stamps >= pd.Timestamp(start)) & (stamps < pd.Timestamp(end))
    return rows.loc[mask.fillna(False)].reset_index(drop=True)


def drop_duplicate_requests(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per ``request_id`` (the first): the transformer's own logger and the
    CloudEvents receiver may both have logged the same prediction. Rows without an id stay."""
    if rows.empty or "request_id" not in rows:
        return rows
    ids = rows["request_id"]
    dup = ids.notna() & ids.duplicated(keep="first")
    if dup.any():
        log.info("dropping %d duplicate payload rows (same request_id)", int(dup.sum()))
    return rows.loc[~dup].reset_index(drop=True)


def verdict_mix(labels: pd.Series) -> dict[str, Any]:
    """Share and count of each verdict label (HUMAN, AI, INCONCLUSIVE, plus any other seen)."""
    counts = labels.fillna("MISSING").astype(str).value_counts()
    total = int(counts.sum())
    names = list(VERDICT_LABELS) + sorted(set(counts.index) - set(VERDICT_LABELS))
    return {
        "n": total,
        "counts": {name: int(counts.get(name, 0)) for name in names},
        "share": {name: (float(counts.get(name, 0)) / total if total else 0.0) for name in names},
    }


def inconclusive_series(rows: pd.DataFrame, freq: str) -> list[dict[str, Any]]:
    """INCONCLUSIVE rate per ``freq`` bucket (pandas offset alias, e.g. ``1D``, ``1h``)."""
    if rows.empty or "label" not in rows:
        return []
    return rate_series(rows, rows["label"] == "INCONCLUSIVE", freq)


def out_of_domain_series(rows: pd.DataFrame, freq: str) -> list[dict[str, Any]]:
    """Share of verdicts the out-of-domain guard answered, per ``freq`` bucket."""
    if rows.empty or "rule" not in rows:
        return []
    return rate_series(rows, rows["rule"] == "out_of_domain", freq)


def rate_series(rows: pd.DataFrame, flags: pd.Series, freq: str) -> list[dict[str, Any]]:
    """Rate of ``flags`` among the rows of each ``freq`` bucket of their timestamps."""
    if rows.empty or "timestamp" not in rows:
        return []
    frame = pd.DataFrame(
        {"t": parse_timestamps(rows["timestamp"]), "inc": flags.astype(bool)}
    ).dropna(subset=["t"])
    grouped = frame.set_index("t")["inc"].resample(freq)
    out = []
    for period, group in grouped:
        if len(group):
            out.append(
                {"period": period.isoformat(), "n": int(len(group)), "rate": float(group.mean())}
            )
    return out


def _numeric(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return frame[columns].apply(pd.to_numeric, errors="coerce").astype(float)


def comparable_columns(reference: pd.DataFrame, current: pd.DataFrame, candidates) -> list[str]:
    """Candidate columns present with at least one value in both frames."""
    out = []
    for col in candidates:
        if col in reference and col in current:
            if (
                _numeric(reference, [col])[col].notna().any()
                and _numeric(current, [col])[col].notna().any()
            ):
                out.append(col)
    return out


def _status(test: dict) -> str:
    status = test.get("status")
    return str(getattr(status, "value", status)).upper()


def run_evidently(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: list[str],
    scores: list[str],
    drift_cfg: DriftConfig,
):
    """The Evidently snapshot plus per-column results ``{col: (score, drifted)}`` and the
    dataset-drift test outcome."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    columns = features + scores
    definition = DataDefinition(numerical_columns=columns)
    metrics: list = [
        DataDriftPreset(
            columns=features,
            method=drift_cfg.stattest,  # pinned: the default changes with the row count
            threshold=drift_cfg.stattest_threshold,
            drift_share=drift_cfg.drift_share,
        )
    ]
    metrics += [
        ValueDrift(column=c, method=drift_cfg.stattest, threshold=drift_cfg.stattest_threshold)
        for c in scores
    ]
    report = Report(metrics, include_tests=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant columns in correlation widgets
        snapshot = report.run(
            current_data=Dataset.from_pandas(
                _numeric(current, columns), data_definition=definition
            ),
            reference_data=Dataset.from_pandas(
                _numeric(reference, columns), data_definition=definition
            ),
        )
    data = snapshot.dict()
    by_id = {m["id"]: m for m in data["metrics"]}
    results: dict[str, tuple[float, bool]] = {}
    dataset_test = None
    for test in data["tests"]:
        metric = by_id.get(test["metric_config"]["metric_id"], {})
        cfg = metric.get("config", {})
        if cfg.get("type", "").endswith("ValueDrift"):
            results[cfg["column"]] = (float(metric["value"]), _status(test) == "FAIL")
        elif cfg.get("type", "").endswith("DriftedColumnsCount"):
            dataset_test = _status(test) == "FAIL"
    return snapshot, results, dataset_test


def build_drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    drift_cfg: DriftConfig,
    *,
    window: dict[str, Any],
    model: str | None = None,
):
    """Compare the logged rows of one window with the reference profile.

    Returns ``(DriftSummary, evidently_snapshot)``. Raises :class:`NotEnoughDataError` when
    the window holds fewer than ``drift_cfg.min_rows`` rows, and :class:`InputError` when the
    two frames share no monitoring column.
    """
    if len(current) < drift_cfg.min_rows:
        raise NotEnoughDataError(
            f"expected at least {drift_cfg.min_rows} logged predictions in the window "
            f"{window.get('start')} .. {window.get('end')}, found {len(current)}; widen --since, "
            "check that the transformer/receiver writes to this payload log, or lower "
            "monitoring.drift.min_rows"
        )
    # The reference profile holds the modality's descriptor columns (written by the features
    # step from the same list the transformer logs); scores and context are not features.
    scored = score_columns(reference.columns)
    descriptor_cols = [c for c in reference.columns if c not in scored and c not in CONTEXT_COLUMNS]
    features = comparable_columns(reference, current, descriptor_cols)
    if not features:
        raise InputError(
            f"the reference ({list(reference.columns)[:8]}...) and the payload log share no "
            f"descriptor column of {descriptor_cols}; check --reference and --payloads"
        )
    scores = comparable_columns(reference, current, scored)
    snapshot, results, dataset_test = run_evidently(reference, current, features, scores, drift_cfg)
    per_feature = {
        col: {
            "stattest": drift_cfg.stattest,
            "score": results[col][0],
            "threshold": drift_cfg.stattest_threshold,
            "drifted": results[col][1],
        }
        for col in features
    }
    drifted = [c for c in features if per_feature[c]["drifted"]]
    share = len(drifted) / len(features)
    dataset_drift = share >= drift_cfg.drift_share
    if dataset_test is not None and dataset_test != dataset_drift:
        log.warning(
            "evidently's dataset-drift test disagrees with share %.3f; using the share", share
        )
    score_drift = {
        "reference": "reference_profile" if scores else "none",
        "columns": {
            col: {
                "stattest": drift_cfg.stattest,
                "score": results[col][0],
                "threshold": drift_cfg.stattest_threshold,
                "drifted": results[col][1],
            }
            for col in scores
        },
    }
    versions = (
        current["model_version"].dropna().astype(str).unique().tolist()
        if "model_version" in current
        else []
    )
    summary = DriftSummary(
        window=window,
        n_rows=int(len(current)),
        n_reference=int(len(reference)),
        stattest=drift_cfg.stattest,
        stattest_threshold=drift_cfg.stattest_threshold,
        drift_share_threshold=drift_cfg.drift_share,
        drift_share=share,
        dataset_drift=dataset_drift,
        drifted_features=drifted,
        features=per_feature,
        score_drift=score_drift,
        verdict_mix=verdict_mix(current["label"])
        if "label" in current
        else verdict_mix(pd.Series([], dtype=str)),
        inconclusive_rate_series=inconclusive_series(current, drift_cfg.series_freq),
        out_of_domain_rate_series=out_of_domain_series(current, drift_cfg.series_freq),
        model=model,
        model_versions=sorted(versions),
    )
    return summary, snapshot
