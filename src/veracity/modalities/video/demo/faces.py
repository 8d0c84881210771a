"""Real face photographs that ship offline, and the pseudo-identities made from them.

``photos/`` holds crops of three real photographs found in installed wheels, with their
MTCNN landmarks and licences in ``photos/photos.json`` (all public domain or CC0; see
docs/video.md). Three people are fewer than the six identities the demo needs, so each
photograph yields ``identities_per_photo`` pseudo-identities: variant 0 is the photograph
as it is, later variants are mirrored, re-toned (skin/hair hue and contrast) and
geometrically stretched. They are different-looking faces of the same person; the demo
keeps the last person for eval alone (see ``corpus.assign_splits``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

PHOTOS_DIR = Path(__file__).with_name("photos")
PHOTOS_JSON = "photos.json"
PHOTO_ORDER = ("grace_hopper", "cameraman", "eileen_collins")  # the last is the eval person


@dataclass(frozen=True)
class Identity:
    """A face to animate: an RGB image (float32 0..255) and its 5 landmarks (x, y)."""

    name: str
    person: str
    image: np.ndarray  # [H, W, 3] float32
    landmarks: np.ndarray  # [5, 2]: left eye, right eye, nose, mouth left, mouth right


@lru_cache(maxsize=1)
def photo_catalog() -> dict[str, dict]:
    """The photographs' metadata (source, subject, licence, landmarks)."""
    return json.loads((PHOTOS_DIR / PHOTOS_JSON).read_text(encoding="utf-8"))


def _load(name: str) -> tuple[np.ndarray, np.ndarray]:
    image = np.asarray(Image.open(PHOTOS_DIR / f"{name}.jpg").convert("RGB"), dtype=np.float32)
    return image, np.asarray(photo_catalog()[name]["landmarks"], dtype=np.float64)


def _variant(image: np.ndarray, lm: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Pseudo-identity ``k`` > 0 of a photograph: mirror, stretch, re-tone (deterministic)."""
    h, w, _ = image.shape
    rng = np.random.default_rng(1000 + k)
    if k % 2 == 1:  # mirror: the left eye becomes the right one
        image = image[:, ::-1]
        lm = lm.copy()
        lm[:, 0] = w - 1 - lm[:, 0]
        lm = lm[[1, 0, 2, 4, 3]]
    sx, sy = 1.0 + 0.06 * k, 1.0 - 0.04 * k  # wider, shorter face about its centre
    cx, cy = lm.mean(0)
    pil = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))
    inv = (1 / sx, 0, cx - cx / sx, 0, 1 / sy, cy - cy / sy)
    pil = pil.transform((w, h), Image.Transform.AFFINE, inv, resample=Image.Resampling.BILINEAR)
    image = np.asarray(pil, dtype=np.float32)
    lm = np.stack([cx + (lm[:, 0] - cx) * sx, cy + (lm[:, 1] - cy) * sy], 1)
    tone = rng.uniform(0.85, 1.15, size=3).astype(np.float32)  # per-channel re-tone
    gamma = rng.uniform(0.85, 1.15)
    image = 255.0 * ((image / 255.0) ** gamma) * tone
    return np.clip(image, 0, 255).astype(np.float32), lm


def load_identities(per_photo: int) -> list[Identity]:
    """``per_photo`` identities for each photograph, in ``PHOTO_ORDER`` (person-major)."""
    out = []
    for name in PHOTO_ORDER:
        base, lm = _load(name)
        for k in range(per_photo):
            image, marks = (base, lm) if k == 0 else _variant(base, lm, k)
            out.append(Identity(f"{name}-{k}", name, image, marks))
    return out


def face_sharpness(image: np.ndarray, lm: np.ndarray) -> float:
    """Laplacian variance of the grey face square (two eye distances wide) of ``image``."""
    from scipy.ndimage import laplace

    eye_d = float(np.hypot(*(lm[1] - lm[0])))
    cx, cy = lm.mean(0)
    y0, x0 = max(0, int(cy - eye_d)), max(0, int(cx - eye_d))
    face = image[y0 : int(cy + eye_d), x0 : int(cx + eye_d)].mean(-1)
    return float(laplace(face).var()) if face.size else 0.0


def soften(identity: Identity, max_sharpness: float) -> Identity:
    """``identity`` Gaussian-blurred just enough that its face's Laplacian variance is at
    most ``max_sharpness`` (a grainy photograph would otherwise identify its person)."""
    from scipy.ndimage import gaussian_filter

    image = identity.image
    for sigma in np.arange(0.25, 3.01, 0.25):
        if max_sharpness <= 0 or face_sharpness(image, identity.landmarks) <= max_sharpness:
            break
        image = gaussian_filter(identity.image, (sigma, sigma, 0))
    return Identity(identity.name, identity.person, image.astype(np.float32), identity.landmarks)


def fit_frame(identity: Identity, height: int, eye_frac: float = 0.0) -> Identity:
    """``identity`` in a 4:3 frame ``height`` pixels tall (even sides for H.264).

    ``eye_frac`` > 0 frames every identity alike: the photograph is scaled so that the eye
    distance is ``eye_frac * height`` with the face centred (the border beyond the
    photograph is its median edge colour); otherwise the whole photograph is resized.
    The photographs' faces span 18-87 px: unnormalised, the aligned crop of one person is
    a 5x downscale and of another a 2x upscale, and face size alone tells persons apart.
    """
    h, w, _ = identity.image.shape
    width = int(round(height * 4 / 3 / 2)) * 2
    pil = Image.fromarray(np.clip(identity.image, 0, 255).astype(np.uint8))
    lm = identity.landmarks
    if eye_frac <= 0:
        image = np.asarray(pil.resize((width, height), Image.Resampling.BICUBIC), dtype=np.float32)
        scale = np.array([width / w, height / h])
        return Identity(identity.name, identity.person, image, lm * scale)
    s = eye_frac * height / float(np.hypot(*(lm[1] - lm[0])))
    cx, cy = lm.mean(0)
    ox, oy = width / 2 - s * cx, height * 0.45 - s * cy  # frame = s * photo + offset
    edge = np.concatenate([identity.image[0], identity.image[-1],
                           identity.image[:, 0], identity.image[:, -1]])  # fmt: skip
    fill = tuple(int(v) for v in np.median(edge, 0))
    out = pil.transform((width, height), Image.Transform.AFFINE,
                        (1 / s, 0, -ox / s, 0, 1 / s, -oy / s),
                        resample=Image.Resampling.BICUBIC, fillcolor=fill)  # fmt: skip
    image = np.asarray(out, dtype=np.float32)
    return Identity(identity.name, identity.person, image, lm * s + np.array([ox, oy]))
