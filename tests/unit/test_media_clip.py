"""Voice ``prepare`` (the one entry point of training and serving) and log-mel."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fixtures_features import SR, harmonic

from veracity.errors import AudioContentError
from veracity.media import compute_logmel
from veracity.modalities.base import Segments
from veracity.modalities.voice.descriptors import DESCRIPTOR_COLUMNS, HANDCRAFTED_NAMES
from veracity.modalities.voice.segments import prepare


def test_prepare_trims_windows_and_describes(cfg):
    voice = cfg.modality_params("voice")
    f = voice.segments
    speech = harmonic(160, 6.0)
    wave = np.concatenate([np.zeros(SR), speech, np.zeros(SR // 2)]).astype(np.float32)
    seg = prepare((wave[None, :], SR), voice)
    assert isinstance(seg, Segments)
    assert seg.info["sample_rate"] == f.sample_rate == SR
    assert seg.duration_s == pytest.approx(7.5)
    assert seg.descriptors["duration_s"] == pytest.approx(7.5)
    windows = seg.inputs["waveform"]
    assert set(seg.inputs) == {"waveform"}
    assert windows.shape == (2, f.window_samples)  # 6 s of speech -> 2 windows
    assert seg.n == 2 and seg.info["n_segments"] == 2
    # Starts are in the untrimmed clip's time: the first window begins where speech does.
    start0 = round(float(seg.starts_s[0]) * SR)
    assert abs(start0 - SR) <= round(f.vad.frame_ms * SR / 1000)
    start = round(float(seg.starts_s[-1]) * SR)
    np.testing.assert_array_equal(windows[-1], wave[start : start + f.window_samples])
    assert seg.ends_s[-1] == pytest.approx((start + f.window_samples) / SR)
    assert 0.7 < seg.info["speech_ratio"] < 0.85
    assert seg.descriptors["speech_ratio"] == seg.info["speech_ratio"]
    assert tuple(seg.descriptors) == DESCRIPTOR_COLUMNS
    assert tuple(seg.descriptors)[: len(HANDCRAFTED_NAMES)] == HANDCRAFTED_NAMES
    assert seg.descriptors["pitch_mean_hz"] == pytest.approx(160, rel=0.02)


def test_prepare_of_silence_keeps_the_signal(cfg):
    voice = cfg.modality_params("voice")
    seg = prepare((np.zeros(SR, np.float32), SR), voice)
    assert seg.info["speech_ratio"] == 0.0
    assert seg.inputs["waveform"].shape == (1, voice.segments.window_samples)
    assert np.isfinite(list(seg.descriptors.values())).all()


def test_prepare_rejects_empty_audio(cfg):
    with pytest.raises(AudioContentError):
        prepare((np.zeros((1, 0), np.float32), SR), cfg.modality_params("voice"))


def test_logmel_shape_and_finite_on_silence(cfg):
    m = cfg.modality_params("voice").segments.logmel
    windows = np.zeros((3, cfg.modality_params("voice").segments.window_samples), np.float32)
    windows[0] = harmonic(200, cfg.modality_params("voice").segments.window_samples / SR)[
        : cfg.modality_params("voice").segments.window_samples
    ]
    logmel = compute_logmel(windows, SR, m)
    frames = cfg.modality_params("voice").segments.window_samples // m.hop_length + 1
    assert logmel.shape == (3, m.n_mels, frames) and logmel.dtype == torch.float32
    assert torch.isfinite(logmel).all()
    assert logmel[1:].max() == pytest.approx(np.log(m.log_floor))
    # Energy of a 200 Hz tone sits in the low mel bands.
    band_energy = logmel[0].mean(dim=1)
    assert band_energy[: m.n_mels // 4].mean() > band_energy[-m.n_mels // 4 :].mean()
