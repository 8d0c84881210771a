"""The payload row: what the monitoring log holds for one prediction (schema version 2).

A row is a flat mapping of JSON scalars, built once, by :func:`monitoring_row`, from a
verdict. Its feature columns are the modality's descriptor columns, the same columns the
features step writes into ``reference_profile.parquet``, so the drift report compares like
with like; the score columns are ``score_<role>`` for every role the policy consulted; the
context columns say what was decided, by which model. Raw media is never part of a row
unless ``monitoring.log_raw_audio`` is set.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from veracity.errors import InputError
from veracity.modalities.base import LABELS

PAYLOAD_SCHEMA_VERSION = 2
SCORE_PREFIX = "score_"
CONTEXT_COLUMNS = (
    "modality", "codec", "label", "rule", "domain_score", "model_version", "request_id",
    "timestamp",
)  # fmt: skip
VERDICT_LABELS = LABELS
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
        raise InputError(f"expected a payload row as a mapping, got {type(row).__name__}")
    out: dict[str, Any] = {}
    for key, value in row.items():
        if not isinstance(key, str):
            raise InputError(f"expected string column names in a payload row, got {key!r}")
        if key == RAW_AUDIO_KEY and not log_raw_audio:
            continue  # privacy default: uploads are not retained
        out[key] = _to_scalar(value)
    if not out.get("timestamp"):
        out["timestamp"] = now or utc_now_iso()
    out[SCHEMA_KEY] = PAYLOAD_SCHEMA_VERSION
    return out


def score_column(role: str) -> str:
    """The payload column of a role's clip score (``score_stage1``)."""
    return f"{SCORE_PREFIX}{role}"


def score_columns(columns) -> list[str]:
    """The score columns among ``columns``."""
    return [c for c in columns if str(c).startswith(SCORE_PREFIX)]


def monitoring_row(verdict: Mapping[str, Any]) -> dict:
    """The payload-log row of one verdict: descriptors, ``score_<role>``, context."""
    detectors = verdict["model"]["detectors"]
    version = ";".join(f"{k}={v['version']}" for k, v in sorted(detectors.items()))
    return {
        **verdict["descriptors"],
        **{score_column(role): value for role, value in verdict["scores"].items()},
        "modality": verdict["modality"],
        "codec": verdict["media"].get("codec"),
        "label": verdict["label"],
        "rule": verdict["reason"],
        "domain_score": verdict.get("domain_score"),
        "model_version": version,
        "request_id": verdict["id"],
    }


def row_from_verdict(verdict: Mapping[str, Any], meta: Mapping[str, Any] | None = None) -> dict:
    """The payload row carried by one transformer verdict (as the KServe logger forwards it).

    The transformer puts the exact row it logs under ``verdict["monitoring"]``; that is used
    as is, else it is built from the verdict. ``meta`` (request id, service, request content
    type) is added under its own keys.
    """
    if not isinstance(verdict, Mapping):
        raise InputError(f"expected a verdict object, got {type(verdict).__name__}")
    monitoring = verdict.get("monitoring")
    row = dict(monitoring) if isinstance(monitoring, Mapping) else monitoring_row(verdict)
    for key, value in (meta or {}).items():
        row.setdefault(key, value)
    return row
