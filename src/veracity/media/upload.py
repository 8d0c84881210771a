"""Bounded decoding of untrusted uploads: check the header, then decode in blocks.

A small compressed file can describe hours of many-channel audio (a 117 KB FLAC holds
300 s of 8-channel silence). So the header is read first: channels, sample rate and
duration are checked against the limits before one sample is decoded, and refusals cost
nothing. soundfile formats (WAV, FLAC, OGG, MP3) are then read in blocks of
``decode_block_frames``, each mixed down to mono at once, into a buffer of at most
``max_seconds`` of mono samples; any other container goes through ffprobe (bounded) and a
hardened ffmpeg (:mod:`veracity.media.ffmpeg`) that outputs mono at the target rate.

Only sample rates in ``allowed_sample_rates`` are accepted for soundfile formats: each of
them resamples to the model rate through a small polyphase kernel, whereas an odd rate
(16001 Hz) would need one the size of the rate ratio (gigabytes).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from veracity.config import Config
from veracity.errors import AudioContentError, AudioDecodeError, PayloadTooLargeError
from veracity.media.decode import (
    _EXACT_LENGTH_FORMATS,
    _UNKNOWN_FORMAT_HINTS,
    check_samples,
    private_copy,
)
from veracity.media.ffmpeg import decode_mono, probe

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DecodeLimits:
    """What an upload may hold (from params.yaml ``serving`` and ``security.uploads``)."""

    max_seconds: float
    max_channels: int
    allowed_sample_rates: tuple[int, ...]
    target_rate: int | None
    block_frames: int
    probe_timeout_s: float
    ffmpeg_timeout_s: float


def decode_limits(cfg: Config, target_rate: int | None = None) -> DecodeLimits:
    """The upload limits of a configuration; ``target_rate`` is the rate compressed formats
    are decoded to (the modality's segment rate: its ``decode`` sets it when None)."""
    up = cfg.security.uploads
    return DecodeLimits(
        max_seconds=cfg.serving.max_audio_seconds,
        max_channels=up.max_channels,
        allowed_sample_rates=tuple(up.allowed_sample_rates),
        target_rate=target_rate,
        block_frames=up.decode_block_frames,
        probe_timeout_s=up.ffprobe_timeout_s,
        ffmpeg_timeout_s=up.ffmpeg_timeout_s,
    )


def check_header(
    channels: int, sample_rate: int, seconds: float | None, name: str, limits: DecodeLimits
) -> None:
    """Refuse (before decoding) what the header says is too long, too wide or an odd rate."""
    if seconds is not None and seconds > limits.max_seconds:
        raise PayloadTooLargeError(
            f"expected a recording of at most {limits.max_seconds:g} s, got {seconds:.1f} s "
            f"(from the header of {name}); cut it into shorter parts"
        )
    if not 0 < channels <= limits.max_channels:
        raise AudioContentError(
            f"expected 1 to {limits.max_channels} channels, got {channels} in {name}; "
            "mix the recording down to mono or stereo"
        )
    if sample_rate not in limits.allowed_sample_rates:
        raise AudioContentError(
            f"expected a sample rate in {list(limits.allowed_sample_rates)} Hz, got "
            f"{sample_rate} Hz in {name}; resample the recording to one of them "
            "(e.g. ffmpeg -i in.wav -ar 16000 out.wav)"
        )


def decode_source(source, limits: DecodeLimits | None, rate: int) -> tuple[np.ndarray, int]:
    """``(wave, sr)`` of an upload (bytes: bounded by ``limits`` when given, compressed
    formats decoded at ``rate``) or of a corpus file (a path, checked at ingest)."""
    from dataclasses import replace

    from veracity.media.decode import decode_audio, load_waveform

    if isinstance(source, bytes | bytearray):
        if limits is None:
            return decode_audio(bytes(source))
        return decode_upload(bytes(source), replace(limits, target_rate=limits.target_rate or rate))
    return load_waveform(source)


def decode_upload(data: bytes, limits: DecodeLimits) -> tuple[np.ndarray, int]:
    """Decode an uploaded file to mono ``([1, samples] float32, sample_rate)`` within limits.

    Raises :class:`PayloadTooLargeError` (413) for too long recordings,
    :class:`AudioContentError` (422) for refused channel counts and sample rates and
    unusable audio, :class:`AudioDecodeError` (415) for what is not audio.
    """
    if not isinstance(data, bytes | bytearray | memoryview) or len(data) == 0:
        raise AudioDecodeError(
            f"expected the bytes of an audio file, got {type(data).__name__} of length "
            f"{len(data) if hasattr(data, '__len__') else '?'}; send a non-empty audio file"
        )
    name = f"the uploaded audio ({len(data)} bytes)"
    try:
        handle = sf.SoundFile(io.BytesIO(bytes(data)))
    except (sf.SoundFileError, RuntimeError, ValueError) as exc:
        if not any(hint in str(exc).lower() for hint in _UNKNOWN_FORMAT_HINTS):
            raise AudioDecodeError(
                f"expected a readable audio file in {name}, but its header is broken "
                f"({exc}); re-export or re-download it"
            ) from exc
        return _decode_other(data, name, limits)
    with handle:
        wave, sr = _read_blocks(handle, name, limits)
    return check_samples(wave, name), sr


def _read_blocks(handle: sf.SoundFile, name: str, limits: DecodeLimits):
    sr, channels = int(handle.samplerate), int(handle.channels)
    exact = handle.format in _EXACT_LENGTH_FORMATS
    stated = int(handle.frames) if 0 < handle.frames < 2**62 else 0
    check_header(channels, sr, stated / sr if sr and stated else None, name, limits)
    cap = int(limits.max_seconds * sr)
    out = np.empty(min(cap, stated) if exact and stated else cap, dtype=np.float32)
    filled = 0
    try:
        while True:
            block = handle.read(limits.block_frames, dtype="float32", always_2d=True)
            if block.shape[0] == 0:
                break
            if filled + block.shape[0] > cap:
                raise PayloadTooLargeError(
                    f"expected a recording of at most {limits.max_seconds:g} s, got more "
                    f"in {name} (its header understated the length); cut it into parts"
                )
            if filled + block.shape[0] > out.shape[0]:  # estimated lengths (MP3/OGG)
                out = np.resize(out, min(cap, 2 * (filled + block.shape[0])))
            out[filled : filled + block.shape[0]] = block.mean(axis=1)
            filled += block.shape[0]
    except (sf.SoundFileError, RuntimeError, ValueError) as exc:
        raise AudioDecodeError(
            f"expected a readable audio file in {name}, but decoding failed ({exc}); "
            "the file is probably truncated or corrupt: re-export or re-download it"
        ) from exc
    if exact and 0 < stated and filled < stated:
        raise AudioDecodeError(
            f"expected {stated} samples in {name} (from its header), decoded only "
            f"{filled}; the file is truncated: re-export or re-download it"
        )
    return out[None, :filled].copy(), sr


def _decode_other(data: bytes, name: str, limits: DecodeLimits) -> tuple[np.ndarray, int]:
    with private_copy(data) as path:
        info = probe(path, name, limits.probe_timeout_s)
        # ffmpeg resamples to the target rate itself (cheap for any rate), so only
        # length and width are checked here.
        allowed = (*limits.allowed_sample_rates, info.sample_rate)
        check_header(info.channels, info.sample_rate, info.duration_s, name,
                     _with_rates(limits, allowed))  # fmt: skip
        log.debug("decoding %s (%s) with ffmpeg", name, info.format_name)
        wave, sr = decode_mono(
            path,
            name,
            sample_rate=limits.target_rate,
            max_seconds=limits.max_seconds,
            timeout_s=limits.ffmpeg_timeout_s,
        )
    return check_samples(wave, name), sr


def _with_rates(limits: DecodeLimits, rates: tuple[int, ...]) -> DecodeLimits:
    return DecodeLimits(**{**limits.__dict__, "allowed_sample_rates": rates})
