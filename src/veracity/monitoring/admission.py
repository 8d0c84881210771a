"""What the payload receiver lets into the monitoring log, and from whom.

Rows in the payload log decide drift and may trigger retraining, so a row from outside is
cut down to the known columns (every modality's descriptor columns and ``score_<role>``
columns, the context columns, and the CloudEvent metadata the receiver itself adds) and its ``timestamp`` is the time the receiver got it, not a time
the sender claims (the claimed one stays in ``event_time`` as metadata). Senders prove
themselves with a shared token in a header or the URL (compared in constant time).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from typing import Any

from veracity.monitoring.schema import CONTEXT_COLUMNS, RAW_AUDIO_KEY, score_column, utc_now_iso

log = logging.getLogger(__name__)

META_COLUMNS = (
    "request_id", "event_source", "inference_service", "namespace", "component", "endpoint",
    "event_time", "request_content_type", "request_bytes", RAW_AUDIO_KEY,
)  # fmt: skip


def allowed_columns(cfg) -> frozenset[str]:
    """The payload columns of every modality in ``cfg`` plus context and event metadata."""
    from veracity.modalities import load_modality

    columns = {*CONTEXT_COLUMNS, *META_COLUMNS, "payload_schema"}
    for name, params in cfg.modalities.items():
        modality = load_modality(name, cfg.modality_packages)
        columns.update(modality.descriptor_columns(params))
        columns.update(score_column(spec.role) for spec in modality.detectors(params))
    return frozenset(columns)


def admit_row(row: Mapping[str, Any], allowed: frozenset[str], now: str | None = None) -> dict:
    """``row`` with only ``allowed`` columns and a server-side ``timestamp``."""
    dropped = sorted(str(k) for k in row if k not in allowed)
    if dropped:
        log.info("dropped %d unknown column(s) from an event: %s", len(dropped), dropped[:10])
    out = {k: v for k, v in row.items() if k in allowed}
    out["timestamp"] = now or utc_now_iso()
    return out


def token_problem(
    headers: Mapping[str, str], header: str, token: str | None, query_token: str | None = None
) -> str | None:
    """Why a request is not authenticated, or ``None`` when it is (or no token is set).

    The token travels in ``header``, or as ``?token=`` in the URL for senders that cannot
    set headers (KServe's inference logger only takes a URL).
    """
    if not token:
        return None
    given = headers.get(header.lower(), "") or (query_token or "")
    if not given:
        return (
            f"expected the shared receiver token in header {header!r}, got no such header; "
            "send the token from the veracity-monitor Secret"
        )
    if not hmac.compare_digest(given.encode(), token.encode()):
        return f"expected the shared receiver token in header {header!r}, got a wrong one"
    return None
