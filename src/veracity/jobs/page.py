"""The job service's web page: ``GET /`` (upload, live progress, verdict, timeline, frames).

The page is three static files shipped in the package (``static/``: HTML, JS, CSS; no build
step, nothing from the internet). It submits to ``POST /analyze``, follows
``/jobs/{id}/events`` (SSE) and draws the result in the browser. Every answer carries a
Content-Security-Policy that allows this origin only (no inline script, no external
resources). ``GET /modalities`` lists the modalities the page may offer.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import Response

from veracity.config import Config
from veracity.jobs.intake import installed_modalities

STATIC_DIR = Path(__file__).resolve().parent / "static"
# name -> media type: only these files are served (no directory listing, no traversal)
STATIC_FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def ready_modalities(cfg: Config) -> list[str]:
    """Installed modalities that have a params section and a transformer URL (jobs can run)."""
    return [
        name
        for name in installed_modalities(cfg)
        if name in cfg.modalities and cfg.jobs.inference_urls.get(name)
    ]


def _static(name: str) -> Response:
    body = (STATIC_DIR / name).read_bytes()
    return Response(body, media_type=STATIC_FILES[name], headers=SECURITY_HEADERS)


def add_page_routes(app: FastAPI, cfg: Config) -> None:
    """Add ``GET /``, ``GET /static/{name}`` and ``GET /modalities`` to ``app``."""
    ready = ready_modalities(cfg)
    default = cfg.modality if cfg.modality in ready else (ready[0] if ready else None)

    @app.get("/", include_in_schema=False)
    def page() -> Response:
        return _static("index.html")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in STATIC_FILES or name == "index.html":
            return Response(status_code=404, headers=SECURITY_HEADERS)
        return _static(name)

    @app.get("/modalities")
    def modalities() -> dict:
        """The modalities jobs can be submitted for here, and the default one."""
        return {"modalities": ready, "default": default}
