"""Video uploads at the service edge: the header-only check and the no-face refusal.

``check`` is what the job API runs before a job exists: probe the header (container,
codec, resolution, duration against ``limits``) and refuse with the same errors as
``segments.decode``, without decoding a frame (MTCNN on a 30 s 720p video takes a minute on
two CPU cores; the transformer does it once, in the job). ``decode`` is ``segments.decode``
with one difference: a decodable video without an analysable face raises
:class:`NoFaceError` (still a :class:`VideoContentError`, 422), so the job service can answer
it as a result ("no face: cannot tell") instead of a failure. Training and serving both
decode through this function: the media and the segments are the same.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from veracity.media.decode import private_copy
from veracity.media.video import VideoDecodeError, probe_video
from veracity.modalities.video.params import VideoParams
from veracity.modalities.video.segments import VideoContentError, check_header
from veracity.modalities.video.segments import decode as decode_segments

log = logging.getLogger(__name__)
FACE_WORD = "face"  # header refusals (container, codec, size, duration) never name a face


class NoFaceError(VideoContentError):
    """A video whose sampled frames hold no single analysable face (v1: single-face videos)."""


def check(source: bytes | Path, params: VideoParams, limits=None) -> None:
    """Refuse from the header alone what ``decode`` would refuse before its first frame."""
    seg = params.segments
    max_s = min(seg.max_seconds, limits.max_seconds) if limits is not None else seg.max_seconds
    timeout_s = limits.probe_timeout_s if limits is not None else seg.probe_timeout_s
    if isinstance(source, bytes | bytearray):
        if len(source) == 0:
            raise VideoDecodeError("expected the bytes of a video file, got 0 bytes")
        name = f"the uploaded video ({len(source)} bytes)"
        with private_copy(bytes(source)) as path:
            check_header(probe_video(path, name, timeout_s), name, seg, max_s)
        return
    path = Path(source)
    check_header(probe_video(path, path.name, timeout_s), path.name, seg, max_s)


def decode(source: bytes | Path, params: VideoParams, limits=None):
    """``segments.decode``; a video without an analysable face raises :class:`NoFaceError`.

    An upload's decode (frames, faces and audio together) is bounded by the video's own
    ``segments.ffmpeg_timeout_s``, not by the audio uploads' ``security.uploads`` bound:
    MTCNN on a 30 s 720p video alone takes about a minute on two CPU cores.
    """
    if limits is not None:
        limits = replace(limits, ffmpeg_timeout_s=params.segments.ffmpeg_timeout_s)
    try:
        return decode_segments(source, params, limits)
    except NoFaceError:
        raise
    except VideoContentError as exc:
        if FACE_WORD in str(exc):
            raise NoFaceError(str(exc)) from exc
        raise


def prepare(media, params: VideoParams):
    """``segments.prepare``; too few face frames for any window raises :class:`NoFaceError`."""
    from veracity.modalities.video.segments import prepare as prepare_segments

    try:
        return prepare_segments(media, params)
    except VideoContentError as exc:
        raise NoFaceError(str(exc)) from exc
