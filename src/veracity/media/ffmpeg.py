"""The ffmpeg and ffprobe binaries, run on untrusted files with bounded effects.

An upload must not steer ffmpeg: both binaries read only the one local file they are
given (``-protocol_whitelist file``) through an allow-listed demuxer
(``-format_whitelist``), so playlist-like containers (``ffconcat``, HLS, ...) that name
other files or URLs are refused before anything else is opened. The caller puts the
upload alone in a fresh temporary directory, so there is no neighbour to reach anyway.
Decoding writes raw mono float32 at one rate to a pipe, cut at ``-t`` and at a byte cap
that is enforced while reading, and killed after a timeout.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from veracity.errors import AudioDecodeError, PayloadTooLargeError

log = logging.getLogger(__name__)

# Demuxers that hold one audio (or audio-visual) stream and never open other inputs.
# This is a security policy (which parsers untrusted bytes may reach), not a tunable.
DEMUXERS = (
    "mov", "matroska", "mp3", "ogg", "aac", "wav", "flac", "avi", "asf", "aiff", "caf",
    "w64", "amr", "au", "mpegts", "mpeg",
)  # fmt: skip
_READ_CHUNK = 1 << 16


@dataclass(frozen=True)
class Probe:
    """What ffprobe read from a container's header."""

    format_name: str
    sample_rate: int
    channels: int
    duration_s: float | None


def require_binary(binary: str, name: str) -> str:
    """The path of ``binary`` (ffmpeg/ffprobe); a clear error naming the media when absent."""
    path = shutil.which(binary)
    if path is None:
        raise AudioDecodeError(
            f"{name} is not in a format soundfile reads and the {binary} binary is not "
            "installed; install ffmpeg (apt-get install ffmpeg) or send WAV/FLAC"
        )
    return path


def input_args(path: Path) -> list[str]:
    """The hardened input arguments: local files only, allow-listed demuxers."""
    return ["-protocol_whitelist", "file", "-format_whitelist", ",".join(DEMUXERS), "-i",
            str(path)]  # fmt: skip


def failure_reason(stderr: bytes, path: Path, returncode: int) -> str:
    """ffmpeg's last error line (or the exit status), the temporary path hidden."""
    lines = stderr.decode(errors="replace").strip().splitlines()
    reason = lines[-1] if lines else f"exit status {returncode}"
    return reason.replace(str(path), "input")  # hide temporary file names


def probe(path: Path, name: str, timeout_s: float) -> Probe:
    """Read format, rate, channels and duration of the first audio stream (no decoding)."""
    cmd = [require_binary("ffprobe", name), "-v", "error", *input_args(path)[:-2],
           "-select_streams", "a:0", "-show_entries",
           "format=format_name,duration:stream=sample_rate,channels,duration",
           "-of", "json", str(path)]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise AudioDecodeError(
            f"expected ffprobe to read the header of {name} within {timeout_s:g} s, it did "
            "not; send WAV, FLAC, OGG, MP3 or M4A"
        ) from exc
    info = json.loads(proc.stdout or b"{}") if proc.returncode == 0 else {}
    streams = info.get("streams") or []
    if not streams:
        why = failure_reason(proc.stderr, path, proc.returncode) if proc.returncode else "no audio"
        raise AudioDecodeError(
            f"expected audio in {name}, but neither soundfile nor ffmpeg could decode it "
            f"as one of the accepted containers ({', '.join(DEMUXERS)}): {why}; send WAV, "
            "FLAC, OGG, MP3, M4A or a video file with an audio track"
        )
    stream, fmt = streams[0], info.get("format") or {}
    duration = stream.get("duration") or fmt.get("duration")
    try:
        return Probe(
            format_name=str(fmt.get("format_name", "unknown")),
            sample_rate=int(stream.get("sample_rate") or 0),
            channels=int(stream.get("channels") or 0),
            duration_s=float(duration) if duration not in (None, "N/A") else None,
        )
    except ValueError as exc:
        raise AudioDecodeError(f"ffprobe returned an unreadable header for {name}: {exc}") from exc


def decode_mono(
    path: Path,
    name: str,
    *,
    sample_rate: int | None,
    max_seconds: float | None,
    timeout_s: float,
) -> tuple[np.ndarray, int]:
    """Decode the first audio stream to mono float32 ``[1, samples]`` on a pipe.

    ``sample_rate`` None keeps the source rate (read with ffprobe first). With
    ``max_seconds`` ffmpeg stops after that much audio plus one second, and more output
    than ``max_seconds`` raises :class:`PayloadTooLargeError` without reading further.
    """
    rate = sample_rate or probe(path, name, timeout_s).sample_rate
    if rate <= 0:
        raise AudioDecodeError(f"expected a positive sample rate in {name}, got {rate}")
    cmd = [require_binary("ffmpeg", name), "-nostdin", "-v", "error", "-xerror", *input_args(path),
           "-map", "0:a:0", "-vn", "-ac", "1", "-ar", str(rate)]  # fmt: skip
    cap = None
    if max_seconds is not None:
        cmd += ["-t", f"{max_seconds + 1.0:g}"]
        cap = int(max_seconds * rate) * 4
    cmd += ["-f", "f32le", "-acodec", "pcm_f32le", "pipe:1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    killer = threading.Timer(timeout_s, proc.kill)
    killer.start()
    chunks, total, over = [], 0, False
    stderr = b""
    try:
        while chunk := proc.stdout.read(_READ_CHUNK):
            total += len(chunk)
            if cap is not None and total > cap:
                over = True
                proc.kill()
                break
            chunks.append(chunk)
        stderr = proc.stderr.read()
        proc.wait()
    finally:
        killer.cancel()
        proc.stdout.close()
        proc.stderr.close()
    if over:
        raise PayloadTooLargeError(
            f"expected a recording of at most {max_seconds:g} s, got more from {name}; "
            "cut it into shorter parts"
        )
    if proc.returncode != 0 or total == 0:
        timed_out = proc.returncode == -9
        reason = "timed out" if timed_out else failure_reason(stderr, path, proc.returncode)
        raise AudioDecodeError(
            f"expected audio in {name}, but neither soundfile nor ffmpeg could decode it "
            f"({reason}); send WAV, FLAC, OGG, MP3, M4A or a video file with an audio track"
        )
    data = b"".join(chunks)
    wave = np.frombuffer(data[: len(data) - len(data) % 4], dtype="<f4").astype(np.float32)
    return wave[None, :], int(rate)
