"""prepare_clip (the one entry point of training and serving) and log-mel."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fixtures_features import SR, harmonic

from veracity.errors import AudioContentError
from veracity.media import HANDCRAFTED_NAMES, compute_logmel, prepare_clip


def test_prepare_clip_trims_windows_and_featurizes(cfg):
    f = cfg.modality_params("voice").segments
    speech = harmonic(160, 6.0)
    wave = np.concatenate([np.zeros(SR), speech, np.zeros(SR // 2)])
    clip = prepare_clip(wave[None, :], SR, f)
    assert clip.sample_rate == f.sample_rate
    assert clip.duration_s == pytest.approx(7.5)
    assert clip.windows.shape == (2, f.window_samples)  # 6 s of speech -> 2 windows
    # Starts are in the untrimmed clip's time: the first window begins where speech does.
    assert abs(int(clip.window_starts[0]) - SR) <= round(f.vad.frame_ms * SR / 1000)
    start = int(clip.window_starts[-1])
    np.testing.assert_array_equal(clip.windows[-1], clip.waveform[start : start + f.window_samples])
    assert 0.7 < clip.speech_ratio < 0.85
    assert tuple(clip.handcrafted) == HANDCRAFTED_NAMES
    assert clip.handcrafted["pitch_mean_hz"] == pytest.approx(160, rel=0.02)


def test_prepare_clip_of_silence_keeps_the_signal(cfg):
    clip = prepare_clip(np.zeros(SR, np.float32), SR, cfg.modality_params("voice").segments)
    assert clip.speech_ratio == 0.0
    assert clip.windows.shape == (1, cfg.modality_params("voice").segments.window_samples)
    assert np.isfinite(list(clip.handcrafted.values())).all()


def test_prepare_clip_rejects_empty_audio(cfg):
    with pytest.raises(AudioContentError):
        prepare_clip(np.zeros((1, 0), np.float32), SR, cfg.modality_params("voice").segments)


def test_logmel_shape_and_finite_on_silence(cfg):
    m = cfg.modality_params("voice").segments.logmel
    windows = np.zeros((3, cfg.modality_params("voice").segments.window_samples), np.float32)
    windows[0] = harmonic(200, cfg.modality_params("voice").segments.window_samples / SR)[: cfg.modality_params("voice").segments.window_samples]
    logmel = compute_logmel(windows, SR, m)
    frames = cfg.modality_params("voice").segments.window_samples // m.hop_length + 1
    assert logmel.shape == (3, m.n_mels, frames) and logmel.dtype == torch.float32
    assert torch.isfinite(logmel).all()
    assert logmel[1:].max() == pytest.approx(np.log(m.log_floor))
    # Energy of a 200 Hz tone sits in the low mel bands.
    band_energy = logmel[0].mean(dim=1)
    assert band_energy[: m.n_mels // 4].mean() > band_energy[-m.n_mels // 4 :].mean()
