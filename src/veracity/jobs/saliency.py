"""Saliency images of a job: the Grad-CAM overlays of its anomalous frames, kept with it.

The video transformer's verdict carries one PNG (base64) per anomalous frame; the worker
writes them to ``<jobs.data_dir>/saliency/<job id>/frame-<frame id>.png`` (the volume the
API shares with the workers, like the upload spool) and the result names them by URL,
``/jobs/<job id>/saliency/frame-<frame id>.png``, which the API serves as ``image/png``.
Names are checked strictly on both sides: the job id must be a canonical UUID and the file
name ``frame-<digits>.png``, so a request can never reach another path.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

from veracity.jobs.errors import JobNotFoundError, ResultSchemaError

log = logging.getLogger(__name__)

FILE_NAME = re.compile(r"^frame-[0-9]{1,9}\.png$")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def saliency_dir(data_dir: str | Path) -> Path:
    """The folder of every job's saliency images under ``jobs.data_dir``."""
    return Path(data_dir) / "saliency"


def saliency_url(job_id: str, frame_id: int) -> str:
    """The API path of one frame's saliency image."""
    return f"/jobs/{job_id}/saliency/frame-{int(frame_id)}.png"


def _canonical_job_id(job_id: str) -> str | None:
    try:
        canonical = str(uuid.UUID(job_id))
    except (ValueError, AttributeError, TypeError):
        return None
    return canonical if canonical == job_id else None


class SaliencyStore:
    """Reads and writes the saliency images of jobs under one root folder."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def save(self, job_id: str, frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Write each frame's ``saliency_png`` and return the frames with ``saliency_url``."""
        if _canonical_job_id(job_id) is None:
            raise ResultSchemaError(f"expected a UUID job id for saliency images, got {job_id!r}")
        out = []
        for frame in frames:
            entry = {k: v for k, v in frame.items() if k != "saliency_png"}
            data = _png(frame.get("saliency_png"), entry.get("frame_id"))
            folder = self.root / job_id
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"frame-{int(entry['frame_id'])}.png").write_bytes(data)
            entry["saliency_url"] = saliency_url(job_id, entry["frame_id"])
            out.append(entry)
        return out

    def path(self, job_id: str, name: str) -> Path:
        """The file of ``name`` of job ``job_id``; 404 for any other name or a missing file."""
        if _canonical_job_id(job_id) is None or not FILE_NAME.fullmatch(name or ""):
            raise JobNotFoundError(
                f"expected /jobs/<job uuid>/saliency/frame-<n>.png, got {str(job_id)[:64]!r} / "
                f"{str(name)[:64]!r}; use the saliency_url of a completed job's result"
            )
        file = self.root / job_id / name
        if not file.is_file():
            raise JobNotFoundError(
                f"expected a saliency image {name} of job {job_id}, got none; the job is not "
                "completed or that frame was not anomalous"
            )
        return file

    def delete(self, job_id: str) -> None:
        """Remove a job's images (a job that failed after writing them)."""
        if _canonical_job_id(job_id) is not None:
            shutil.rmtree(self.root / job_id, ignore_errors=True)


def _png(text: Any, frame_id: Any) -> bytes:
    if not isinstance(text, str) or not isinstance(frame_id, int) or frame_id < 0:
        raise ResultSchemaError(
            f"expected an anomalous frame with an integer frame_id and a base64 saliency_png, "
            f"got frame_id {frame_id!r}; check the video transformer's verdict"
        )
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ResultSchemaError(f"frame {frame_id}: saliency_png is not base64 ({exc})") from exc
    if not data.startswith(PNG_MAGIC):
        raise ResultSchemaError(f"frame {frame_id}: saliency_png is not a PNG image")
    return data
