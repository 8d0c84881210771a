"""Deployment shifts of voice recordings: what a served clip may have gone through.

The drift demo and the robustness report apply them to eval clips; the signal processing
itself is shared (:mod:`veracity.media.shifts`), the settings are ``modalities.voice.shifts``.
"""

from __future__ import annotations

import numpy as np

from veracity.media.shifts import SHIFT_NAMES, apply_shift
from veracity.modalities.voice.params import VoiceParams

__all__ = ["SHIFT_NAMES", "shift"]


def shift(
    name: str, media: tuple[np.ndarray, int], params: VoiceParams, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """``(wave, sr)`` after the deployment shift ``name`` (one of :data:`SHIFT_NAMES`)."""
    wave, sr = media
    return apply_shift(name, wave, sr, params.shifts, rng)
