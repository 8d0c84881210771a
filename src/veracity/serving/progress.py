"""The transformer's progress board: how far each request in flight is, by request id.

The job service's worker makes one synchronous call per job; while it waits, it reads
``GET /veracity/progress/{request_id}`` to move the job's progress bar through the stages
the transformer goes through (decoding, faces, scoring, explaining). The board is in
memory, bounded (the oldest entries go first) and holds only a stage name and a fraction:
nothing about the media. With several transformer replicas a poll may reach one that does
not hold the request; the answer is then 404 and the bar waits for the result.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict

from veracity.errors import InputError

# request ids the board accepts: what the worker and KServe send (uuid, job id + attempt)
REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


class UnknownRequestError(InputError):
    """No request with this id is in progress here."""

    http_status = 404


class ProgressBoard:
    """Stage and fraction of the requests in flight (thread-safe, at most ``capacity``)."""

    def __init__(self, capacity: int = 256):
        self.capacity = capacity
        self._entries: OrderedDict[str, dict] = OrderedDict()
        self._lock = threading.Lock()

    def update(self, request_id: str, stage: str, fraction: float) -> None:
        """Record that ``request_id`` is ``fraction`` through ``stage``."""
        if not REQUEST_ID.match(request_id or ""):
            return  # ids the route could not be asked for are not worth keeping
        entry = {"stage": stage, "fraction": round(min(1.0, max(0.0, fraction)), 4),
                 "updated": time.time()}  # fmt: skip
        with self._lock:
            self._entries[request_id] = entry
            self._entries.move_to_end(request_id)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def finish(self, request_id: str) -> None:
        """Forget ``request_id`` (its answer is on its way)."""
        with self._lock:
            self._entries.pop(request_id, None)

    def get(self, request_id: str) -> dict:
        """``{"request_id", "stage", "fraction", "updated"}`` of a request in progress."""
        if not REQUEST_ID.match(request_id or ""):
            raise InputError(
                f"expected a request id of letters, digits and _.:- (at most 128), got "
                f"{request_id[:40]!r}; use the x-request-id the request was sent with"
            )
        with self._lock:
            entry = self._entries.get(request_id)
        if entry is None:
            raise UnknownRequestError(
                f"no request {request_id!r} is in progress on this transformer (it ended, "
                "never started, or another replica holds it)"
            )
        return {"request_id": request_id, **entry}
