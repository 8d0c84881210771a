"""The worker's synchronous call to a modality's transformer (a KServe InferenceService).

The media goes as the raw body of a V1 ``:predict`` request (``application/octet-stream``,
which the transformer hands to its decoder as bytes); the answer is the Verdict. Client
mistakes the transformer reports (4xx: not audio, too long, unusable) fail the job with the
transformer's own message; an unreachable or failing transformer (5xx, 429, timeouts) is
transient and the job is retried. While the call runs, :func:`following_progress` reads the
transformer's progress board for the request (``GET /veracity/progress/{request_id}``) in a
background thread and hands each change to the worker; a board that does not answer only
leaves the progress bar where it is.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

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


def progress_url(base_url: str, request_id: str) -> str:
    """The transformer's progress endpoint for one request."""
    return f"{base_url.rstrip('/')}/veracity/progress/{request_id}"


@contextmanager
def following_progress(
    base_url: str,
    request_id: str,
    interval_s: float,
    on_progress: Callable[[str, float], None],
) -> Iterator[None]:
    """Poll the transformer's progress of ``request_id`` every ``interval_s`` while the block
    runs; each new (stage, fraction) goes to ``on_progress`` (from the polling thread)."""
    stop = threading.Event()

    def poll() -> None:
        last = None
        with httpx.Client(timeout=max(1.0, interval_s)) as client:
            while not stop.wait(interval_s):
                try:
                    reply = client.get(progress_url(base_url, request_id))
                except httpx.HTTPError:
                    continue  # the verdict call reports a transformer that is really gone
                if reply.status_code != 200:
                    continue  # not started yet, ended, or another replica holds it
                body = reply.json()
                state = (str(body.get("stage", "")), float(body.get("fraction", 0.0)))
                if state != last:
                    last = state
                    try:
                        on_progress(*state)
                    except Exception:  # a progress write must not end the polling
                        log.warning("progress of %s not recorded", request_id, exc_info=True)

    thread = threading.Thread(target=poll, name=f"progress-{request_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=max(2.0, 2 * interval_s))


def request_verdict(
    base_url: str, model_name: str, data: bytes, timeout_s: float, request_id: str | None = None
) -> dict:
    """POST ``data`` to the transformer and return its Verdict (without the monitoring row);
    ``request_id`` (``x-request-id``) names the request on the transformer's progress board."""
    endpoint = predict_url(base_url, model_name)
    headers = {"content-type": "application/octet-stream"}
    if request_id:
        headers["x-request-id"] = request_id
    try:
        reply = httpx.post(endpoint, content=data, headers=headers, timeout=timeout_s)
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
