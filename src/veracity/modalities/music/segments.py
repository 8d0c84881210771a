"""Music media -> :class:`Segments`: the one preparation that training and serving share.

``decode`` reads bytes or a file (soundfile first, ffmpeg for what it does not know, via
:mod:`veracity.media.decode`), refusing recordings longer than ``max_duration_s`` from the
header before decoding them when the header says so. ``prepare`` mixes to mono, resamples
to 16 kHz and cuts 5 s segments: a training file (one segment long) gives one segment,
padded by repetition when short; a long song gives overlapping segments whose last one
ends at the song's end, so the timeline covers it. Inputs: ``logmel [N, 128, T]``
(seed 001's mel, normalised) and ``waveform [N, 80000]`` (the AST detectors compute AST's
own Kaldi fbank from it, so the segment store holds one format).
"""

from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile as sf
import torch
import torchaudio
import torchaudio.functional as AF

from veracity.errors import AudioContentError, PayloadTooLargeError
from veracity.media.decode import check_samples
from veracity.media.upload import decode_source
from veracity.modalities.base import Segments
from veracity.modalities.music.descriptors import compute_descriptors
from veracity.modalities.music.params import MusicParams, MusicSegmentParams


class MusicMedia(NamedTuple):
    """A decoded recording: ``wave [channels, samples]`` (or ``[samples]``) float32 at
    ``sample_rate``; unpacks as ``(wave, sr)`` like every audio modality's media."""

    wave: np.ndarray
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return self.wave.shape[-1] / self.sample_rate


def _header_duration(source: bytes | Path) -> float | None:
    try:
        info = sf.info(io.BytesIO(bytes(source)) if isinstance(source, bytes) else str(source))
    except Exception:  # noqa: BLE001 - unknown container: ffmpeg decodes it, checked after
        return None
    return float(info.duration) if info.samplerate > 0 else None


def _check_duration(duration: float, seg: MusicSegmentParams, name: str) -> None:
    if duration > seg.max_duration_s:
        raise PayloadTooLargeError(
            f"expected at most {seg.max_duration_s:.0f} s of audio in {name}, got "
            f"{duration:.1f} s; send a shorter excerpt or raise "
            "modalities.music.segments.max_duration_s"
        )
    if duration < seg.min_duration_s:
        raise AudioContentError(
            f"expected at least {seg.min_duration_s} s of audio in {name}, got "
            f"{duration:.2f} s; send a longer recording"
        )


def decode(source: bytes | Path | str, params: MusicParams, limits=None) -> MusicMedia:
    """Decode ``source`` (file bytes or a path) into :class:`MusicMedia` within the bounds.

    Uploads with ``limits`` (serving) take the bounded decoder every modality shares
    (header checked, decoded in blocks, compressed formats at the segment rate); a corpus
    file's header duration is checked against ``segments.max_duration_s`` before decoding.
    """
    seg = params.segments
    if isinstance(source, bytearray | memoryview):
        source = bytes(source)
    name = "the uploaded audio" if isinstance(source, bytes) else str(source)
    if not isinstance(source, bytes):
        source = Path(source)
    if limits is None:
        header = _header_duration(source)
        if header is not None and header > seg.max_duration_s:
            _check_duration(header, seg, name)
    wave, sr = decode_source(source, limits, seg.sample_rate)
    media = MusicMedia(np.asarray(wave, dtype=np.float32), int(sr))
    _check_duration(media.duration_s, seg, name)
    return media


def to_mono_16k(wave: np.ndarray, sr: int, seg: MusicSegmentParams) -> np.ndarray:
    """Mono float32 at ``seg.sample_rate``."""
    wave = np.asarray(wave, dtype=np.float32)
    check_samples(wave, "the waveform")
    mono = wave.mean(axis=0) if wave.ndim == 2 else wave
    if sr != seg.sample_rate:
        x = torch.from_numpy(np.ascontiguousarray(mono))
        mono = AF.resample(x, sr, seg.sample_rate).numpy()
    return np.ascontiguousarray(mono, dtype=np.float32)


def segment_bounds(n_samples: int, seg: MusicSegmentParams) -> list[tuple[int, int]]:
    """``[(start, end)]`` sample bounds of the segments of an ``n_samples`` recording."""
    length = seg.segment_samples
    tolerance = int(round(seg.single_segment_tolerance_s * seg.sample_rate))
    if n_samples <= length + tolerance:
        return [(0, min(n_samples, length))]
    hop = max(1, int(round(length * (1.0 - seg.overlap))))
    starts = list(range(0, n_samples - length + 1, hop))
    if starts[-1] + length < n_samples:
        starts.append(n_samples - length)  # the last segment ends at the end
    return [(s, s + length) for s in starts]


def pad_repeat(x: np.ndarray, length: int) -> np.ndarray:
    """``x`` tiled to ``length`` samples (seed/AASIST convention for short input)."""
    if x.size >= length:
        return x[:length]
    return np.tile(x, int(np.ceil(length / max(x.size, 1))))[:length]


@functools.lru_cache(maxsize=4)
def _mel(seg: MusicSegmentParams) -> torchaudio.transforms.MelSpectrogram:
    return torchaudio.transforms.MelSpectrogram(
        sample_rate=seg.sample_rate,
        n_fft=seg.n_fft,
        hop_length=seg.hop_length,
        f_min=seg.f_min,
        f_max=seg.f_max,
        n_mels=seg.n_mels,
        power=2.0,
    )


def logmel(waveforms: np.ndarray | torch.Tensor, seg: MusicSegmentParams) -> np.ndarray:
    """Normalised log-mel ``[N, n_mels, T]`` of waveforms ``[N, L]`` (seed 001's mel)."""
    x = torch.as_tensor(np.asarray(waveforms, dtype=np.float32))
    with torch.no_grad():
        mel = torch.log(torch.clamp(_mel(seg)(x), min=seg.log_floor))
    if seg.normalisation == "per_segment":
        mean = mel.mean(dim=(1, 2), keepdim=True)
        std = mel.std(dim=(1, 2), keepdim=True).clamp(min=1e-5)
        mel = (mel - mean) / std
    elif seg.normalisation == "global":
        mel = (mel - seg.global_mean) / seg.global_std
    return mel.numpy().astype(np.float32)


def prepare(media: MusicMedia, params: MusicParams) -> Segments:
    """Cut ``media`` into the segments every music detector reads."""
    seg = params.segments
    mono = to_mono_16k(media.wave, media.sample_rate, seg)
    bounds = segment_bounds(mono.size, seg)
    waves = np.stack([pad_repeat(mono[s:e], seg.segment_samples) for s, e in bounds])
    sr = seg.sample_rate
    starts = np.array([s / sr for s, _ in bounds], dtype=np.float64)
    ends = np.array([min(e, mono.size) / sr for _, e in bounds], dtype=np.float64)
    channels = media.wave.shape[0] if media.wave.ndim == 2 else 1
    return Segments(
        inputs={"logmel": logmel(waves, seg), "waveform": waves.astype(np.float32)},
        starts_s=starts,
        ends_s=ends,
        descriptors=compute_descriptors(mono, sr, params, media.sample_rate),
        duration_s=mono.size / sr,
        info={
            "sample_rate": int(media.sample_rate),
            "channels": int(channels),
            "segment_s": seg.segment_s,
            "overlap": seg.overlap if len(bounds) > 1 else 0.0,
            "n_segments": len(bounds),
        },
    )
