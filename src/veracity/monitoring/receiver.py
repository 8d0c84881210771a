"""CloudEvents receiver for the KServe inference logger (``veracity monitor collect``).

The KServe logger (``spec.transformer.logger`` / ``spec.predictor.logger``) posts every
request and response as a binary-mode CloudEvent 1.0: attributes in ``ce-*`` headers
(``ce-id`` = the request id shared by both events, ``ce-type`` =
``org.kubeflow.serving.inference.request``/``.response``, ``ce-source``, ``ce-specversion``,
extensions ``ce-inferenceservicename``, ``ce-namespace``, ``ce-component``, ``ce-endpoint``,
``ce-metadata``), the payload as the body. The receiver pairs both events by ``ce-id``,
extracts the payload row from the transformer's verdict and writes it through the same
:class:`PayloadLogger` sink the transformer would use. Malformed events get HTTP 400.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections import OrderedDict
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from veracity.config import MonitoringConfig, StorageConfig
from veracity.monitoring.admission import admit_row, token_problem
from veracity.monitoring.payload import PayloadLogger
from veracity.monitoring.schema import RAW_AUDIO_KEY, row_from_verdict
from veracity.serving.limits import BodyLimitMiddleware

log = logging.getLogger(__name__)

CE_REQUEST = "org.kubeflow.serving.inference.request"
CE_RESPONSE = "org.kubeflow.serving.inference.response"
REQUIRED_HEADERS = ("ce-id", "ce-type", "ce-source", "ce-specversion")
SPEC_VERSIONS = ("1.0",)
# The InferenceService logs every component; only the transformer's verdicts carry rows.
IGNORED_COMPONENTS = ("predictor", "explainer")
EXTENSIONS = {
    "ce-inferenceservicename": "inference_service",
    "ce-namespace": "namespace",
    "ce-component": "component",
    "ce-endpoint": "endpoint",
    "ce-time": "event_time",
}


class EventError(ValueError):
    """An event the receiver cannot use (answered with HTTP 400)."""


class EventPairer:
    """Pairs request and response events by id. Responses carry the rows; a response waits
    up to ``timeout_s`` for its request's metadata and is then written alone (never lost)."""

    def __init__(self, timeout_s: float, max_pending: int, clock=time.monotonic):
        self.timeout_s, self.max_pending, self._clock = timeout_s, max_pending, clock
        self._requests: OrderedDict[str, tuple[float, dict]] = OrderedDict()
        self._responses: OrderedDict[str, tuple[float, list[dict]]] = OrderedDict()
        self._lock = threading.Lock()
        self.counts = {"paired": 0, "unpaired_responses": 0, "unanswered_requests": 0}

    def add_request(self, event_id: str, meta: dict) -> list[dict]:
        with self._lock:
            if event_id in self._responses:
                _, rows = self._responses.pop(event_id)
                self.counts["paired"] += 1
                return [{**meta, **row, "paired": True} for row in rows]
            self._requests[event_id] = (self._clock(), meta)
            return self._evict()

    def add_response(self, event_id: str, rows: list[dict]) -> list[dict]:
        with self._lock:
            if event_id in self._requests:
                _, meta = self._requests.pop(event_id)
                self.counts["paired"] += 1
                return [{**meta, **row, "paired": True} for row in rows]
            self._responses[event_id] = (self._clock(), rows)
            return self._evict()

    def _evict(self, force: bool = False) -> list[dict]:
        out: list[dict] = []
        now = self._clock()
        for store in (self._requests, self._responses):
            while store:
                key, (stamp, value) = next(iter(store.items()))
                too_many = len(self._requests) + len(self._responses) > self.max_pending
                if not (force or too_many or now - stamp > self.timeout_s):
                    break
                store.pop(key)
                if store is self._responses:
                    self.counts["unpaired_responses"] += 1
                    out.extend({**row, "paired": False} for row in value)
                else:
                    self.counts["unanswered_requests"] += 1  # no verdict: nothing to log
        return out

    def expire(self) -> list[dict]:
        """Rows of responses whose request never came within the timeout."""
        with self._lock:
            return self._evict()

    def drain(self) -> list[dict]:
        """Every pending response's rows (at shutdown)."""
        with self._lock:
            return self._evict(force=True)


