"""Music monitoring descriptors: what the payload log and the drift report watch.

All computed on the mono 16 kHz waveform that the detectors see, with seed 001's STFT
(n_fft 2048, hop 512): level, spectral shape and a tempo-like onset rate.
"""

from __future__ import annotations

import numpy as np

from veracity.modalities.music.params import MusicParams

COLUMNS = (
    "duration_s",
    "rms_db",
    "rolloff_hz",
    "centroid_hz",
    "flatness",
    "onset_rate_hz",
    "sample_rate",
)
ROLLOFF = 0.85


def descriptor_columns(params: MusicParams) -> tuple[str, ...]:
    """Names of the scalar columns of ``Segments.descriptors`` for music."""
    return COLUMNS


def _power_frames(wave: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    if wave.size < n_fft:
        wave = np.pad(wave, (0, n_fft - wave.size))
    n = 1 + (wave.size - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n)[:, None]
    frames = wave[idx] * np.hanning(n_fft)[None, :].astype(np.float32)
    return np.abs(np.fft.rfft(frames, axis=1)) ** 2  # [frames, bins]


def compute_descriptors(
    wave: np.ndarray, sr: int, params: MusicParams, source_sample_rate: int | None = None
) -> dict[str, float]:
    """Descriptors of a mono waveform ``wave`` at ``sr`` (see :data:`COLUMNS`)."""
    seg = params.segments
    wave = np.asarray(wave, dtype=np.float32)
    duration = wave.size / sr
    rms = float(np.sqrt(np.mean(wave.astype(np.float64) ** 2)) + 1e-12)
    power = _power_frames(wave, seg.n_fft, seg.hop_length)
    freqs = np.fft.rfftfreq(seg.n_fft, 1.0 / sr)
    total = power.sum(axis=1) + 1e-20
    loud = total >= np.median(total)  # spectral shape of the louder half of the frames
    p = power[loud]
    cum = np.cumsum(p, axis=1)
    rolloff = freqs[np.argmax(cum >= ROLLOFF * cum[:, -1:], axis=1)]
    centroid = (p * freqs[None, :]).sum(axis=1) / (p.sum(axis=1) + 1e-20)
    flat = np.exp(np.mean(np.log(p + 1e-20), axis=1)) / (np.mean(p, axis=1) + 1e-20)
    # onset rate: peaks of positive spectral flux on a log spectrum
    logp = np.log(power + 1e-10)
    flux = np.maximum(np.diff(logp, axis=0), 0.0).mean(axis=1) if len(logp) > 1 else np.zeros(1)
    thr = flux.mean() + flux.std()
    peaks = (flux[1:-1] > thr) & (flux[1:-1] >= flux[:-2]) & (flux[1:-1] > flux[2:])
    return {
        "duration_s": float(duration),
        "rms_db": float(20 * np.log10(rms)),
        "rolloff_hz": float(np.median(rolloff)),
        "centroid_hz": float(np.median(centroid)),
        "flatness": float(np.median(flat)),
        "onset_rate_hz": float(peaks.sum() / max(duration, 1e-6)),
        "sample_rate": float(source_sample_rate or sr),
    }
