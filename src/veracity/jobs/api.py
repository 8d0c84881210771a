"""The job API (FastAPI): submit media, read a job's status, follow its progress (SSE).

``POST /analyze`` takes ``multipart/form-data`` (``file`` + ``modality``) or JSON
(``{"url": "s3://bucket/key", "modality": ...}``) and answers ``202 {"job_id",
"status_url", "events_url"}``; ``POST /analyze-video`` is the same with the modality fixed
to ``video`` (seed 002 XI.9). Before a job exists the API refuses what it cannot run:
503 + ``Retry-After`` when ``jobs.max_active_jobs`` are queued or running, 413 / 415 / 422
for uploads the modality's bounded decoder refuses (checked from the header before
decoding), 503 for a modality this deployment lacks. The bound is counted once before the
body is read (a cheap early refusal) and enforced by the store's insert, which counts and
inserts in one statement (concurrent submissions cannot all pass one count). Errors are JSON
``{"error", "type", "status"}`` with what was expected, what came and how to fix it.
``GET /jobs/{id}/saliency/frame-<n>.png``: a video result's Grad-CAM overlays
(:mod:`veracity.jobs.saliency`). OpenAPI: ``/openapi.json``; the web page ``GET /`` and ``GET /modalities``:
:mod:`veracity.jobs.page`. At start-up and every ``jobs.republish_interval_s`` the API
publishes queued jobs whose message may be missing (:mod:`veracity.jobs.outbox`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError

from veracity.config import Config
from veracity.errors import InputError, VeracityError
from veracity.jobs.errors import JobNotFoundError, QueueFullError
from veracity.jobs.events import job_events
from veracity.jobs.intake import check_media, check_upload_size, resolve_modality
from veracity.jobs.outbox import mark_published, publish_due_safely, republish_forever
from veracity.jobs.page import add_page_routes
from veracity.jobs.saliency import SaliencyStore, saliency_dir
from veracity.jobs.sources import Spool, check_source_url
from veracity.jobs.store import JobStore
from veracity.serving.limits import BodyLimitMiddleware

log = logging.getLogger(__name__)

MULTIPART_OVERHEAD = 64 * 1024  # boundaries and the modality field around the file
_SUBMIT_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
                "file": {"type": "string", "format": "binary"},
                "modality": {"type": "string", "description": "default: params modality"}}}},
            "application/json": {"schema": {"type": "object", "required": ["url"], "properties": {
                "url": {"type": "string", "example": "s3://bucket/clip.wav"},
                "modality": {"type": "string"}}}},
        },
    }
}  # fmt: skip


class Submitted(BaseModel):
    """202 answer of a submission."""

    job_id: str
    status: Literal["queued"]
    status_url: str
    events_url: str


class JobStatus(BaseModel):
    """``GET /jobs/{job_id}``: ``result`` (result.schema.json) when completed, ``error``
    when failed, ``note`` while a queued job waits for a retry."""

    job_id: str
    status: Literal["queued", "running", "completed", "failed"]
    modality: str
    progress: int = Field(ge=0, le=100)
    stage: str
    attempts: int
    created_at: str
    updated_at: str
    result: dict[str, Any] | None = None
    error: str | None = None
    note: str | None = None


class ErrorBody(BaseModel):
    """Every refusal: what was expected, what came, how to fix it."""

    error: str
    type: str
    status: int


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in {
        400: "malformed request", 404: "no such job", 413: "upload or media too long",
        415: "not media the modality decodes", 422: "unusable media or unknown modality",
        503: "queue full (Retry-After) or modality not installed here",
    }.items()
}  # fmt: skip


@dataclass
class JobService:
    """What the API needs: params, the store, the spool and a way to enqueue a job id."""

    cfg: Config
    store: JobStore
    spool: Spool
    publish: Callable[[str], None]


def create_app(service: JobService) -> FastAPI:
    """The job API over ``service``."""
    cfg, jobs = service.cfg, service.cfg.jobs

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # jobs a crashed API stored but never published run before this one takes new ones
        published = await publish_due_safely(service.store, service.publish, jobs)
        log.info("outbox at start-up: %d job(s) published", len(published))
        task = asyncio.create_task(republish_forever(service.store, service.publish, jobs))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastAPI(
        title="Veracity analysis jobs",
        version="1",
        description="Asynchronous synthetic-media analysis (docs/jobs.md).",
        lifespan=lifespan,
    )
    checks = asyncio.Semaphore(jobs.max_concurrent_checks)

    @app.exception_handler(VeracityError)
    async def _veracity_error(request: Request, exc: VeracityError) -> JSONResponse:
        status = int(getattr(exc, "http_status", 500))
        level = logging.ERROR if status >= 500 and status != 503 else logging.INFO
        log.log(level, "%s %s -> %d: %s", request.method, request.url.path, status, exc)
        headers = {}
        if isinstance(exc, QueueFullError):
            headers["Retry-After"] = str(exc.retry_after_s)
        body = {"error": str(exc), "type": type(exc).__name__, "status": status}
        return JSONResponse(body, status_code=status, headers=headers)

    def queue_full(active: str) -> QueueFullError:
        return QueueFullError(
            f"expected fewer than {jobs.max_active_jobs} queued or running jobs, got {active}; "
            f"retry after {jobs.retry_after_s} s", jobs.retry_after_s)  # fmt: skip

    async def submit(request: Request, modality: str | None) -> JSONResponse:
        active = await asyncio.to_thread(service.store.count_active)
        if active >= jobs.max_active_jobs:  # before a byte of the body is read
            raise queue_full(str(active))
        fixed = modality is not None
        if fixed:
            job_modality = resolve_modality(modality, cfg, endpoint_default=True)
        media, url, asked = await _read_submission(request, cfg)
        job_modality = job_modality if fixed else resolve_modality(asked or cfg.modality, cfg)
        job_id = str(uuid.uuid4())
        if media is not None:
            async with checks:
                await asyncio.to_thread(check_media, media, job_modality, cfg)
            url = await asyncio.to_thread(service.spool.save, job_id, media)
        try:
            created = await asyncio.to_thread(service.store.create, job_id, job_modality.name,
                                              url, jobs.max_active_jobs)  # fmt: skip
            if created is None:  # others took the last places since the early count
                raise queue_full(f"at least {jobs.max_active_jobs}")
        except Exception:
            service.spool.delete(url)
            raise
        try:
            await asyncio.to_thread(service.publish, job_id)
        except VeracityError as exc:
            await asyncio.to_thread(service.store.fail, job_id, str(exc))
            service.spool.delete(url)
            raise
        try:
            await asyncio.to_thread(mark_published, service.store, job_id)
        except SQLAlchemyError as exc:  # the job is queued: the outbox publishes it once more
            log.warning("job %s: recording its publish failed (%s)", job_id, exc)
        log.info("job %s queued (%s, %s)", job_id, job_modality.name, url.split(":", 1)[0])
        body = {"job_id": job_id, "status": "queued", "status_url": f"/jobs/{job_id}",
                "events_url": f"/jobs/{job_id}/events"}  # fmt: skip
        return JSONResponse(body, status_code=202, headers={"Location": f"/jobs/{job_id}"})

    submit_doc = {"status_code": 202, "response_model": Submitted, "responses": _ERRORS,
                  "openapi_extra": _SUBMIT_DOC}  # fmt: skip

    @app.post("/analyze", **submit_doc)
    async def analyze(request: Request) -> JSONResponse:
        """Submit media of any installed modality; returns the job id at once."""
        return await submit(request, None)

    @app.post("/analyze-video", **submit_doc)
    async def analyze_video(request: Request) -> JSONResponse:
        """Submit a video (seed 002); 503 while the video modality is not installed."""
        return await submit(request, "video")

    @app.get("/jobs/{job_id}", response_model=JobStatus, response_model_exclude_none=True,
             responses={404: _ERRORS[404]})  # fmt: skip
    def job_status(job_id: str) -> dict:
        """queued | running | completed | failed, progress 0-100, stage, result or error."""
        return _record_or_404(service.store, job_id).status_view()

    @app.get("/jobs/{job_id}/events", response_class=StreamingResponse,
             responses={200: {"content": {"text/event-stream": {}}}, 404: _ERRORS[404]})  # fmt: skip
    def job_event_stream(job_id: str) -> StreamingResponse:
        """Server-Sent Events: ``progress`` events, then one ``result`` or ``failed``."""
        _record_or_404(service.store, job_id)
        stream = job_events(service.store, job_id, jobs.sse_poll_interval_s, jobs.sse_max_seconds)
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream, media_type="text/event-stream", headers=headers)

    saliency = SaliencyStore(saliency_dir(jobs.data_dir))

    @app.get("/jobs/{job_id}/saliency/{name}", response_class=FileResponse,
             responses={200: {"content": {"image/png": {}}}, 404: _ERRORS[404]})  # fmt: skip
    def job_saliency(job_id: str, name: str) -> FileResponse:
        """A video job's saliency image (Grad-CAM over an anomalous frame's face), PNG."""
        headers = {"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"}
        return FileResponse(saliency.path(job_id, name), media_type="image/png", headers=headers)

    @app.get("/healthz")
    def healthz() -> dict:
        """Liveness and the number of active jobs (the store answers)."""
        return {"status": "ok", "active_jobs": service.store.count_active()}

    add_page_routes(app, cfg)
    app.add_middleware(BodyLimitMiddleware, max_bytes=jobs.max_upload_bytes + MULTIPART_OVERHEAD)
    return app


def _record_or_404(store: JobStore, job_id: str):
    record = store.get(job_id)
    if record is None:
        raise JobNotFoundError(f"expected the id of a submitted job, got {job_id[:64]!r}")
    return record


async def _read_submission(request: Request, cfg: Config) -> tuple[bytes | None, str, str | None]:
    """``(upload bytes or None, s3 url or "", modality named by the client)``."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind == "multipart/form-data":
        try:
            async with request.form(max_files=1, max_fields=4, max_part_size=1024) as form:
                upload, modality = form.get("file"), form.get("modality")
                if upload is None or isinstance(upload, str):
                    raise InputError("expected the media as a file field named 'file', got none")
                check_upload_size(upload.size or 0, cfg)
                data = await upload.read(cfg.jobs.max_upload_bytes + 1)
        except HTTPException as exc:  # starlette's multipart parser refused the body
            raise InputError(
                f"expected a well-formed multipart/form-data body: {exc.detail}"
            ) from exc
        check_upload_size(len(data), cfg)
        if not data:
            raise InputError("expected a non-empty file in the 'file' field, got 0 bytes")
        return data, "", modality if isinstance(modality, str) else None
    if kind == "application/json":
        try:
            body = await request.json()
        except ValueError as exc:
            raise InputError(f"expected a JSON object {{url, modality}}: {exc}") from exc
        if not isinstance(body, dict):
            raise InputError(f"expected a JSON object {{url, modality}}, got {type(body).__name__}")
        modality = body.get("modality")
        return (
            None,
            check_source_url(body.get("url")),
            modality if isinstance(modality, str) else None,
        )
    raise UnsupportedSubmission(kind)


class UnsupportedSubmission(InputError):
    """A submit body that is neither multipart nor JSON (415)."""

    http_status = 415

    def __init__(self, kind: str):
        super().__init__(
            f"expected multipart/form-data (file + modality) or application/json "
            f"({{url: s3://..., modality}}), got Content-Type {kind[:100] or '(none)'!r}"
        )
