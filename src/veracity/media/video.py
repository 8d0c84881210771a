"""Video files through the hardened ffmpeg/ffprobe (see media.ffmpeg): probe, frames, audio.

A video is probed before anything is decoded (container, codec, size, rate, duration);
the caller checks the header against its limits. Frames come one at a time from a pipe
at a uniform rate, scaled to a bounded size, so memory never holds the whole video.
The audio track is written by ffmpeg as 16-bit mono WAV at one rate into a private
temporary directory, read, and deleted before returning (seed 002 XI.12).
"""

from __future__ import annotations

import json
import logging
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from veracity.errors import (
    AudioContentError,
    AudioDecodeError,
    PayloadTooLargeError,
    ServingError,
)
from veracity.media.ffmpeg import failure_reason, input_args, require_binary

log = logging.getLogger(__name__)


class VideoDecodeError(AudioDecodeError):
    """Bytes could not be decoded as a supported video (HTTP 415)."""


class DecodeTimeoutError(ServingError):
    """A decode (frames and what the caller does with each) ran past its wall-clock bound:
    the server is busy, the file is fine (503, retryable)."""


class VideoContentError(AudioContentError):
    """A decodable video that cannot be analysed: refused codec or size, no face (422)."""


@dataclass(frozen=True)
class VideoProbe:
    """What ffprobe read from a video's header."""

    format_name: str
    codec: str
    width: int
    height: int
    fps: float
    duration_s: float | None
    has_audio: bool
    audio_rate: int = 0  # the first audio track's sample rate (0: no audio)
    audio_channels: int = 0


def _rate(text: str | None) -> float:
    try:
        value = float(Fraction(text or "0"))
    except (ValueError, ZeroDivisionError):
        return 0.0
    return value if np.isfinite(value) else 0.0


def probe_video(path: Path, name: str, timeout_s: float) -> VideoProbe:
    """Read container, first video stream and whether there is audio (no decoding)."""
    cmd = [require_binary("ffprobe", name), "-v", "error", *input_args(path)[:-2],
           "-show_entries", "format=format_name,duration:stream=codec_type,codec_name,width,"
           "height,avg_frame_rate,r_frame_rate,duration,sample_rate,channels", "-of", "json", str(path)]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise VideoDecodeError(
            f"expected ffprobe to read the header of {name} within {timeout_s:g} s, it did "
            "not; send an H.264 MP4 video"
        ) from exc
    info = json.loads(proc.stdout or b"{}") if proc.returncode == 0 else {}
    streams = info.get("streams") or []
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    if video is None:
        what = (
            "only audio"
            if any(s.get("codec_type") == "audio" for s in streams)
            else (
                failure_reason(proc.stderr, path, proc.returncode)
                if proc.returncode
                else "no streams"
            )
        )
        raise VideoDecodeError(
            f"expected a video stream in {name}, found {what}; send an H.264 MP4 video "
            "(audio-only files go to the voice or music endpoints)"
        )  # fmt: skip
    fmt = info.get("format") or {}
    duration = video.get("duration") or fmt.get("duration")
    audio = next((s for s in streams if s.get("codec_type") == "audio"), {})
    try:
        return VideoProbe(
            format_name=str(fmt.get("format_name", "unknown")),
            codec=str(video.get("codec_name", "unknown")),
            width=int(video.get("width") or 0),
            height=int(video.get("height") or 0),
            fps=_rate(video.get("avg_frame_rate")) or _rate(video.get("r_frame_rate")),
            duration_s=float(duration) if duration not in (None, "N/A") else None,
            has_audio=bool(audio),
            audio_rate=int(audio.get("sample_rate") or 0),
            audio_channels=int(audio.get("channels") or 0),
        )
    except ValueError as exc:
        raise VideoDecodeError(f"ffprobe returned an unreadable header for {name}: {exc}") from exc


def check_header(probe: VideoProbe, name: str, seg: Any, max_seconds: float) -> None:
    """Refuse (before decoding) a container, codec, size or duration outside ``seg`` (the
    video modality's segment params: containers, codecs, min/max height)."""
    if probe.format_name not in seg.containers:
        raise VideoContentError(
            f"expected an MP4/MOV container in {name}, got {probe.format_name!r}; remux it "
            "(ffmpeg -i in -c copy out.mp4)"
        )
    codecs = [*seg.mandatory_codecs, *seg.best_effort_codecs]
    if probe.codec not in codecs:
        raise VideoContentError(
            f"expected video codec {' or '.join(codecs)} in {name}, got {probe.codec!r}; "
            "re-encode it as H.264 (ffmpeg -i in -c:v libx264 -c:a aac out.mp4)"
        )
    if probe.codec in seg.best_effort_codecs:
        log.info("%s uses %s: decoded on a best-effort basis", name, probe.codec)
    short = min(probe.width, probe.height)
    if not seg.min_height <= short <= seg.max_height:
        raise VideoContentError(
            f"expected a resolution of {seg.min_height}p to {seg.max_height}p in {name}, "
            f"got {probe.width}x{probe.height}; rescale it into that range"
        )
    if probe.duration_s is not None and probe.duration_s > max_seconds:
        raise PayloadTooLargeError(
            f"expected a video of at most {max_seconds:g} s, got {probe.duration_s:.1f} s "
            f"(from the header of {name}); cut it into shorter parts"
        )
    if probe.duration_s is not None and probe.duration_s <= 0:
        raise VideoContentError(f"expected a video longer than 0 s in {name}, got 0 s")


