"""Training-batch augmentation of the audio-visual detector (the DetectorSpec augment hook).

The demo corpus (and FaceForensics++) has few identities per split, and the identities of
train, dev and eval are different people photographed differently (colour, grey, grain):
a detector that learns *who* or *which photograph* instead of *which artefact* fits train
and stays at chance elsewhere. Each training window therefore gets, consistently over its
frames (so temporal cues survive): a horizontal flip, a random shift of up to
``shift_px``, brightness / contrast / per-channel colour gains, conversion to grey with
``grey_prob`` and, for the audio second, a gain in ``audio_gain_db``. Artefacts the
manipulations leave (blur, checkerboard, seams, mouth motion, vocoder) survive all of these.
Serving and evaluation never call this hook.
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor

from veracity.modalities.video.params import VideoAugmentParams

log = logging.getLogger(__name__)
GREY = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma weights


def _uniform(n: int, bounds: tuple[float, float], gen: torch.Generator) -> Tensor:
    lo, hi = bounds
    return lo + (hi - lo) * torch.rand(n, generator=gen)


def shift_frames(faces: Tensor, dx: Tensor, dy: Tensor) -> Tensor:
    """``faces`` [B, T, 3, S, S] shifted per window by integer ``dx``/``dy`` [B] pixels,
    edges repeated (the crop never shows a blank border)."""
    b, _, _, h, w = faces.shape
    ys = (torch.arange(h)[None, :] - dy[:, None]).clamp(0, h - 1)  # [B, H]
    xs = (torch.arange(w)[None, :] - dx[:, None]).clamp(0, w - 1)  # [B, W]
    rows = torch.stack([faces[i][..., ys[i], :] for i in range(b)])
    return torch.stack([rows[i][..., xs[i]] for i in range(b)])


def augment_faces(faces: Tensor, cfg: VideoAugmentParams, gen: torch.Generator) -> Tensor:
    """Photometric and geometric augmentation of 0-255 faces [B, T, 3, S, S] (float)."""
    b = faces.shape[0]
    x = faces.float()
    flip = torch.rand(b, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None, None], x.flip(-1), x)
    if cfg.shift_px > 0:
        shift = torch.randint(-cfg.shift_px, cfg.shift_px + 1, (2, b), generator=gen)
        x = shift_frames(x, shift[0], shift[1])
    view = (b, 1, 1, 1, 1)
    mean = x.mean(dim=(1, 2, 3, 4), keepdim=True)
    contrast = _uniform(b, cfg.contrast, gen).view(view)
    x = (x - mean) * contrast + mean * _uniform(b, cfg.brightness, gen).view(view)
    x = x * _uniform(3 * b, cfg.channel_gain, gen).view(b, 1, 3, 1, 1)
    grey = torch.rand(b, generator=gen) < cfg.grey_prob
    luma = (x * torch.tensor(GREY).view(1, 1, 3, 1, 1)).sum(2, keepdim=True).expand_as(x)
    x = torch.where(grey[:, None, None, None, None], luma, x)
    return x.clamp(0, 255)


def augment_av(batch: dict[str, Tensor], generator: torch.Generator, *,
               cfg: VideoAugmentParams) -> dict[str, Tensor]:  # fmt: skip
    """The augment hook: a new batch dict with augmented ``faces`` and ``audio``."""
    if not cfg.enabled:
        return batch
    out = dict(batch)
    if "faces" in out:
        out["faces"] = augment_faces(out["faces"], cfg, generator)
    if "audio" in out and cfg.audio_gain_db[1] > cfg.audio_gain_db[0]:
        db = _uniform(out["audio"].shape[0], cfg.audio_gain_db, generator)
        out["audio"] = out["audio"] * (10 ** (db / 20))[:, None]
    return out
