"""Video monitoring columns (drift descriptors): format, face detection, image, audio.

Cheap statistics of what ``decode`` already holds (aligned crops and the audio track):
resolution, sampled frame rate, face-detection rate, mean brightness and blur (variance
of the Laplacian) of the face crops, a rough audio SNR (loud vs quiet 20 ms frames), and
the energy VAD's speech ratio and leading silence.
"""

from __future__ import annotations

import numpy as np

COLUMNS = (
    "height", "source_fps", "face_rate", "brightness", "blur", "audio_snr_db", "speech_ratio",
    "leading_silence_s", "duration_s",
)  # fmt: skip
SNR_FRAME_S = 0.02


def descriptor_columns(params) -> tuple[str, ...]:
    """The monitoring columns of ``Segments.descriptors``."""
    return COLUMNS


def laplacian_variance(gray: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian of ``gray`` [..., H, W] (focus measure)."""
    lap = (-4 * gray[..., 1:-1, 1:-1] + gray[..., :-2, 1:-1] + gray[..., 2:, 1:-1]
           + gray[..., 1:-1, :-2] + gray[..., 1:-1, 2:])  # fmt: skip
    return float(lap.var())


def audio_snr_db(audio: np.ndarray, sr: int) -> float:
    """10 log10 of the 95th over the 10th percentile of 20 ms frame energies (0 if silent)."""
    n = int(SNR_FRAME_S * sr)
    if n <= 0 or len(audio) < 2 * n:
        return 0.0
    frames = audio[: len(audio) // n * n].reshape(-1, n)
    energy = (frames.astype(np.float64) ** 2).mean(1) + 1e-10
    return float(10 * np.log10(np.percentile(energy, 95) / np.percentile(energy, 10)))


def describe(media, vad_cfg) -> dict[str, float]:
    """The descriptors of a decoded ``VideoMedia`` (``vad_cfg``: the speech detector).

    ``leading_silence_s`` is monitored because public audio-visual deepfake sets are
    separable by it alone: a shift in it is a shift in a shortcut feature."""
    from veracity.media.signal import speech_bounds

    start, ratio = 0, 0.0
    if media.audio.size:
        start, _, ratio = speech_bounds(media.audio, media.sample_rate, vad_cfg)
    gray = media.faces.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return {
        "height": float(min(media.probe.width, media.probe.height)),
        "source_fps": float(media.probe.fps),
        "face_rate": float(media.counts.rate),
        "brightness": float(gray.mean()),
        "blur": laplacian_variance(gray),
        "audio_snr_db": audio_snr_db(media.audio, media.sample_rate),
        "speech_ratio": float(ratio),
        "leading_silence_s": start / media.sample_rate if ratio > 0 else float(media.duration_s),
        "duration_s": float(media.duration_s),
    }