def check_packets(path: Path, name: str, timeout_s: float) -> None:
    """Read every packet of every stream without decoding (``-c copy``): a truncated or
    corrupt container fails here, in a fraction of a decode's time."""
    cmd = [require_binary("ffmpeg", name), "-nostdin", "-v", "error", "-xerror", *input_args(path),
           "-map", "0", "-c", "copy", "-f", "null", "-"]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise VideoDecodeError(
            f"expected to read {name} within {timeout_s:g} s, it did not"
        ) from exc
    if proc.returncode != 0 or proc.stderr.strip():
        raise VideoDecodeError(
            f"expected a complete video in {name}, its packets do not read "
            f"({failure_reason(proc.stderr, path, proc.returncode)}); the file is probably truncated "
            "or corrupt: send an H.264 MP4 video"
        )


def scaled_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(w, h) with the longest side at most ``max_side``, aspect kept, both even."""
    scale = min(1.0, max_side / max(width, height))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def read_frames(path: Path, name: str, *, fps: float, size: tuple[int, int],
                max_seconds: float, timeout_s: float) -> Iterator[tuple[float, np.ndarray]]:  # fmt: skip
    """Yield ``(time_s, frame [h, w, 3] uint8)`` at a uniform ``fps`` for at most
    ``max_seconds``, scaled to ``size`` (w, h); killed after ``timeout_s``."""
    w, h = size
    cmd = [require_binary("ffmpeg", name), "-nostdin", "-v", "error", *input_args(path),
           "-map", "0:v:0", "-an", "-t", f"{max_seconds:g}",
           "-vf", f"fps={fps:g},scale={w}:{h}:flags=area", "-pix_fmt", "rgb24",
           "-f", "rawvideo", "pipe:1"]  # fmt: skip
    # stderr goes to a file, not a pipe: a pipe nobody reads until the end blocks ffmpeg
    # (and so the frames) once its 64 KiB fill up with warnings
    errors = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors)
    killer = threading.Timer(timeout_s, proc.kill)
    killer.start()
    frame_bytes, index = w * h * 3, 0
    try:
        while True:
            data = proc.stdout.read(frame_bytes)
            if len(data) < frame_bytes:
                break
            yield index / fps, np.frombuffer(data, np.uint8).reshape(h, w, 3)
            index += 1
        proc.wait()
    finally:
        timed_out = not killer.is_alive() and proc.returncode == -9
        killer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        errors.seek(0)
        stderr = errors.read(65536)
        errors.close()
    if timed_out:
        raise DecodeTimeoutError(
            f"expected to decode and analyse the frames of {name} within {timeout_s:g} s, "
            f"got {index} frames in that time (the server is busy); retry later"
        )
    if proc.returncode != 0 or index == 0:
        raise VideoDecodeError(
            f"expected decodable video frames in {name}, got {index} "
            f"({failure_reason(stderr, path, proc.returncode)}); the file "
            "is probably truncated or corrupt: re-export it as H.264 MP4"
        )


def extract_audio(path: Path, name: str, *, sample_rate: int, max_seconds: float,
                  timeout_s: float) -> np.ndarray:  # fmt: skip
    """The first audio track as mono float32 at ``sample_rate`` (via a temporary 16-bit
    WAV that is deleted before returning)."""
    with tempfile.TemporaryDirectory(prefix="veracity-audio-") as tmp:
        wav = Path(tmp) / "audio.wav"
        cmd = [require_binary("ffmpeg", name), "-nostdin", "-v", "error", "-xerror",
               *input_args(path), "-map", "0:a:0", "-vn", "-t", f"{max_seconds:g}",
               "-ac", "1", "-ar", str(sample_rate), "-c:a", "pcm_s16le", str(wav)]  # fmt: skip
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired as exc:
            raise VideoDecodeError(f"ffmpeg timed out reading the audio of {name}") from exc
        if proc.returncode != 0 or not wav.is_file():
            raise VideoDecodeError(
                f"expected a decodable audio track in {name}, ffmpeg failed "
                f"({failure_reason(proc.stderr, path, proc.returncode)}); re-export the video"
            )
        audio, _ = sf.read(wav, dtype="float32", always_2d=False)
    return np.asarray(audio, dtype=np.float32).reshape(-1)
