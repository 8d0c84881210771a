"""A recording's segments to the predictor in requests under its body limit.

A 30 s 720p video is 59 windows of ten 224 px face crops: 355 MB of FP32 tensors, four
times the predictor's ``serving.max_request_bytes``. The transformer therefore sends the
segments of one detector in consecutive requests of at most ``rows_per_request`` rows and
merges the answers: per-segment ``p_spoof`` and ``logodds`` concatenated in order, the clip
score recomputed as the predictor computes it (the calibrated mean log-odds of all the
segments, with the role's ``calibration.json`` from the bundle), and the embedding view of
the domain guard as the highest of the parts (out of domain if any part is).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

log = logging.getLogger(__name__)

V2_HEADER_BYTES = 1 << 20  # the JSON header of a V2 binary request (names, shapes, params)
WIRE_ITEM_BYTES = 4  # every input travels as FP32


def rows_per_request(inputs: Mapping[str, np.ndarray], max_request_bytes: int) -> int:
    """How many segments of ``inputs`` fit in one predictor request (at least one)."""
    per_row = sum(int(np.prod(a.shape[1:], dtype=np.int64)) * WIRE_ITEM_BYTES
                  for a in inputs.values())  # fmt: skip
    return max(1, (max_request_bytes - V2_HEADER_BYTES) // max(1, per_row))


def split_rows(inputs: Mapping[str, np.ndarray], size: int) -> list[dict[str, np.ndarray]]:
    """``inputs`` cut along the segment axis into parts of at most ``size`` rows."""
    n = len(next(iter(inputs.values())))
    return [{k: v[i : i + size] for k, v in inputs.items()} for i in range(0, n, size)]


def merge_outputs(parts: list[dict[str, np.ndarray]], calibration: dict) -> dict[str, np.ndarray]:
    """One answer from the answers of consecutive parts (see the module docstring)."""
    from veracity.evaluation.calibration import apply_calibration

    logodds = np.concatenate([np.asarray(p["logodds"]).ravel() for p in parts])
    merged = {
        "p_spoof": np.concatenate([np.asarray(p["p_spoof"]).ravel() for p in parts]),
        "logodds": logodds,
        "clip_p_spoof": apply_calibration(np.array([logodds.mean()]), calibration),
    }
    if all("domain_score" in p for p in parts):
        worst = max(float(np.ravel(p["domain_score"])[0]) for p in parts)
        merged["domain_score"] = np.array([worst])
    return merged
