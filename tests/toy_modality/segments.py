"""Toy segments: non-overlapping windows of ``segment_samples`` (repeat-padded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toy_modality.descriptors import describe
from veracity.media.signal import prepare_waveform
from veracity.media.upload import decode_source
from veracity.modalities.base import Segments

WAVE = "wave"


def decode(source: bytes | Path, params, limits=None) -> tuple[np.ndarray, int]:
    # the platform's decoders raise AudioDecodeError (a 415) for what is not audio
    return decode_source(source, limits, params.segments.sample_rate)


def prepare(media, params) -> Segments:
    wave, sr = media
    seg = params.segments
    mono = prepare_waveform(wave, sr, seg.sample_rate)
    n = max(1, int(np.ceil(len(mono) / seg.segment_samples)))
    padded = np.resize(mono, n * seg.segment_samples)  # repeat-pad
    windows = padded.reshape(n, seg.segment_samples)
    starts = np.arange(n) * seg.segment_samples / seg.sample_rate
    ends = np.minimum(starts + seg.segment_samples / seg.sample_rate, len(mono) / seg.sample_rate)
    return Segments(
        inputs={WAVE: windows},
        starts_s=starts,
        ends_s=ends,
        descriptors=describe(mono, seg.sample_rate, sr),
        duration_s=len(mono) / seg.sample_rate,
        info={"sample_rate": sr},
    )
