"""Decode audio bytes or files into float32 sample arrays.

soundfile (libsndfile) reads WAV, FLAC, OGG/Vorbis/Opus and MP3 directly; anything it
does not recognise (m4a/AAC, video containers, ...) goes through the ffmpeg binary,
which converts it to WAV on a pipe. Every failure becomes an :class:`AudioDecodeError`
(bytes that are not audio, truncated files) or an :class:`AudioContentError` (audio
that decodes but is unusable: no samples, NaN or Inf), never a bare stack trace.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf

from veracity.errors import AudioContentError, AudioDecodeError
from veracity.media.ffmpeg import decode_mono

log = logging.getLogger(__name__)

# libsndfile says this when it does not know the container at all; only then is ffmpeg
# worth trying. A file it recognises but fails to read (truncated FLAC) is broken, and
# ffmpeg would happily return the readable prefix, hiding the damage.
_UNKNOWN_FORMAT_HINTS = ("format not recognised", "unimplemented format", "unsupported")
_FFMPEG_TIMEOUT_S = 120
_EXACT_LENGTH_FORMATS = frozenset({"FLAC", "WAV", "WAVEX", "RF64", "W64", "AIFF", "CAF"})


def check_samples(wave: np.ndarray, source: str) -> np.ndarray:
    """Return ``wave`` if it holds at least one sample and only finite values.

    Raises :class:`AudioContentError` naming ``source`` otherwise.
    """
    if wave.size == 0:
        raise AudioContentError(
            f"expected audio samples in {source}, got none (0 samples); "
            "send a recording with sound in it"
        )
    if not np.isfinite(wave).all():
        bad = int((~np.isfinite(wave)).sum())
        raise AudioContentError(
            f"expected finite samples in {source}, got {bad} NaN/Inf values of {wave.size}; "
            "re-export the recording from its source"
        )
    return wave


def _read_soundfile(source, name: str) -> tuple[np.ndarray, int] | None:
    """Decode with soundfile; ``None`` when libsndfile does not know the format."""
    try:
        with sf.SoundFile(source) as handle:
            sr = handle.samplerate
            # Only these containers state an exact length; MP3/OGG lengths are estimates.
            expected = handle.frames if handle.format in _EXACT_LENGTH_FORMATS else 0
            data = handle.read(dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError, ValueError) as exc:
        if any(hint in str(exc).lower() for hint in _UNKNOWN_FORMAT_HINTS):
            return None
        raise AudioDecodeError(
            f"expected a readable audio file in {name}, but decoding failed ({exc}); "
            "the file is probably truncated or corrupt: re-export or re-download it"
        ) from exc
    # FLAC/WAV headers state the length; a shorter read means the file was cut off.
    if 0 < expected < 2**62 and data.shape[0] < expected:
        raise AudioDecodeError(
            f"expected {expected} samples in {name} (from its header), decoded only "
            f"{data.shape[0]}; the file is truncated: re-export or re-download it"
        )
    return np.ascontiguousarray(data.T), int(sr)


def _read_ffmpeg(path: Path, name: str) -> tuple[np.ndarray, int]:
    """Decode any allow-listed container with ffmpeg (hardened: see media.ffmpeg)."""
    return decode_mono(path, name, sample_rate=None, max_seconds=None, timeout_s=_FFMPEG_TIMEOUT_S)


@contextlib.contextmanager
def private_copy(data: bytes) -> Iterator[Path]:
    """Write ``data`` alone into a fresh private temporary directory; remove it after.

    ffmpeg needs a seekable file for MP4-family containers; alone in its directory, the
    upload has no neighbour that a crafted container could name.
    """
    with tempfile.TemporaryDirectory(prefix="veracity-decode-") as folder:
        path = Path(folder) / "upload"
        path.write_bytes(data)
        yield path


def decode_audio(data: bytes) -> tuple[np.ndarray, int]:
    """Decode an in-memory audio file into ``([channels, samples] float32, sample_rate)``.

    soundfile first; ffmpeg for formats it does not know (the bytes go through a
    temporary file because MP4-family containers need a seekable input).
    """
    if not isinstance(data, bytes | bytearray | memoryview) or len(data) == 0:
        raise AudioDecodeError(
            f"expected the bytes of an audio file, got {type(data).__name__} of length "
            f"{len(data) if hasattr(data, '__len__') else '?'}; send a non-empty audio file"
        )
    name = f"the uploaded audio ({len(data)} bytes)"
    result = _read_soundfile(io.BytesIO(bytes(data)), name)
    if result is None:
        with private_copy(data) as tmp:
            result = _read_ffmpeg(tmp, name)
    wave, sr = result
    return check_samples(wave, name), sr


def load_waveform(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read an audio (or video) file into ``([channels, samples] float32, sample_rate)``."""
    path = Path(path)
    if not path.is_file():
        raise AudioDecodeError(f"expected an audio file at {path}, but there is no such file")
    result = _read_soundfile(str(path), str(path))
    if result is None:
        log.debug("soundfile does not know %s; decoding with ffmpeg", path)
        result = _read_ffmpeg(path, str(path))
    wave, sr = result
    return check_samples(wave, str(path)), sr
