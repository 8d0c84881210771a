"""Server-Sent Events of one job: its progress as it changes, then its result or error.

The stream reads the store (so it survives API restarts and works with any number of API
replicas) every ``jobs.sse_poll_interval_s``; it sends a ``progress`` event whenever the
status, progress or stage changes, a comment line as keep-alive otherwise, and ends with one
``result`` event (the result document) or one ``failed`` event (the reason), or a
``timeout`` event after ``jobs.sse_max_seconds``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from veracity.jobs.store import COMPLETED, FAILED, JobStore

KEEPALIVE_S = 15.0


def sse_event(event: str, data: Any) -> str:
    """One SSE frame: ``event: NAME`` and its JSON data on one line."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def progress_data(status: dict[str, Any]) -> dict[str, Any]:
    """The fields of a ``progress`` event (a status view without the result)."""
    keys = ("job_id", "status", "progress", "stage", "attempts", "note")
    return {k: status[k] for k in keys if k in status}


async def job_events(
    store: JobStore, job_id: str, poll_s: float, max_s: float
) -> AsyncIterator[str]:
    """The SSE frames of ``job_id`` until it ends (or ``max_s`` passes)."""
    last = None
    started = quiet_since = time.monotonic()
    while True:
        record = await asyncio.to_thread(store.get, job_id)
        if record is None:
            yield sse_event("failed", {"job_id": job_id, "error": "the job disappeared"})
            return
        view = record.status_view()
        state = (record.status, record.progress, record.stage)
        if state != last:
            last, quiet_since = state, time.monotonic()
            yield sse_event("progress", progress_data(view))
        if record.status == COMPLETED:
            yield sse_event("result", view["result"])
            return
        if record.status == FAILED:
            yield sse_event("failed", {"job_id": job_id, "error": view["error"]})
            return
        if time.monotonic() - started > max_s:
            yield sse_event("timeout", {"job_id": job_id, "status_url": f"/jobs/{job_id}"})
            return
        if time.monotonic() - quiet_since > KEEPALIVE_S:
            quiet_since = time.monotonic()
            yield ": keep-alive\n\n"
        await asyncio.sleep(poll_s)
