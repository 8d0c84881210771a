"""Voice: one call from decoded audio to the windows the detectors read and the descriptors.

The features step and the serving transformer both call :func:`prepare`, so a recording is
prepared identically in training and in serving (no training/serving skew). The window
length, overlap, VAD and feature settings come from ``modalities.voice.segments`` — in
serving, from the copy of that section inside the approved bundle.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from veracity.media.signal import make_windows, prepare_waveform, speech_bounds
from veracity.media.upload import decode_source
from veracity.modalities.base import Segments
from veracity.modalities.voice.descriptors import extract_handcrafted
from veracity.modalities.voice.params import VoiceParams

WAVEFORM = "waveform"


def decode(source: bytes | Path, params: VoiceParams, limits=None) -> tuple[np.ndarray, int]:
    """Decode an upload (bytes) or a corpus file (path) into ``(wave [C, S] | [S], sr)``.

    With ``limits`` (uploads) the header is checked and the audio decoded in bounded blocks
    (:func:`veracity.media.upload.decode_upload`), compressed formats at the segment rate.
    """
    return decode_source(source, limits, params.segments.sample_rate)


def prepare(media: tuple[np.ndarray, int], params: VoiceParams) -> Segments:
    """Mono + resample, trim silence, cut windows, describe.

    ``media`` is ``(wave, sr)`` as :func:`decode` returns it. ``inputs["waveform"]`` [N, L]
    are windows of the VAD-trimmed signal (repeat-padded like the AASIST reference, 50 %
    overlap by default); ``starts_s``/``ends_s`` place them in the untrimmed recording. The
    descriptors (hand-crafted features, duration, source sample rate, speech ratio) come
    from the untrimmed waveform: pauses and the noise floor live in the silence.
    Raises :class:`AudioContentError` for empty or non-finite audio.
    """
    wave, source_sr = media
    seg = params.segments
    sr = seg.sample_rate
    mono = prepare_waveform(wave, source_sr, sr)
    start, end, speech_ratio = speech_bounds(mono, sr, seg.vad)
    windows, starts = make_windows(mono[start:end], seg.window_samples, seg.window_overlap)
    starts = starts + start
    ends = np.minimum(starts + seg.window_samples, mono.shape[0])
    duration = mono.shape[0] / sr
    descriptors = {
        **extract_handcrafted(mono, sr, seg),
        "duration_s": duration,
        "sample_rate": float(source_sr),
        "speech_ratio": float(speech_ratio),
    }
    return Segments(
        inputs={WAVEFORM: windows},
        starts_s=starts / sr,
        ends_s=ends / sr,
        descriptors=descriptors,
        duration_s=duration,
        info={
            "sample_rate": int(source_sr),
            "speech_ratio": float(speech_ratio),
            "n_segments": int(windows.shape[0]),
        },
    )
