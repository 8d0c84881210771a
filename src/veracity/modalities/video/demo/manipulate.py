"""The demo's manipulations: each leaves an artefact seed 002 names (pure functions).

| method       | what it does                                         | artefact                  |
|--------------|------------------------------------------------------|---------------------------|
| FaceSwap     | the donor's animated inner face, aligned on the 5    | blending seam, colour and |
|              | landmarks, colour-matched and feather-blended in     | geometry mismatch         |
| LipSync      | the mouth follows another clip's loudness (or the    | audio-visual asynchrony   |
|              | track is shifted by a fraction of a second)          |                           |
| GANUpsample  | the face region rebuilt from 1/4 resolution by zero- | periodic checkerboard     |
|              | stuffing and a fixed kernel (transposed conv)        | spectrum in the face only |
| VoiceClone   | a real video whose track is a vocoded spoof of its   | synthetic voice, lips in  |
|              | own utterance (voice demo attacks A01-A06)           | sync                      |
| Reenact      | expression warp (smile, raised brows) that does not  | unnatural local motion    |
|              | follow the speech                                    |                           |
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from veracity.modalities.video.facecrop import similarity

METHODS = ("FaceSwap", "LipSync", "GANUpsample", "VoiceClone", "Reenact")


def warp_affine(image: np.ndarray, m: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` warped by the 2x3 forward transform ``m`` onto a ``size`` (w, h) canvas."""
    inv = np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]
    pil = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))
    out = pil.transform(size, Image.Transform.AFFINE, tuple(inv.ravel()),
                        resample=Image.Resampling.BILINEAR)  # fmt: skip
    return np.asarray(out, dtype=np.float32)


def face_mask(shape: tuple[int, int], lm: np.ndarray, feather: float = 0.25) -> np.ndarray:
    """Soft ellipse over the inner face (brows to chin) [H, W, 1] in [0, 1]."""
    h, w = shape
    eye_d = float(np.hypot(*(lm[1] - lm[0])))
    cx, cy = lm[:, 0].mean(), (lm[0, 1] + lm[1, 1]) / 2 * 0.4 + lm[3:, 1].mean() * 0.6
    rx, ry = 1.0 * eye_d, 1.35 * eye_d
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.sqrt(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2)
    return np.clip((1 - r) / feather, 0, 1).astype(np.float32)[..., None]


def face_swap(target: np.ndarray, t_lm: np.ndarray, donor: np.ndarray, d_lm: np.ndarray,
              feather: float = 0.25, colour_match: float = 1.0) -> np.ndarray:  # fmt: skip
    """``donor``'s face placed on ``target`` (both already animated, photo coordinates):
    blended over a seam ``feather`` (share of the ellipse radius) wide, its colour moved
    ``colour_match`` of the way to the target's face statistics (1 = full transfer)."""
    h, w, _ = target.shape
    warped = warp_affine(donor, similarity(d_lm, t_lm), (w, h))
    mask = face_mask((h, w), t_lm, feather)
    inner = mask[..., 0] > 0.5
    if inner.any():  # colour transfer: the donor's face statistics onto the target's
        mu_t, sd_t = target[inner].mean(0), target[inner].std(0) + 1e-3
        mu_d, sd_d = warped[inner].mean(0), warped[inner].std(0) + 1e-3
        matched = (warped - mu_d) / sd_d * (0.5 * sd_t + 0.5 * sd_d) + mu_t
        warped = colour_match * matched + (1 - colour_match) * warped
    return target * (1 - mask) + warped * mask


def gan_upsample(image: np.ndarray, lm: np.ndarray, factor: int = 4,
                 checker: float = 0.15) -> np.ndarray:  # fmt: skip
    """The face region rebuilt from 1/``factor`` resolution like a transposed convolution
    (``checker``: share of the transposed-convolution pattern in the rebuilt face)."""
    h, w, _ = image.shape
    mask = face_mask((h, w), lm, feather=0.35)
    ys, xs = np.nonzero(mask[..., 0] > 0)
    if len(ys) == 0:
        return image
    y0, y1 = ys.min() // factor * factor, (ys.max() // factor + 1) * factor
    x0, x1 = xs.min() // factor * factor, (xs.max() // factor + 1) * factor
    y1, x1 = min(y1, h - h % factor), min(x1, w - w % factor)
    patch = image[y0:y1, x0:x1]
    ph, pw = patch.shape[0] // factor, patch.shape[1] // factor
    small = patch[: ph * factor, : pw * factor].reshape(ph, factor, pw, factor, 3).mean((1, 3))
    # a transposed convolution: zero-stuffing + a fixed kernel whose phases do not sum
    # evenly, which leaves the periodic "checkerboard" of GAN upsamplers
    stuffed = np.zeros((ph * factor, pw * factor, 3), dtype=np.float32)
    stuffed[::factor, ::factor] = small * factor * factor
    kernel = np.convolve(np.ones(factor), [1.0, 2.0, 1.0])[:factor] + 1.0
    kernel = kernel / kernel.sum()
    for axis in (0, 1):
        stuffed = np.apply_along_axis(lambda v: np.convolve(v, kernel, "same"), axis, stuffed)
    pil = Image.fromarray(np.clip(small, 0, 255).astype(np.uint8))
    smooth = pil.resize((pw * factor, ph * factor), Image.Resampling.BILINEAR)
    up = np.asarray(smooth, dtype=np.float32)
    up = up + checker * (stuffed - up)
    out = image.copy()
    region = out[y0 : y0 + up.shape[0], x0 : x0 + up.shape[1]]
    m = mask[y0 : y0 + up.shape[0], x0 : x0 + up.shape[1]]
    out[y0 : y0 + up.shape[0], x0 : x0 + up.shape[1]] = region * (1 - m) + up * m
    return out


def shift_audio(audio: np.ndarray, shift: int) -> np.ndarray:
    """``audio`` delayed (>0) or advanced (<0) by ``shift`` samples, same length (zeros in)."""
    out = np.zeros_like(audio)
    if shift >= 0:
        out[shift:] = audio[: len(audio) - shift]
    else:
        out[:shift] = audio[-shift:]
    return out
