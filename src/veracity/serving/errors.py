"""One place that maps errors to HTTP answers for both model servers.

Every :class:`VeracityError` carries its ``http_status`` (400 bad request, 413 too long, 415
not audio, 422 unusable audio, 502/503 upstream trouble); the handler installed here turns it
into a JSON body ``{"error": message, "type": class name, "status": code}``. KServe's own
handlers keep answering its ``InvalidInput`` (400) and unknown models (404) with JSON too.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import ORJSONResponse
from kserve.errors import InferenceError

from veracity.errors import InputError, VeracityError

log = logging.getLogger(__name__)


def error_body(exc: Exception, status: int) -> dict:
    """The JSON body of an error answer."""
    return {"error": str(exc) or type(exc).__name__, "type": type(exc).__name__, "status": status}


async def veracity_error_handler(request: Request, exc: VeracityError) -> ORJSONResponse:
    """Answer a :class:`VeracityError` with its ``http_status`` and a JSON message."""
    status = int(getattr(exc, "http_status", 500))
    if status >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc)
    else:
        log.info("%s %s refused (%d): %s", request.method, request.url.path, status, exc)
    return ORJSONResponse(status_code=status, content=error_body(exc, status))


async def inference_error_handler(request: Request, exc: InferenceError) -> ORJSONResponse:
    """KServe's InferenceError, with the one client mistake it hides made a 400.

    KServe 0.21 raises InferenceError (500) while *decoding* a V2 binary request whose BYTES
    element is not UTF-8, and echoes the whole payload in the message; that is bad input.
    """
    message = str(exc)
    if message.startswith("Failed to encode"):
        bad = InputError(
            "expected V2 BYTES elements as UTF-8 text, got raw binary; send the audio file as "
            "base64 text in the BYTES input 'audio' (see docs/serving.md)"
        )
        return ORJSONResponse(status_code=400, content=error_body(bad, 400))
    log.error("%s %s failed: %s", request.method, request.url.path, message[:500])
    return ORJSONResponse(status_code=500, content={"error": message[:500]})


async def request_validation_handler(
    request: Request, exc: RequestValidationError
) -> ORJSONResponse:
    """A V2 body that does not fit the protocol's schema: 422 with the problems, not the input.

    FastAPI's default handler echoes the input and fails with a 500 when it holds values JSON
    cannot represent (``Infinity``), so the problems are summarized without it.
    """
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg', '')}"
        for err in exc.errors()[:5]
    )
    bad = InputError(f"expected an Open Inference Protocol request body, got: {problems}")
    return ORJSONResponse(status_code=422, content=error_body(bad, 422))


def install_error_handlers(app: FastAPI) -> None:
    """Register the Veracity error handlers on a (KServe) FastAPI app."""
    app.add_exception_handler(VeracityError, veracity_error_handler)
    app.add_exception_handler(RequestValidationError, request_validation_handler)
    app.add_exception_handler(InferenceError, inference_error_handler)
