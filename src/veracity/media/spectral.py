"""Log-mel spectrograms (torchaudio) of fixed-length windows."""

from __future__ import annotations

import functools

import numpy as np
import torch
import torchaudio

from veracity.config import LogMelConfig


@functools.lru_cache(maxsize=8)
def _mel_transform(sr: int, cfg: LogMelConfig) -> torchaudio.transforms.MelSpectrogram:
    # Building the mel filterbank costs more than transforming one window; reuse it.
    return torchaudio.transforms.MelSpectrogram(
        sample_rate=sr,
        n_fft=cfg.n_fft,
        win_length=cfg.win_length,
        hop_length=cfg.hop_length,
        f_min=cfg.f_min,
        f_max=cfg.f_max,
        n_mels=cfg.n_mels,
        power=2.0,
    )


def compute_logmel(
    windows: np.ndarray | torch.Tensor, sr: int, logmel_cfg: LogMelConfig
) -> torch.Tensor:
    """Log-mel power spectrogram ``[N, n_mels, frames]`` (float32) of windows ``[N, L]``.

    ``log(max(mel, log_floor))``: the floor keeps digital silence finite.
    """
    x = torch.as_tensor(windows, dtype=torch.float32)
    if x.ndim == 1:
        x = x[None, :]
    with torch.no_grad():
        mel = _mel_transform(sr, logmel_cfg)(x)
    return torch.log(mel.clamp_min(logmel_cfg.log_floor))
