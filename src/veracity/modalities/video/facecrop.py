"""Face detection (MTCNN) and 5-landmark alignment of one face per frame.

MTCNN's P/R/O-Net weights ship inside the facenet-pytorch wheel (MIT); the package pins
torch<2.3 and numpy<2, so it is installed without its dependencies (requirements.lock)
and tested against the locked stack. Under numpy 2 its boxes come back as object arrays:
they are cast to float here. Seed 002 XI.11: a face counts when its confidence exceeds
``min_face_confidence``; frames with no such face or with several are skipped and
counted (v1 analyses single-face videos). A kept face is aligned by the similarity
transform that maps its five landmarks onto the ArcFace template, scaled to the crop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from PIL import Image

from veracity.errors import ConfigError

log = logging.getLogger(__name__)

# ArcFace's 112 x 112 template: left eye, right eye, nose tip, mouth left, mouth right.
TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655],
     [70.7299, 92.2041]]
)  # fmt: skip
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


@dataclass
class FaceCounts:
    """What face detection found over a video's sampled frames."""

    frames: int = 0
    faces: int = 0  # frames with exactly one confident face (kept)
    no_face: int = 0
    multi_face: int = 0
    confidences: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Share of sampled frames with one usable face."""
        return self.faces / self.frames if self.frames else 0.0


@lru_cache(maxsize=2)
def load_mtcnn(min_face_px: int):
    """The MTCNN detector (CPU; weights from the facenet-pytorch wheel), built once."""
    try:
        from facenet_pytorch import MTCNN
    except ImportError as exc:
        raise ConfigError(
            "video face detection needs facenet-pytorch (MTCNN weights ship in its wheel): "
            "`make setup` installs it from requirements.lock (it is pinned there, installed "
            "without its old torch/numpy pins)"
        ) from exc
    return MTCNN(keep_all=True, min_face_size=min_face_px, device="cpu", post_process=False)


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 least-squares similarity transform mapping points ``src`` onto ``dst`` (Umeyama)."""
    ms, md = src.mean(0), dst.mean(0)
    s0, d0 = src - ms, dst - md
    u, sig, vt = np.linalg.svd(d0.T @ s0 / len(src))
    d = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ d @ vt
    scale = np.trace(np.diag(sig) @ d) / max((s0**2).sum(1).mean(), 1e-12)
    return np.hstack([scale * rot, (md - scale * rot @ ms)[:, None]])


def template(size: int, margin: float) -> np.ndarray:
    """The 5 template points in a ``size`` crop with ``margin`` extra border."""
    return ((TEMPLATE_112 / 112.0 - 0.5) * (1.0 - margin) + 0.5) * size


def align_face(frame: np.ndarray, landmarks: np.ndarray, size: int, margin: float) -> np.ndarray:
    """The face of ``frame`` [H, W, 3] uint8 aligned to a ``size`` square crop (uint8)."""
    m = similarity(np.asarray(landmarks, np.float64), template(size, margin))
    inv = np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]
    pil = Image.fromarray(frame).transform((size, size), Image.Transform.AFFINE,
                                           tuple(inv.ravel()), resample=Image.Resampling.BILINEAR)  # fmt: skip
    return np.asarray(pil, dtype=np.uint8)


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch's intra-op threads set to ``n`` inside the block, restored after (0: unchanged).

    MTCNN runs hundreds of tiny ops per frame (a resize per candidate box): with 2 threads
    on 2 shared cores their barriers cost more than they gain (docs/video.md, "Speed").
    The setting is process-wide, so the block must not overlap another thread's torch work.
    """
    if n <= 0:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def detect_faces(frames: list[np.ndarray], min_face_px: int, threads: int = 0):
    """MTCNN on equally sized frames: per frame (probs [k], landmarks [k, 5, 2]) as floats
    (``threads``: torch threads while it runs, 0 = unchanged)."""
    mtcnn = load_mtcnn(min_face_px)
    with torch_threads(threads):
        boxes, probs, marks = mtcnn.detect(np.stack(frames), landmarks=True)
    out = []
    for b, p, lm in zip(boxes, probs, marks, strict=True):
        if b is None or p is None:
            out.append((np.zeros(0), np.zeros((0, 5, 2))))
        else:
            out.append((np.asarray(p, dtype=np.float64).reshape(-1),
                        np.asarray(lm, dtype=np.float64).reshape(-1, 5, 2)))  # fmt: skip
    return out


@dataclass(frozen=True)
class Choice:
    """What the seed's rule made of one frame: ``face`` (with landmarks), ``none``, ``multi``."""

    status: str
    landmarks: np.ndarray | None = None
    confidence: float = 0.0


