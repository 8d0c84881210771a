"""The video verdict's explanations (seed 002 XI.8 and XI.10): anomalous frames with their
Grad-CAM overlay, modality agreement and contribution.

``explain_rows`` picks the ``explain.windows`` windows with the highest calibrated AI
probability (the transformer asks the predictor for their Grad-CAM maps and auxiliary-head
scores). ``explain`` turns those into verdict fields:

* ``anomalous_frames``: for each explained window above ``policy.ai_above``, its sampled
  frame with the strongest Grad-CAM response: ``frame_id`` (index of the frame at the
  sampling rate ``sample_fps``), ``timestamp_s``, ``confidence`` (the window's AI
  probability; a frame in two windows keeps the higher) and ``saliency_png`` (base64 PNG of
  the heat map over the aligned face crop; the job service stores it and names its URL);
* ``modality_contribution`` / ``modality_agreement``: the means over the explained windows
  (video minus audio spoof probability of the auxiliary heads, and 1 - its magnitude);
* ``frames_analyzed``: sampled frames that held one face.
"""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
from PIL import Image

from veracity.modalities.base import Segments
from veracity.modalities.video.params import VideoParams
from veracity.modalities.video.segments import FACE_MASK, FACES

log = logging.getLogger(__name__)


def explain_rows(p_spoof: np.ndarray, params: VideoParams) -> list[int]:
    """Indices of the ``explain.windows`` windows with the highest AI probability."""
    order = np.argsort(-np.asarray(p_spoof, dtype=np.float64), kind="stable")
    return sorted(int(i) for i in order[: params.explain.windows])


def heat_colours(cam: np.ndarray) -> np.ndarray:
    """[S, S] in [0, 1] -> [S, S, 3] uint8 ("hot": black, red, yellow, white)."""
    c = np.clip(cam, 0.0, 1.0)[..., None] * 3.0
    rgb = np.concatenate([np.clip(c, 0, 1), np.clip(c - 1, 0, 1), np.clip(c - 2, 0, 1)], -1)
    return (rgb * 255).astype(np.uint8)


def overlay_png(face: np.ndarray, cam: np.ndarray, alpha: float, min_side: int) -> bytes:
    """PNG of the heat map of ``cam`` [S, S] over ``face`` [3, S, S] (uint8-valued)."""
    rgb = np.clip(np.asarray(face, dtype=np.float32), 0, 255).transpose(1, 2, 0)
    heat = heat_colours(cam).astype(np.float32)
    weight = alpha * np.clip(cam, 0.0, 1.0)[..., None]  # cold regions keep the face visible
    image = Image.fromarray((rgb * (1 - weight) + heat * weight).round().astype(np.uint8))
    if image.width < min_side:
        image = image.resize((min_side, min_side), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def explain(segments: Segments, rows: list[int], p_spoof: np.ndarray,
            outputs: Mapping[str, np.ndarray], params: VideoParams) -> dict[str, Any]:  # fmt: skip
    """Verdict fields from the predictor's explanations ``outputs`` of windows ``rows``."""
    seg, fps = params.segments, float(segments.info.get("sample_fps", params.segments.fps))
    frames: dict[int, dict[str, Any]] = {}
    saliency = np.asarray(outputs.get("saliency", np.zeros((0,))))
    for k, row in enumerate(rows):
        p = float(p_spoof[row])
        if p <= params.policy.ai_above or saliency.ndim != 4:
            continue
        mask = np.asarray(segments.inputs[FACE_MASK][row]) > 0
        slots = np.flatnonzero(mask) if mask.any() else np.arange(mask.size)
        strength = saliency[k][slots].mean(axis=(1, 2))
        slot = int(slots[int(np.argmax(strength))])
        t = float(segments.starts_s[row]) + slot * seg.window_s / mask.size
        frame_id = int(round(t * fps))
        if frame_id in frames and frames[frame_id]["confidence"] >= p:
            continue
        png = overlay_png(segments.inputs[FACES][row][slot], saliency[k][slot],
                          params.explain.overlay_alpha, params.explain.png_min_side)  # fmt: skip
        frames[frame_id] = {"frame_id": frame_id, "confidence": round(p, 6),
                            "timestamp_s": round(t, 3),
                            "saliency_png": base64.b64encode(png).decode("ascii")}  # fmt: skip
    return {
        "anomalous_frames": [frames[f] for f in sorted(frames)],
        "modality_contribution": _mean(outputs.get("contribution"), -1.0),
        "modality_agreement": _mean(outputs.get("agreement"), 0.0),
        "frames_analyzed": int(segments.info.get("faces", 0)),
    }


def _mean(values, low: float) -> float | None:
    """Mean of ``values`` clipped to [low, 1]; None when there are none."""
    a = np.asarray([] if values is None else values, dtype=np.float64)
    return float(np.clip(a.mean(), low, 1.0)) if a.size else None
