"""Normalise request Content-Types at the ASGI edge, before KServe decodes the body.

KServe 0.21 compares the Content-Type header as an exact string: ``application/json;
charset=utf-8`` is not JSON to it (the body reaches ``preprocess`` as raw bytes and is
then decoded as audio), and ``application/octet-stream`` is in its list of JSON types (an
audio upload gets 400 "Unrecognized request format"). Here, before the app sees the
request, JSON types with parameters or in another case become ``application/json``, and a
V1 ``application/octet-stream`` body (a raw upload, as ``veracity predict`` sends it)
becomes ``audio/octet-stream``, which KServe hands over as bytes. V2 binary requests (the
transformer's calls to the predictor) keep ``application/octet-stream``.
"""

from __future__ import annotations

JSON_TYPES = (b"application/json", b"application/cloudevents+json", b"application/ld+json")
RAW_UPLOAD_TYPE = b"audio/octet-stream"


def normalise_content_type(value: bytes, path: str) -> bytes:
    """The Content-Type KServe should see for ``value`` on ``path``."""
    media = value.split(b";", 1)[0].strip().lower()
    if media in JSON_TYPES:
        return media
    if media == b"application/octet-stream" and path.startswith("/v1/"):
        return RAW_UPLOAD_TYPE
    return value


class ContentTypeMiddleware:
    """Rewrite the Content-Type header of HTTP requests (see the module docstring)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            path = scope.get("path", "")
            headers = [
                (k, normalise_content_type(v, path) if k.lower() == b"content-type" else v)
                for k, v in scope.get("headers", [])
            ]
            scope = {**scope, "headers": headers}
        await self.app(scope, receive, send)
