"""Windowing, VAD trimming and waveform preparation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fixtures_features import harmonic

from veracity.errors import AudioContentError
from veracity.media import make_windows, prepare_waveform, trim_silence
from veracity.media.signal import window_hop


def test_ten_second_clip_gives_overlapping_windows_with_last_aligned_to_end(cfg):
    f = cfg.modality_params("voice").segments
    length = 10 * f.sample_rate
    wave = np.arange(length, dtype=np.float32)  # sample value = its index
    windows, starts = make_windows(wave, f.window_samples, f.window_overlap)
    hop = window_hop(f.window_samples, f.window_overlap)
    expected = math.ceil((length - f.window_samples) / hop) + 1
    assert hop == round(f.window_samples * (1 - f.window_overlap))
    assert windows.shape == (expected, f.window_samples)
    assert list(starts[:-1]) == [i * hop for i in range(expected - 1)]
    assert starts[-1] == length - f.window_samples
    for w, s in zip(windows, starts, strict=True):
        np.testing.assert_array_equal(w, wave[s : s + f.window_samples])
    covered = np.zeros(length, dtype=bool)
    for s in starts:
        covered[s : s + f.window_samples] = True
    assert covered.all()


def test_ten_second_clip_at_default_params_gives_four_windows(cfg):
    # The brief's arithmetic: L=64600, hop=32300, 160000 samples -> 4 windows.
    windows, starts = make_windows(np.ones(160000, np.float32), 64600, 0.5)
    assert windows.shape[0] == 4
    assert starts.tolist() == [0, 32300, 64600, 160000 - 64600]


def test_one_second_clip_is_repeat_padded_like_the_aasist_reference(cfg):
    L = cfg.modality_params("voice").segments.window_samples
    rng = np.random.default_rng(0)
    x = rng.standard_normal(cfg.modality_params("voice").segments.sample_rate).astype(np.float32)
    windows, starts = make_windows(x, L, cfg.modality_params("voice").segments.window_overlap)
    reference = np.tile(x, int(L / len(x)) + 1)[:L]
    assert windows.shape == (1, L)
    assert starts.tolist() == [0]
    np.testing.assert_array_equal(windows[0], reference)
    np.testing.assert_array_equal(windows[0][len(x) : 2 * len(x)], x)


def test_exactly_one_window_long_clip_is_returned_unchanged(cfg):
    L = cfg.modality_params("voice").segments.window_samples
    x = np.linspace(-1, 1, L, dtype=np.float32)
    windows, _ = make_windows(x, L, 0.5)
    np.testing.assert_array_equal(windows, x[None])


def test_zero_sample_clip_is_a_clear_error(cfg):
    with pytest.raises(AudioContentError, match="non-empty"):
        make_windows(
            np.zeros(0, np.float32), cfg.modality_params("voice").segments.window_samples, 0.5
        )


def test_trim_silence_removes_leading_and_trailing_silence(cfg):
    sr = cfg.modality_params("voice").segments.sample_rate
    tone = harmonic(150, 1.0)
    wave = np.concatenate([np.zeros(sr), tone, np.zeros(sr // 2)])
    trimmed, ratio = trim_silence(wave, sr, cfg.modality_params("voice").segments.vad)
    hop = round(cfg.modality_params("voice").segments.vad.hop_ms * sr / 1000)
    frame = round(cfg.modality_params("voice").segments.vad.frame_ms * sr / 1000)
    assert abs(len(trimmed) - len(tone)) <= 2 * frame
    assert ratio == pytest.approx(1.0 / 2.5, abs=2 * hop / sr + 0.02)


def test_trim_silence_never_trims_to_nothing(cfg):
    sr = cfg.modality_params("voice").segments.sample_rate
    silent = np.zeros(sr, np.float32)
    trimmed, ratio = trim_silence(silent, sr, cfg.modality_params("voice").segments.vad)
    assert ratio == 0.0
    np.testing.assert_array_equal(trimmed, silent)


def test_eight_khz_stereo_is_resampled_and_mixed_down(cfg):
    left = harmonic(200, 1.0, sr=8000)
    wave = np.stack([left, np.zeros_like(left)])
    mono = prepare_waveform(wave, 8000, cfg.modality_params("voice").segments.sample_rate)
    assert mono.ndim == 1 and mono.dtype == np.float32
    assert len(mono) == cfg.modality_params("voice").segments.sample_rate
    # Mixdown averages the channels: half the level of the left channel.
    rms_ratio = np.sqrt(np.mean(mono**2)) / np.sqrt(np.mean(left**2))
    assert rms_ratio == pytest.approx(0.5, rel=0.05)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_samples_are_a_content_error(cfg, bad):
    wave = np.zeros(1000, np.float32)
    wave[10] = bad
    with pytest.raises(AudioContentError, match="NaN/Inf"):
        prepare_waveform(wave, 16000, cfg.modality_params("voice").segments.sample_rate)


def test_empty_waveform_is_a_content_error(cfg):
    with pytest.raises(AudioContentError, match="0 samples"):
        prepare_waveform(
            np.zeros((2, 0), np.float32), 16000, cfg.modality_params("voice").segments.sample_rate
        )
