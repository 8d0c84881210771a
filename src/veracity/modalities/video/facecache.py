"""Face-detection cache: a corpus video is decoded and its faces detected once.

With ``segments.face_cache_dir`` set, ``decode`` of a corpus file stores what it found
(aligned crops, their times, the 16 kHz audio as int16, the probe and the face counts) in
``<dir>/<key>.npz``, where the key hashes the file's bytes and every segment setting that
changes the result (not the timeouts). A monthly retrain over the same corpus then skips
ffmpeg and MTCNN for every video it has seen. The file is read with
``allow_pickle=False``; a damaged entry is ignored and rewritten.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np

from veracity.media.video import VideoProbe
from veracity.modalities.video.facecrop import FaceCounts
from veracity.modalities.video.params import VideoSegmentParams

log = logging.getLogger(__name__)
CACHE_VERSION = 1
_IGNORED = {"probe_timeout_s", "ffmpeg_timeout_s", "face_cache_dir", "window_s", "hop_s",
            "min_faces_per_window", "detect_threads"}  # fmt: skip
_CHUNK = 1 << 20


def cache_key(path: Path, seg: VideoSegmentParams) -> str:
    """sha256 of the file's bytes, the cache version and the settings decode depends on."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    settings = {k: v for k, v in seg.model_dump(mode="json").items() if k not in _IGNORED}
    h.update(json.dumps({"v": CACHE_VERSION, **settings}, sort_keys=True).encode())
    return h.hexdigest()


def load(cache_dir: Path, key: str):
    """The cached ``VideoMedia`` fields for ``key``, or None."""
    from veracity.modalities.video.segments import VideoMedia

    path = cache_dir / f"{key}.npz"
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            return VideoMedia(
                faces=z["faces"], face_times=z["face_times"],
                audio=z["audio"].astype(np.float32) / 32767.0, sample_rate=meta["sample_rate"],
                duration_s=meta["duration_s"], sample_fps=meta["sample_fps"],
                probe=VideoProbe(**meta["probe"]), counts=FaceCounts(**meta["counts"]),
            )  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring a damaged face cache entry %s: %s", path.name, exc)
        return None


def store(cache_dir: Path, key: str, media) -> None:
    """Write ``media`` under ``key`` atomically (a temporary file renamed into place)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    meta = {"sample_rate": media.sample_rate, "duration_s": media.duration_s,
            "sample_fps": media.sample_fps, "probe": asdict(media.probe),
            "counts": asdict(media.counts)}  # fmt: skip
    tmp = cache_dir / f".{key}.{os.getpid()}.npz"
    audio = np.round(np.clip(media.audio, -1, 1) * 32767).astype(np.int16)
    np.savez(tmp, faces=media.faces, face_times=media.face_times, audio=audio,
             meta=np.array(json.dumps(meta)))  # fmt: skip
    os.replace(tmp, cache_dir / f"{key}.npz")
