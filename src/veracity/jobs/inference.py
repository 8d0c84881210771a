"""The worker's synchronous call to a modality's transformer (a KServe InferenceService).

The media goes as the raw body of a V1 ``:predict`` request (``application/octet-stream``,
which the transformer hands to its decoder as bytes); the answer is the Verdict. Client
mistakes the transformer reports (4xx: not audio, too long, unusable) fail the job with the
transformer's own message; an unreachable or failing transformer (5xx, 429, timeouts) is
transient and the job is retried.
"""

from __future__ import annotations

import logging

import httpx

from veracity.errors import InputError
from veracity.jobs.errors import TransientJobError

log = logging.getLogger(__name__)


class MediaRefusedError(InputError):
    """The transformer refused the media (its 4xx answer, status and error type kept)."""

    def __init__(self, message: str, status: int, error_type: str = ""):
        super().__init__(message)
        self.http_status = status
        self.error_type = error_type


def predict_url(base_url: str, model_name: str) -> str:
    """The V1 predict endpoint of ``model_name`` behind ``base_url``."""
    return f"{base_url.rstrip('/')}/v1/models/{model_name}:predict"


def request_verdict(base_url: str, model_name: str, data: bytes, timeout_s: float) -> dict:
    """POST ``data`` to the transformer and return its Verdict (without the monitoring row)."""
    endpoint = predict_url(base_url, model_name)
    try:
        reply = httpx.post(
            endpoint,
            content=data,
            headers={"content-type": "application/octet-stream"},
            timeout=timeout_s,
        )
    except httpx.HTTPError as exc:
        raise TransientJobError(
            f"the transformer at {endpoint} did not answer ({exc.__class__.__name__}: {exc}); "
            "check that the InferenceService is running and jobs.inference_urls"
        ) from exc
    if reply.status_code == 200:
        verdict = reply.json()
        verdict.pop("monitoring", None)
        return verdict
    message = _message(reply)
    if reply.status_code >= 500 or reply.status_code == 429:
        raise TransientJobError(f"the transformer answered {reply.status_code}: {message}")
    raise MediaRefusedError(
        f"the transformer refused the media ({reply.status_code}): {message}",
        reply.status_code,
        _error_type(reply),
    )


def _error_type(reply: httpx.Response) -> str:
    try:
        body = reply.json()
    except ValueError:
        return ""
    return str(body.get("type") or "") if isinstance(body, dict) else ""


def _message(reply: httpx.Response) -> str:
    try:
        body = reply.json()
    except ValueError:
        return reply.text[:500]
    if isinstance(body, dict):
        return str(body.get("error") or body.get("detail") or body)[:500]
    return str(body)[:500]
