"""Make a still face behave like video (pure: arrays in, arrays out).

Per frame: the jaw drops and a mouth cavity opens with the loudness of the speech track,
the eyelids close during blinks, and an optional expression warp (smile, raised brows)
moves the face; then the whole frame gets a small head motion (rotation, translation,
zoom about the face), a lighting drift and sensor noise. Face edits happen in the
photograph's coordinates (``edit_face``), so manipulations can act on a face before the
shared ``finish_frame`` moves it: real and fake clips get identical motion, light and
noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy.ndimage import map_coordinates

MOUTH_DARK = np.array([70.0, 25.0, 30.0], dtype=np.float32)


@dataclass(frozen=True)
class Motion:
    """Per-frame head motion and light: angle (deg), shift (px), zoom, gain; per-clip tilt."""

    angle: np.ndarray
    dx: np.ndarray
    dy: np.ndarray
    zoom: np.ndarray
    gain: np.ndarray
    light_tilt: float


def _wander(n: int, fps: float, rng: np.random.Generator, amplitude: float) -> np.ndarray:
    """A smooth random walk: three sinusoids of 0.1-0.8 Hz with random phases."""
    t = np.arange(n) / fps
    out = np.zeros(n)
    for _ in range(3):
        f, phase, a = rng.uniform(0.1, 0.8), rng.uniform(0, 2 * np.pi), rng.uniform(0.3, 1.0)
        out += a * np.sin(2 * np.pi * f * t + phase)
    return amplitude * out / 2.2


def sample_motion(n: int, fps: float, rng: np.random.Generator, head_px: float,
                  brightness: tuple[float, float]) -> Motion:  # fmt: skip
    """Head motion and lighting of one clip of ``n`` frames."""
    base = rng.uniform(*brightness)
    return Motion(
        angle=_wander(n, fps, rng, 1.5),
        dx=_wander(n, fps, rng, head_px),
        dy=_wander(n, fps, rng, head_px * 0.6),
        zoom=1.05 + _wander(n, fps, rng, 0.015),
        gain=base * (1 + _wander(n, fps, rng, 0.04)),
        light_tilt=float(rng.uniform(-0.12, 0.12)),
    )


def blink_track(n: int, fps: float, rng: np.random.Generator,
                interval_s: tuple[float, float]) -> np.ndarray:  # fmt: skip
    """Eyelid closure per frame in [0, 1]: blinks of 100-200 ms at random intervals."""
    out = np.zeros(n)
    t = rng.uniform(0.2, interval_s[1])
    while t * fps < n:
        dur = rng.uniform(0.1, 0.2)
        frames = np.arange(n) / fps
        out = np.maximum(out, np.clip(1 - np.abs(frames - t) / (dur / 2), 0, 1))
        t += rng.uniform(*interval_s)
    return out


def mouth_track(audio: np.ndarray, sr: int, n: int, fps: float) -> np.ndarray:
    """Mouth opening per frame in [0, 1] from the loudness of ``audio`` in that frame."""
    edges = (np.arange(n + 1) * sr / fps).astype(int)
    rms = np.array([np.sqrt(np.mean(audio[a:b] ** 2)) if b > a else 0.0
                    for a, b in zip(edges[:-1], edges[1:], strict=True)])  # fmt: skip
    db = 20 * np.log10(rms + 1e-6) - 20 * np.log10(rms.max() + 1e-6)
    opening = np.clip((db + 30) / 24, 0, 1)
    return np.convolve(np.pad(opening, 1, mode="edge"), np.ones(3) / 3, mode="valid")


def _warp(image: np.ndarray, box: tuple[int, int, int, int], field) -> None:
    """Backward-warp ``image[box]`` in place: output(p) = input(p - field(X, Y))."""
    h, w, _ = image.shape
    x0, y0, x1, y1 = max(0, box[0]), max(0, box[1]), min(w, box[2]), min(h, box[3])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    dx, dy = field(xx, yy)
    coords = [yy - dy, xx - dx]
    for c in range(3):
        image[y0:y1, x0:x1, c] = map_coordinates(image[..., c], coords, order=1, mode="nearest")


def _bump(xx, yy, cx, cy, r):
    return np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (r * r))


def _ellipse_alpha(shape, cx, cy, rx, ry) -> np.ndarray:
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    r2 = ((xx - cx) / max(rx, 0.5)) ** 2 + ((yy - cy) / max(ry, 0.5)) ** 2
    return np.clip(1.5 * (1 - r2), 0, 1).astype(np.float32)[..., None]


def edit_face(image: np.ndarray, lm: np.ndarray, opening: float, blink: float,
              smile: float = 0.0, brow: float = 0.0) -> np.ndarray:  # fmt: skip
    """A copy of ``image`` with the mouth ``opening``, eyelids ``blink`` closed, and the
    expression warp ``smile``/``brow`` (all in [0, 1]; landmarks as in faces.Identity)."""
    out = image.copy()
    (lx, ly), (rx, ry), _, ml, mr = lm
    eye_d = float(np.hypot(rx - lx, ry - ly))
    mx, my = (ml + mr) / 2
    mw = float(np.hypot(*(mr - ml)))
    if smile > 0 or brow > 0:
        for (cx, cy), sgn in ((ml, -1), (mr, 1)):
            _warp(out, (int(cx - mw), int(cy - mw), int(cx + mw), int(cy + mw)),
                  lambda X, Y, cx=cx, cy=cy, s=sgn: (s * smile * 0.12 * mw * _bump(X, Y, cx, cy, 0.35 * mw),
                                                     -smile * 0.12 * mw * _bump(X, Y, cx, cy, 0.35 * mw)))  # fmt: skip
        for ex, ey in ((lx, ly), (rx, ry)):
            bx, by = ex, ey - 0.35 * eye_d
            _warp(out, (int(bx - eye_d), int(by - eye_d), int(bx + eye_d), int(by + eye_d)),
                  lambda X, Y, bx=bx, by=by: (0 * X, -brow * 0.1 * eye_d * _bump(X, Y, bx, by, 0.4 * eye_d)))  # fmt: skip
    drop = opening * 0.3 * mw
    if drop > 0.3:

        def jaw(X, Y):
            gx = np.exp(-(((X - mx) / (0.75 * mw)) ** 2))
            v = np.clip((Y - my) / (0.25 * mw), 0, 1) * np.clip(1.6 - (Y - my) / mw, 0, 1)
            return 0 * X, drop * gx * v

        _warp(out, (int(mx - 1.3 * mw), int(my - 0.3 * mw), int(mx + 1.3 * mw), int(my + 1.8 * mw)),
              jaw)  # fmt: skip
        a = _ellipse_alpha(out.shape[:2], mx, my + drop * 0.4, 0.3 * mw, drop * 0.45)
        k = 0.85 * min(1.0, 3 * opening)
        out = out * (1 - a * k) + MOUTH_DARK * a * k
    if blink > 0:
        for ex, ey in ((lx, ly), (rx, ry)):
            y0, x0 = int(ey + 0.25 * eye_d), int(ex - 0.08 * eye_d)
            patch = image[max(0, y0) : y0 + 3, max(0, x0) : x0 + 3].reshape(-1, 3)
            skin = np.median(patch, 0) if len(patch) else np.full(3, 128.0)
            a = _ellipse_alpha(out.shape[:2], ex, ey, 0.24 * eye_d, 0.13 * eye_d) * blink
            out = out * (1 - a) + skin.astype(np.float32) * 0.92 * a
    return out


def finish_frame(image: np.ndarray, lm: np.ndarray, motion: Motion, i: int,
                 rng: np.random.Generator) -> np.ndarray:  # fmt: skip
    """Frame ``i``: head motion about the face centre, light drift and tilt, noise; uint8."""
    h, w, _ = image.shape
    cx, cy = lm.mean(0)
    a, s = np.deg2rad(motion.angle[i]), motion.zoom[i]
    cos, sin = np.cos(a) / s, np.sin(a) / s
    tx, ty = cx + motion.dx[i], cy + motion.dy[i]
    # input = c + R(-a)/s (out - c - t)
    coeffs = (cos, sin, cx - cos * tx - sin * ty, -sin, cos, cy + sin * tx - cos * ty)
    pil = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))
    moved = pil.transform((w, h), Image.Transform.AFFINE, coeffs,
                          resample=Image.Resampling.BILINEAR)  # fmt: skip
    frame = np.asarray(moved, dtype=np.float32)
    light = motion.gain[i] * (1 + motion.light_tilt * (np.arange(w) / w - 0.5))
    frame = frame * light[None, :, None] + rng.normal(0, 1.5, frame.shape)
    return np.clip(frame, 0, 255).astype(np.uint8)