def choose(probs: np.ndarray, marks: np.ndarray, min_conf: float) -> Choice:
    """The one face above ``min_conf`` (seed 002 XI.11: > 0.95), else none / several."""
    confident = probs > min_conf
    if confident.sum() == 0:
        return Choice("none")
    if confident.sum() > 1:
        return Choice("multi")
    return Choice("face", marks[confident][0], float(probs[confident][0]))


def count(choice: Choice, counts: FaceCounts) -> None:
    """Add one sampled frame's ``choice`` to ``counts``."""
    counts.frames += 1
    if choice.status == "none":
        counts.no_face += 1
    elif choice.status == "multi":
        counts.multi_face += 1
    else:
        counts.faces += 1
        counts.confidences.append(choice.confidence)


def pick_face(probs: np.ndarray, marks: np.ndarray, min_conf: float, counts: FaceCounts):
    """The landmarks of the one confident face, or None (no face / several), counted."""
    choice = choose(probs, marks, min_conf)
    count(choice, counts)
    return choice.landmarks


def steady(a: np.ndarray, b: np.ndarray, max_motion: float) -> bool:
    """Whether no landmark moved more than ``max_motion`` eye distances from ``a`` to ``b``."""
    eyes = max(float(np.hypot(*(a[1] - a[0]))), 1e-6)
    return float(np.linalg.norm(b - a, axis=1).max()) <= max_motion * eyes


def locate(keys: list[bool], detect: Callable[[list[int]], list[Choice]],
           before: Choice | None, max_motion: float) -> list[Choice]:  # fmt: skip
    """One Choice per sampled frame of a block that ends on a key frame.

    MTCNN runs on the key frames (``detect(indices)``); a frame between two key frames that
    each hold one confident face which moved less than ``max_motion`` eye distances gets the
    linear interpolation of their landmarks (and the lower of their confidences); every
    other frame is detected itself, so the seed's rule holds wherever the track is unsure
    (a face lost, a second face, a cut). ``before`` is the key frame preceding the block.
    """
    if keys and not keys[-1]:
        raise ValueError("expected a block of sampled frames that ends on a key frame")
    key_idx = [j for j, k in enumerate(keys) if k]
    out: list[Choice | None] = [None] * len(keys)
    for j, c in zip(key_idx, detect(key_idx) if key_idx else [], strict=True):
        out[j] = c
    left, start, unsure = before, 0, []
    for j in key_idx:
        run, right = list(range(start, j)), out[j]
        if (
            run
            and left is not None
            and left.status == right.status == "face"
            and steady(left.landmarks, right.landmarks, max_motion)
        ):
            conf = min(left.confidence, right.confidence)
            for n, r in enumerate(run, 1):
                w = n / (len(run) + 1)
                out[r] = Choice("face", (1 - w) * left.landmarks + w * right.landmarks, conf)
        else:
            unsure += run
        left, start = right, j + 1
    for r, c in zip(unsure, detect(unsure) if unsure else [], strict=True):
        out[r] = c
    return out  # type: ignore[return-value]


def normalize_faces(faces_uint8):
    """ImageNet normalisation of uint8 crops ``[..., 3, H, W]`` (torch or numpy, float32)."""
    mean, std = IMAGENET_MEAN.reshape(3, 1, 1), IMAGENET_STD.reshape(3, 1, 1)
    if isinstance(faces_uint8, np.ndarray):
        return (faces_uint8.astype(np.float32) / 255.0 - mean) / std
    import torch

    m = torch.as_tensor(mean, device=faces_uint8.device)
    s = torch.as_tensor(std, device=faces_uint8.device)
    return (faces_uint8.float() / 255.0 - m) / s
