"""Waveform preparation: mono mixdown, resampling, energy VAD and fixed-length windows."""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
import torchaudio.functional as AF

from veracity.config import VadConfig
from veracity.errors import AudioContentError
from veracity.media.decode import check_samples

log = logging.getLogger(__name__)


def prepare_waveform(wave: np.ndarray, sr: int, target: int) -> np.ndarray:
    """Mix ``wave`` ([channels, samples] or 1-D) down to mono and resample it.

    Returns a contiguous float32 1-D array at ``target`` Hz. Empty input or
    NaN/Inf samples raise :class:`AudioContentError`.
    """
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim not in (1, 2):
        raise AudioContentError(
            f"expected a waveform shaped [samples] or [channels, samples], got shape "
            f"{wave.shape}; pass the output of decode_audio/load_waveform"
        )
    if sr <= 0:
        raise AudioContentError(f"expected a positive sample rate, got {sr}")
    check_samples(wave, "the waveform")
    mono = wave.mean(axis=0) if wave.ndim == 2 else wave
    if sr != target:
        mono = AF.resample(torch.from_numpy(np.ascontiguousarray(mono)), sr, target).numpy()
    return np.ascontiguousarray(mono, dtype=np.float32)


def frame_signal(wave: np.ndarray, frame: int, hop: int) -> np.ndarray:
    """Split a 1-D signal into frames [n_frames, frame] (a strided view; no copy).

    A signal shorter than one frame is zero-padded to one frame.
    """
    if wave.shape[0] < frame:
        wave = np.pad(wave, (0, frame - wave.shape[0]))
    return np.lib.stride_tricks.sliding_window_view(wave, frame)[::hop]


def frame_energy_db(frames: np.ndarray, floor_db: float) -> np.ndarray:
    """Mean power per frame in dBFS, clamped below at ``floor_db``."""
    power = np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / frames.shape[1]
    return np.maximum(10.0 * np.log10(np.maximum(power, 1e-300)), floor_db)


def speech_frames(wave: np.ndarray, sr: int, vad_cfg: VadConfig) -> tuple[np.ndarray, int, int]:
    """Per-frame speech decisions of the energy VAD, with the frame and hop in samples.

    A frame is speech when it is within ``threshold_db`` of the loudest frame and above
    the absolute ``floor_db`` (so digital silence is never speech).
    """
    frame = max(1, round(vad_cfg.frame_ms * sr / 1000))
    hop = max(1, round(vad_cfg.hop_ms * sr / 1000))
    energy = frame_energy_db(frame_signal(wave, frame, hop), vad_cfg.floor_db)
    is_speech = (energy >= energy.max() + vad_cfg.threshold_db) & (energy > vad_cfg.floor_db)
    return is_speech, frame, hop


def speech_bounds(wave: np.ndarray, sr: int, vad_cfg: VadConfig) -> tuple[int, int, float]:
    """``(start, end, speech_ratio)``: the sample span from first to last speech frame.

    With less speech than ``min_speech_ms`` the whole signal is kept and the ratio is 0.
    """
    is_speech, frame, hop = speech_frames(wave, sr, vad_cfg)
    n_speech = int(is_speech.sum())
    if n_speech * hop < vad_cfg.min_speech_ms * sr / 1000:
        return 0, wave.shape[0], 0.0
    idx = np.flatnonzero(is_speech)
    start = int(idx[0]) * hop
    end = min(wave.shape[0], int(idx[-1]) * hop + frame)
    return start, end, n_speech / is_speech.shape[0]


def trim_silence(wave: np.ndarray, sr: int, vad_cfg: VadConfig) -> tuple[np.ndarray, float]:
    """Trim leading and trailing silence; return ``(trimmed, speech_ratio)``.

    ``speech_ratio`` is the share of VAD frames above the threshold. The signal is never
    trimmed to nothing: when no speech is found it is returned whole with ratio 0.
    """
    start, end, ratio = speech_bounds(wave, sr, vad_cfg)
    return wave[start:end], ratio


def window_hop(window_samples: int, overlap: float) -> int:
    """Hop between consecutive windows: ``window_samples * (1 - overlap)``, at least 1."""
    return max(1, round(window_samples * (1.0 - overlap)))


def make_windows(
    wave: np.ndarray, window_samples: int, overlap: float
) -> tuple[np.ndarray, np.ndarray]:
    """Cut a 1-D signal into fixed-length windows; return ``(windows [N, L], starts [N])``.

    A clip shorter than ``L`` is padded by repetition exactly as the AASIST reference does
    (``np.tile(x, int(L / len(x)) + 1)[:L]``); a longer one is split with ``overlap`` and
    the last window is aligned to the end of the clip, so every sample is covered.
    """
    wave = np.asarray(wave, dtype=np.float32)
    length = wave.shape[0]
    if wave.ndim != 1 or length == 0:
        raise AudioContentError(
            f"expected a non-empty 1-D waveform to window, got shape {wave.shape}; "
            "the clip holds no samples"
        )
    L = window_samples
    if length <= L:
        tiled = np.tile(wave, int(L / length) + 1)[:L]
        return tiled[None, :], np.zeros(1, dtype=np.int64)
    hop = window_hop(L, overlap)
    n = math.ceil((length - L) / hop) + 1
    starts = np.minimum(np.arange(n, dtype=np.int64) * hop, length - L)
    windows = np.lib.stride_tricks.sliding_window_view(wave, L)[starts]
    return np.ascontiguousarray(windows), starts
