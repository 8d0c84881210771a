"""Deployment shifts of decoded videos (robustness report, drift demo).

They act on what ``decode`` returns (aligned face crops + audio): ``darken`` (lighting),
``blur`` (a softer camera or heavier compression), ``audio_noise`` (a noisy room). The
strengths are ``modalities.video.shifts``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from PIL import Image, ImageFilter

from veracity.errors import ConfigError
from veracity.modalities.video.params import VideoParams
from veracity.modalities.video.segments import VideoMedia

SHIFT_NAMES = ("darken", "blur", "audio_noise")


def shift(
    name: str, media: VideoMedia, params: VideoParams, rng: np.random.Generator
) -> VideoMedia:
    """``media`` after the deployment shift ``name`` (one of :data:`SHIFT_NAMES`)."""
    cfg = params.shifts
    if name == "darken":
        faces = np.clip(media.faces.astype(np.float32) * cfg.darken_gain, 0, 255)
        return replace(media, faces=faces.astype(np.uint8))
    if name == "blur":
        blur = ImageFilter.GaussianBlur(cfg.blur_radius_px)
        faces = np.stack([np.asarray(Image.fromarray(f).filter(blur)) for f in media.faces])
        return replace(media, faces=faces)
    if name == "audio_noise":
        rms = float(np.sqrt(np.mean(media.audio**2))) if media.audio.size else 0.0
        sigma = rms * 10 ** (-cfg.noise_snr_db / 20)
        noisy = media.audio + rng.normal(0, sigma, media.audio.shape).astype(np.float32)
        return replace(media, audio=noisy.astype(np.float32))
    raise ConfigError(f"unknown video shift {name!r}; expected one of {SHIFT_NAMES}")
