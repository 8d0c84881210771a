"""The payload row: what the monitoring log holds for one prediction (schema version 1).

A row is a flat mapping of JSON scalars. Its feature columns are the media module's
``MONITORING_COLUMNS`` (hand-crafted features, duration, sample rate, speech ratio), the same
columns the features step writes into ``reference_profile.parquet``, so the drift report
compares like with like. The serving side adds the context columns below. Raw audio is never
part of a row unless ``monitoring.log_raw_audio`` is set.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from veracity.modalities.voice.descriptors import MONITORING_COLUMNS

PAYLOAD_SCHEMA_VERSION = 1
SCORE_COLUMNS = ("s1_score", "aasist_score")
CONTEXT_COLUMNS = ("codec", *SCORE_COLUMNS, "label", "rule", "model_version", "timestamp")
PAYLOAD_COLUMNS = (*MONITORING_COLUMNS, *CONTEXT_COLUMNS)
VERDICT_LABELS = ("HUMAN", "AI", "INCONCLUSIVE")
RAW_AUDIO_KEY = "raw_audio_b64"
SCHEMA_KEY = "payload_schema"


def utc_now_iso() -> str:
    """The current time as an ISO 8601 UTC string (the ``timestamp`` format of a row)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _to_scalar(value: Any) -> Any:
    """A JSON scalar for ``value``: numpy scalars become Python ones, NaN/Inf become None
    (JSON has no NaN), containers become JSON text so every sink stores a flat table."""
    if value is None or isinstance(value, bool | str):
        return value
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()  # numpy / torch scalar
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, default=str, sort_keys=True)
    return str(value)


def normalize_row(row: Mapping[str, Any], log_raw_audio: bool, now: str | None = None) -> dict:
    """A sink-ready copy of ``row``: flat JSON scalars, a ``timestamp`` (added when absent)
    and the schema version. Raw audio is removed unless ``log_raw_audio`` is true.

    Raises ``TypeError`` when ``row`` is not a mapping with string keys.
    """
    if not isinstance(row, Mapping):
        raise TypeError(f"expected a payload row as a mapping, got {type(row).__name__}")
    out: dict[str, Any] = {}
    for key, value in row.items():
        if not isinstance(key, str):
            raise TypeError(f"expected string column names in a payload row, got {key!r}")
        if key == RAW_AUDIO_KEY and not log_raw_audio:
            continue  # privacy default: uploads are not retained
        out[key] = _to_scalar(value)
    if not out.get("timestamp"):
        out["timestamp"] = now or utc_now_iso()
    out[SCHEMA_KEY] = PAYLOAD_SCHEMA_VERSION
    return out


def _first(mapping: Mapping, *keys: str) -> Any:
    for key in keys:
        if isinstance(mapping, Mapping) and mapping.get(key) is not None:
            return mapping[key]
    return None


def row_from_verdict(verdict: Mapping[str, Any], meta: Mapping[str, Any] | None = None) -> dict:
    """The payload row carried by one transformer verdict (as the KServe logger forwards it).

    The transformer puts the exact row it logs under ``verdict["monitoring"]``; that is used
    as is. Older verdicts without it are mapped field by field (label, reason, stage scores,
    hand-crafted summary, model version). ``meta`` (request id, service, request content
    type) is added under its own keys.
    """
    if not isinstance(verdict, Mapping):
        raise TypeError(f"expected a verdict object, got {type(verdict).__name__}")
    monitoring = verdict.get("monitoring")
    if isinstance(monitoring, Mapping):
        row = dict(monitoring)
    else:
        row = {}
        features = _first(verdict, "features", "handcrafted") or {}
        if isinstance(features, Mapping):
            row.update({k: v for k, v in features.items() if k in MONITORING_COLUMNS})
        for key in MONITORING_COLUMNS:
            if key in verdict:
                row[key] = verdict[key]
        stages = _first(verdict, "stage_scores", "scores", "stages") or {}
        row["s1_score"] = _first(stages, "s1_score", "stage1", "s1")
        row["aasist_score"] = _first(stages, "aasist_score", "aasist")
        row["label"] = verdict.get("label")
        row["rule"] = _first(verdict, "rule", "reason")
        row["codec"] = verdict.get("codec")
        version = _first(verdict, "model_version", "models")
        row["model_version"] = version
    for key, value in (meta or {}).items():
        row.setdefault(key, value)
    return row