def parse_event(headers: dict[str, str], body: bytes) -> tuple[str, str, dict, Any]:
    """Validate a binary-mode CloudEvent; returns ``(id, type, meta, json_or_None)``."""
    missing = [h for h in REQUIRED_HEADERS if not headers.get(h)]
    if missing:
        raise EventError(
            f"expected a binary-mode CloudEvent with headers {', '.join(REQUIRED_HEADERS)}; "
            f"missing {', '.join(missing)}. Point the KServe logger (logger.url) at this receiver"
        )
    if headers["ce-specversion"] not in SPEC_VERSIONS:
        raise EventError(
            f"expected ce-specversion in {SPEC_VERSIONS}, got {headers['ce-specversion']!r}"
        )
    event_type = headers["ce-type"]
    if event_type not in (CE_REQUEST, CE_RESPONSE):
        raise EventError(f"expected ce-type {CE_REQUEST} or {CE_RESPONSE}, got {event_type!r}")
    content_type = headers.get("content-type", "")
    meta = {"request_id": headers["ce-id"], "event_source": headers["ce-source"]}
    meta.update({key: headers[h] for h, key in EXTENSIONS.items() if headers.get(h)})
    is_json = "json" in content_type or not content_type
    if event_type == CE_REQUEST and not is_json:
        # An audio upload: only its size and type are kept (raw audio only when enabled).
        meta.update({"request_content_type": content_type, "request_bytes": len(body)})
        return headers["ce-id"], event_type, meta, None
    try:
        payload = json.loads(body) if body else None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EventError(
            f"expected a JSON body for {event_type}, got undecodable data: {exc}"
        ) from exc
    if not isinstance(payload, dict):
        raise EventError(
            f"expected a JSON object body for {event_type}, got {type(payload).__name__}"
        )
    if event_type == CE_REQUEST:
        meta.update(
            {"request_content_type": content_type or "application/json", "request_bytes": len(body)}
        )
    return headers["ce-id"], event_type, meta, payload


def verdicts_of(payload: dict) -> list[dict]:
    """The verdict objects in a transformer response (V1 ``predictions`` or a bare verdict)."""
    if isinstance(payload.get("predictions"), list):
        found = [p for p in payload["predictions"] if isinstance(p, dict)]
    elif "label" in payload or "monitoring" in payload:
        found = [payload]
    else:
        found = []
    if not found:
        raise EventError(
            "expected a transformer verdict (an object with 'label' or 'monitoring', or "
            f"'predictions' holding such objects), got keys {sorted(payload)[:10]}"
        )
    return found


def create_receiver_app(
    monitoring_cfg: MonitoringConfig,
    storage_cfg: StorageConfig,
    payload_logger: PayloadLogger | None = None,
    token: str | None = None,
    *,
    allowed: frozenset[str],
) -> FastAPI:
    """The FastAPI app: ``POST /`` (and ``/events``) takes events; ``GET /healthz``,
    ``GET /stats`` report. The payload logger is closed (flushed) at shutdown.

    With ``token``, events must carry it in the ``monitoring.receiver.token_header``
    header (401 otherwise); bodies above ``monitoring.receiver.max_body_bytes`` get 413
    before they are read; rows keep only allow-listed columns and are stamped with the
    receive time here (``allowed``: :func:`veracity.monitoring.admission.allowed_columns`;
    see :mod:`veracity.monitoring.admission`)."""
    rcfg = monitoring_cfg.receiver
    state: dict[str, Any] = {"logger": payload_logger, "rejected": 0, "accepted": 0, "ignored": 0}
    pairer = EventPairer(rcfg.pair_timeout_s, rcfg.max_pending)

    @asynccontextmanager
    async def lifespan(_app):
        if state["logger"] is None:
            state["logger"] = PayloadLogger(monitoring_cfg, storage_cfg)
        yield
        for row in pairer.drain():
            state["logger"].log(row)
        log.info("receiver stopping: %s", state["logger"].close())

    app = FastAPI(title="Veracity payload receiver", lifespan=lifespan)
    app.add_middleware(BodyLimitMiddleware, max_bytes=rcfg.max_body_bytes)

    async def receive(request: Request):
        headers = {k.lower(): v for k, v in request.headers.items()}
        refused = token_problem(
            headers, rcfg.token_header, token, request.query_params.get("token")
        )
        if refused is not None:
            state["rejected"] += 1
            return JSONResponse({"error": refused, "type": "AuthError"}, status_code=401)
        body = await request.body()
        component = headers.get("ce-component")
        if component in IGNORED_COMPONENTS and all(headers.get(h) for h in REQUIRED_HEADERS):
            state["ignored"] += 1  # detector tensors: no monitoring row in them
            return JSONResponse({"ignored": headers["ce-id"], "component": component})
        try:
            event_id, event_type, meta, payload = parse_event(headers, body)
            if event_type == CE_RESPONSE:
                rows = [admit_row(row_from_verdict(v, meta), allowed) for v in verdicts_of(payload)]
                ready = pairer.add_response(event_id, rows)
            else:
                if monitoring_cfg.log_raw_audio and payload is None:
                    meta[RAW_AUDIO_KEY] = base64.b64encode(body).decode()
                ready = pairer.add_request(event_id, meta)
        except (EventError, TypeError) as exc:
            state["rejected"] += 1
            log.warning("rejected event: %s", exc)
            return JSONResponse({"error": str(exc)}, status_code=400)
        state["accepted"] += 1
        for row in ready + pairer.expire():
            state["logger"].log(row)
        # 200, not 202: the KServe logger logs any other status as an error
        return JSONResponse({"accepted": event_id, "type": event_type}, status_code=200)

    app.post("/")(receive)
    app.post("/events")(receive)

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok"}

    @app.get("/stats")
    async def stats():
        return {
            "accepted": state["accepted"],
            "rejected": state["rejected"],
            "ignored": state["ignored"],
            "pairing": dict(pairer.counts),
            "payload_log": state["logger"].stats(),
        }

    return app
