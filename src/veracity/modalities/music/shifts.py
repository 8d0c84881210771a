"""Deployment shifts a music detector meets: low-bitrate MP3, resampling, noise.

Pure waveform functions (1-D float32 mono in, a new array out) reusing the voice shifts of
:mod:`veracity.media.shifts`; used by the drift demo and robustness checks.
"""

from __future__ import annotations

import numpy as np
import torch
import torchaudio.functional as AF

from veracity.errors import InputError
from veracity.media.shifts import add_noise, codec_roundtrip
from veracity.modalities.music.params import MusicShiftParams

SHIFT_NAMES = ("mp3", "resample", "noise")


def mp3_low_bitrate(wave: np.ndarray, sr: int, bitrate: str) -> np.ndarray:
    """An MP3 (libmp3lame) round trip at ``bitrate`` (e.g. 32k), same rate and length."""
    return codec_roundtrip(wave, sr, "libmp3lame", "mp3", bitrate)


def resample_roundtrip(wave: np.ndarray, sr: int, low_sr: int) -> np.ndarray:
    """Down to ``low_sr`` and back to ``sr``: everything above ``low_sr / 2`` is gone."""
    if not 0 < low_sr < sr:
        raise InputError(f"expected 0 < low_sr < {sr}, got {low_sr}")
    x = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
    y = AF.resample(AF.resample(x, sr, low_sr), low_sr, sr)[: x.shape[0]]
    return np.clip(y.numpy(), -1.0, 1.0).astype(np.float32)


def apply_shift(
    name: str, wave: np.ndarray, sr: int, shifts: MusicShiftParams, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """Apply the named music shift with ``modalities.music.shifts``; ``(wave, sr)``."""
    if name == "mp3":
        return mp3_low_bitrate(wave, sr, shifts.mp3_bitrate), sr
    if name == "resample":
        return resample_roundtrip(wave, sr, shifts.resample_hz), sr
    if name == "noise":
        return add_noise(wave, shifts.noise_snr_db, rng), sr
    raise InputError(f"expected a music shift among {SHIFT_NAMES}, got {name!r}")


def shift(name: str, media, params, rng: np.random.Generator):
    """``media`` (``(wave, sr)``) after the deployment shift ``name`` of ``params.robustness``
    (the contract's ``shift`` hook: robustness report and drift demo), as mono ``[1, S]``."""
    from veracity.modalities.music.segments import MusicMedia

    wave, sr = media
    mono = np.asarray(wave, dtype=np.float32)
    mono = mono.mean(axis=0) if mono.ndim == 2 else mono
    out, out_sr = apply_shift(name, mono, int(sr), params.shifts, rng)
    return MusicMedia(np.asarray(out, dtype=np.float32)[None, :], int(out_sr))
