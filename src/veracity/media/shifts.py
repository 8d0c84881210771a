"""Deployment shifts a voice detector meets in the field, as pure waveform functions.

Used by the drift demo (to send shifted uploads through the transformer) and by the tests
(to check that the drift report notices them): additive noise at a fixed SNR, a
low-bitrate lossy codec (ffmpeg), and the 8 kHz telephone band. Each returns a new array;
inputs are never modified. Waveforms are 1-D float32 mono.
"""

from __future__ import annotations

import io
import logging
import subprocess

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from veracity.config import ShiftsConfig
from veracity.errors import AudioDecodeError, InputError

log = logging.getLogger(__name__)

SHIFT_NAMES = ("noise", "codec", "telephone", "mp3", "resample")


def _mono(wave: np.ndarray) -> np.ndarray:
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim == 2:
        wave = wave.mean(axis=0)
    if wave.ndim != 1 or wave.size == 0:
        raise InputError(f"expected a non-empty mono waveform, got shape {wave.shape}")
    return wave


def add_noise(wave: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """White Gaussian noise added at ``snr_db`` relative to the signal's mean power."""
    wave = _mono(wave)
    power = float(np.mean(wave.astype(np.float64) ** 2))
    noise_power = power / (10.0 ** (snr_db / 10.0)) if power > 0 else 1e-6
    noise = rng.normal(0.0, np.sqrt(noise_power), size=wave.shape)
    return np.clip(wave + noise, -1.0, 1.0).astype(np.float32)


def wav_bytes(wave: np.ndarray, sr: int) -> bytes:
    """A 16-bit PCM WAV file of ``wave`` (what an upload looks like)."""
    buf = io.BytesIO()
    sf.write(buf, np.clip(_mono(wave), -1.0, 1.0), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _ffmpeg(args: list[str], data: bytes) -> bytes:
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", *args]
    try:
        proc = subprocess.run(cmd, input=data, capture_output=True, timeout=60, check=False)
    except FileNotFoundError as exc:
        raise AudioDecodeError(
            "ffmpeg is not installed; install it (apt-get install ffmpeg)"
        ) from exc
    if proc.returncode != 0 or not proc.stdout:
        raise AudioDecodeError(
            f"ffmpeg {' '.join(args)} failed (exit {proc.returncode}): "
            f"{proc.stderr.decode(errors='replace').strip()[:300]}"
        )
    return proc.stdout


def encode_codec(wave: np.ndarray, sr: int, codec: str, fmt: str, bitrate: str) -> bytes:
    """``wave`` encoded by ffmpeg's ``codec`` at ``bitrate`` into a ``fmt`` container."""
    return _ffmpeg(
        ["-f", "wav", "-i", "pipe:0", "-c:a", codec, "-b:a", bitrate, "-f", fmt, "pipe:1"],
        wav_bytes(wave, sr),
    )


def codec_roundtrip(wave: np.ndarray, sr: int, codec: str, fmt: str, bitrate: str) -> np.ndarray:
    """``wave`` after a lossy encode/decode round trip, back at ``sr`` and the same length."""
    encoded = encode_codec(wave, sr, codec, fmt, bitrate)
    decoded = _ffmpeg(
        ["-f", fmt, "-i", "pipe:0", "-ac", "1", "-ar", str(sr), "-f", "wav", "pipe:1"], encoded
    )
    out, _ = sf.read(io.BytesIO(decoded), dtype="float32", always_2d=False)
    n = _mono(wave).shape[0]
    out = out[:n] if out.shape[0] >= n else np.pad(out, (0, n - out.shape[0]))
    return out.astype(np.float32)


def telephone_band(
    wave: np.ndarray, sr: int, target_sr: int, band_hz: tuple[float, float]
) -> tuple[np.ndarray, int]:
    """Narrow-band telephone audio: resampled to ``target_sr`` and band-passed to
    ``band_hz`` (300–3400 Hz for PSTN). Returns ``(wave, target_sr)``."""
    low, high = band_hz
    if not 0 < low < high < target_sr / 2:
        raise InputError(
            f"expected 0 < low < high < {target_sr / 2} Hz for the telephone band, got {band_hz}"
        )
    x = torch.from_numpy(np.ascontiguousarray(_mono(wave)))
    if sr != target_sr:
        x = AF.resample(x, sr, target_sr)
    x = AF.highpass_biquad(x, target_sr, low)
    x = AF.lowpass_biquad(x, target_sr, high)
    return x.clamp(-1.0, 1.0).numpy().astype(np.float32), target_sr


def apply_shift(
    name: str, wave: np.ndarray, sr: int, shifts_cfg: ShiftsConfig, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """Apply the named shift (``noise``, ``codec`` or ``telephone``) with the params of
    ``monitoring.shifts``; returns ``(wave, sample_rate)``."""
    if name == "noise":
        return add_noise(wave, shifts_cfg.noise_snr_db, rng), sr
    if name == "codec":
        return codec_roundtrip(
            wave, sr, shifts_cfg.codec, shifts_cfg.codec_format, shifts_cfg.codec_bitrate
        ), sr
    if name == "telephone":
        return telephone_band(
            wave, sr, shifts_cfg.telephone_sample_rate, tuple(shifts_cfg.telephone_band_hz)
        )
    if name == "mp3":
        return codec_roundtrip(wave, sr, "libmp3lame", "mp3", shifts_cfg.mp3_bitrate), sr
    if name == "resample":
        target = shifts_cfg.resample_rate
        x = torch.from_numpy(np.ascontiguousarray(_mono(wave)))
        return AF.resample(x, sr, target).numpy().astype(np.float32), target
    raise InputError(f"expected a shift among {SHIFT_NAMES}, got {name!r}")
