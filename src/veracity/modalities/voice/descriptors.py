"""Hand-crafted voice features: pitch, jitter, shimmer, HNR, spectral shape, levels.

All features are vectorized over frames with numpy (a 4 s clip takes a few ms). The
pitch tracker is an energy-normalized autocorrelation: for each frame
``r(tau) = sum x[n] x[n+tau] / sqrt(sum x[n]^2 * sum x[n+tau]^2)`` over the lags of
``[f_min_hz, f_max_hz]``; the shortest-lag local peak within ``octave_tolerance`` of the
best peak is the period (which avoids octave errors), refined by parabolic
interpolation; a frame is voiced when that peak reaches ``voicing_threshold``.
Degenerate inputs (silence, no voiced frames) give 0 for the affected features, never NaN.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.fft

from veracity.media.signal import frame_energy_db, frame_signal
from veracity.modalities.voice.params import PitchConfig, SegmentConfig

log = logging.getLogger(__name__)

HANDCRAFTED_NAMES: tuple[str, ...] = (
    "pitch_mean_hz",
    "pitch_std_hz",
    "voiced_ratio",
    "jitter",
    "shimmer",
    "hnr_db",
    "spectral_centroid_hz",
    "spectral_flatness",
    "spectral_rolloff_hz",
    "pause_ratio",
    "rms_db",
    "snr_db",
)
DESCRIPTOR_COLUMNS: tuple[str, ...] = HANDCRAFTED_NAMES + (
    "duration_s",
    "sample_rate",
    "speech_ratio",
)

# Keeps r/(1-r) finite for a perfectly periodic frame (caps HNR at 60 dB).
_R_CLIP = 1e-6
_EPS = 1e-12


def track_pitch(
    wave: np.ndarray, sr: int, cfg: PitchConfig, floor_db: float
) -> dict[str, np.ndarray]:
    """Frame-wise pitch track: ``period`` (samples), ``strength`` (peak r), ``voiced``, ``rms``."""
    frame = max(4, round(cfg.frame_ms * sr / 1000))
    hop = max(1, round(cfg.hop_ms * sr / 1000))
    lag_lo = max(2, int(sr / cfg.f_max_hz))
    lag_hi = min(frame - 2, int(np.ceil(sr / cfg.f_min_hz)))
    frames = frame_signal(wave, frame, hop)
    frames = frames - frames.mean(axis=1, keepdims=True)
    squares = np.square(frames, dtype=np.float64)
    rms = np.sqrt(squares.mean(axis=1))
    # Zero-padding to frame + lag_hi makes the FFT autocorrelation linear (not circular)
    # at every lag we read, at half the cost of padding to 2 * frame.
    spec = scipy.fft.rfft(frames, n=scipy.fft.next_fast_len(frame + lag_hi + 2, real=True), axis=1)
    acf = scipy.fft.irfft(spec.real**2 + spec.imag**2, axis=1)
    lags = np.arange(lag_lo - 1, lag_hi + 2)
    csum = np.concatenate([np.zeros((frames.shape[0], 1)), np.cumsum(squares, axis=1)], axis=1)
    head = csum[:, frame - lags]  # energy of x[0 : frame - tau]
    tail = csum[:, -1:] - csum[:, lags]  # energy of x[tau : frame]
    r = acf[:, lags] / np.sqrt(head * tail + _EPS)
    mid = r[:, 1:-1]
    is_peak = (mid > r[:, :-2]) & (mid >= r[:, 2:])
    best = np.where(is_peak, mid, -np.inf).max(axis=1, keepdims=True)
    chosen = np.argmax(is_peak & (mid >= cfg.octave_tolerance * best), axis=1)
    rows = np.arange(r.shape[0])
    y0, y1, y2 = r[rows, chosen], r[rows, chosen + 1], r[rows, chosen + 2]
    denom = y0 - 2 * y1 + y2
    safe = np.where(denom < 0, denom, -1.0)
    delta = np.where(denom < 0, np.clip(0.5 * (y0 - y2) / safe, -0.5, 0.5), 0.0)
    has_peak = is_peak.any(axis=1)
    loud = 20 * np.log10(np.maximum(rms, 1e-300)) > floor_db
    strength = np.where(has_peak, y1, 0.0)
    return {
        "period": lags[chosen + 1] + delta,
        "strength": strength,
        "voiced": has_peak & loud & (strength >= cfg.voicing_threshold),
        "rms": rms,
    }


def _perturbation(values: np.ndarray, voiced: np.ndarray) -> float:
    """Mean absolute difference of consecutive voiced values over their mean (relative)."""
    pairs = voiced[1:] & voiced[:-1]
    if not pairs.any():
        return 0.0
    diffs = np.abs(np.diff(values))[pairs]
    return float(diffs.mean() / max(values[voiced].mean(), _EPS))


def _spectral_shape(
    wave: np.ndarray, sr: int, cfg: SegmentConfig, active_db: float
) -> tuple[float, float, float]:
    """Mean centroid (Hz), flatness and roll-off (Hz) over non-pause STFT frames."""
    mel = cfg.logmel
    frames = frame_signal(wave, mel.win_length, mel.hop_length).astype(np.float64)
    power = np.abs(np.fft.rfft(frames * np.hanning(mel.win_length), n=mel.n_fft, axis=1)) ** 2
    energy = frame_energy_db(frames, cfg.vad.floor_db)
    active = (energy >= energy.max() + active_db) & (energy > cfg.vad.floor_db)
    if not active.any():
        return 0.0, 0.0, 0.0
    power = power[active]
    freqs = np.fft.rfftfreq(mel.n_fft, 1.0 / sr)
    total = power.sum(axis=1) + _EPS
    centroid = (power @ freqs) / total
    flatness = np.exp(np.mean(np.log(power + _EPS), axis=1)) / (power.mean(axis=1) + _EPS)
    cumulative = np.cumsum(power, axis=1)
    rolloff_bin = np.argmax(cumulative >= cfg.rolloff_fraction * total[:, None], axis=1)
    return float(centroid.mean()), float(flatness.mean()), float(freqs[rolloff_bin].mean())


def _levels(wave: np.ndarray, sr: int, cfg: SegmentConfig) -> tuple[float, float, float]:
    """``(pause_ratio, rms_db, snr_db)`` from VAD-framed energies."""
    vad = cfg.vad
    frame = max(1, round(vad.frame_ms * sr / 1000))
    hop = max(1, round(vad.hop_ms * sr / 1000))
    energy = frame_energy_db(frame_signal(wave, frame, hop), vad.floor_db)
    pause = (energy < energy.max() + cfg.pause_threshold_db) | (energy <= vad.floor_db)
    mean_square = float(np.mean(np.square(wave, dtype=np.float64)))
    rms_db = max(10.0 * np.log10(max(mean_square, 1e-300)), vad.floor_db)
    if pause.all():
        return 1.0, rms_db, 0.0
    speech_power = np.mean(10.0 ** (energy[~pause] / 10.0))
    noise_db = np.percentile(energy, cfg.snr_noise_percentile)
    snr_db = 10.0 * np.log10(speech_power) - noise_db
    return float(pause.mean()), float(rms_db), float(snr_db)


def extract_handcrafted(wave: np.ndarray, sr: int, features_cfg: SegmentConfig) -> dict[str, float]:
    """Hand-crafted features of a mono waveform; keys are :data:`HANDCRAFTED_NAMES`."""
    wave = np.asarray(wave, dtype=np.float32)
    track = track_pitch(wave, sr, features_cfg.pitch, features_cfg.vad.floor_db)
    voiced = track["voiced"]
    f0 = sr / track["period"]
    if voiced.any():
        strength = track["strength"][voiced]
        pitch_mean, pitch_std = float(f0[voiced].mean()), float(f0[voiced].std())
    else:
        strength = track["strength"]
        pitch_mean = pitch_std = 0.0
    r = np.clip(strength, _R_CLIP, 1 - _R_CLIP)
    centroid, flatness, rolloff = _spectral_shape(
        wave, sr, features_cfg, features_cfg.pause_threshold_db
    )
    pause_ratio, rms_db, snr_db = _levels(wave, sr, features_cfg)
    values = {
        "pitch_mean_hz": pitch_mean,
        "pitch_std_hz": pitch_std,
        "voiced_ratio": float(voiced.mean()),
        "jitter": _perturbation(track["period"], voiced),
        "shimmer": _perturbation(track["rms"], voiced),
        "hnr_db": float(np.mean(10.0 * np.log10(r / (1 - r)))) if r.size else 0.0,
        "spectral_centroid_hz": centroid,
        "spectral_flatness": flatness,
        "spectral_rolloff_hz": rolloff,
        "pause_ratio": pause_ratio,
        "rms_db": rms_db,
        "snr_db": snr_db,
    }
    return {name: values[name] for name in HANDCRAFTED_NAMES}


def descriptor_columns(params) -> tuple[str, ...]:
    """The voice monitoring columns (the same for any params)."""
    return DESCRIPTOR_COLUMNS
