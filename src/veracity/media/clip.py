"""One call from decoded audio to everything the detectors and the monitor need.

The features step and the serving transformer both call :func:`prepare_clip`, so a clip
is prepared identically in training and in serving (no training/serving skew).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from veracity.config import FeaturesConfig
from veracity.media.handcrafted import extract_handcrafted
from veracity.media.signal import make_windows, prepare_waveform, speech_bounds


@dataclass(frozen=True)
class ClipFeatures:
    """A prepared clip.

    ``waveform``: mono float32 at ``features.sample_rate``, untrimmed. ``windows`` [N, L]
    come from the VAD-trimmed signal; ``window_starts`` [N] are their first samples in
    ``waveform`` (so a per-window timeline is in the clip's own time). ``handcrafted``
    is computed on the untrimmed waveform (pauses and the noise floor live in silence).
    """

    waveform: np.ndarray
    sample_rate: int
    speech_ratio: float
    windows: np.ndarray
    window_starts: np.ndarray
    handcrafted: dict[str, float]
    duration_s: float

    @property
    def n_windows(self) -> int:
        return int(self.windows.shape[0])


def prepare_clip(wave: np.ndarray, sr: int, features_cfg: FeaturesConfig) -> ClipFeatures:
    """Mono + resample, trim silence, window and extract hand-crafted features.

    ``wave`` is ``[channels, samples]`` or 1-D at ``sr`` (as decode_audio returns it).
    Raises :class:`AudioContentError` for empty or non-finite audio.
    """
    target = features_cfg.sample_rate
    mono = prepare_waveform(wave, sr, features_cfg)
    start, end, speech_ratio = speech_bounds(mono, target, features_cfg.vad)
    windows, starts = make_windows(
        mono[start:end], features_cfg.window_samples, features_cfg.window_overlap
    )
    return ClipFeatures(
        waveform=mono,
        sample_rate=target,
        speech_ratio=float(speech_ratio),
        windows=windows,
        window_starts=starts + start,
        handcrafted=extract_handcrafted(mono, target, features_cfg),
        duration_s=mono.shape[0] / target,
    )
