"""A pure-ASGI request body limit, enforced before anything is buffered.

The KServe REST app (and FastAPI in general) reads the whole body, then parses it, and
only then could a handler look at its size. This middleware sits in front: a
``Content-Length`` above the limit is answered 413 at once, without reading the body; a
body without one (chunked) is counted as it streams and answered 413 the moment it
crosses the limit, after which nothing more reaches the application. The error body is
the same JSON shape as every other Veracity error (``{"error": ..., "type": ...}``).
"""

from __future__ import annotations

import json
import logging

from veracity.errors import InputError, PayloadTooLargeError

log = logging.getLogger(__name__)


class _Rejected(Exception):
    """Raised inside the app's receive once the body is over the limit."""


def _error_response(exc: Exception, status: int) -> tuple[dict, dict]:
    body = json.dumps({"error": str(exc), "type": type(exc).__name__, "status": status}).encode()
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ],
    }
    return start, {"type": "http.response.body", "body": body}


class BodyLimitMiddleware:
    """Answer 413 for HTTP request bodies above ``max_bytes`` (by header or by stream)."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = int(max_bytes)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = self._check_header(scope)
        if problem is not None:
            await self._reject(send, problem)
            return
        state = {"seen": 0, "started": False, "rejected": False}

        async def limited_receive():
            message = await receive()
            if message["type"] == "http.request":
                state["seen"] += len(message.get("body", b""))
                if state["seen"] > self.max_bytes:
                    state["rejected"] = True
                    raise _Rejected
            return message

        async def guarded_send(message):
            if state["rejected"]:
                return  # the app's own answer to the aborted body is dropped
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not state["rejected"]:
                raise
        if state["rejected"] and not state["started"]:
            log.warning("refused a streamed body over %d bytes", self.max_bytes)
            await self._reject(send, self._too_large(f"more than {self.max_bytes}"))

    def _check_header(self, scope) -> Exception | None:
        values = [v for k, v in scope.get("headers", []) if k.lower() == b"content-length"]
        if not values:
            return None
        try:
            length = int(values[0])
            if length < 0:
                raise ValueError(length)
        except ValueError:
            return InputError(
                f"expected a Content-Length of whole bytes, got {values[0]!r}; "
                "send a valid header or none (chunked transfer)"
            )
        if length > self.max_bytes:
            return self._too_large(str(length))
        return None

    def _too_large(self, got: str) -> PayloadTooLargeError:
        return PayloadTooLargeError(
            f"expected a request body of at most {self.max_bytes} bytes, got {got}; "
            "send a shorter or compressed recording"
        )

    async def _reject(self, send, exc: Exception) -> None:
        start, body = _error_response(exc, getattr(exc, "http_status", 400))
        await send(start)
        await send(body)
