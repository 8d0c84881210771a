"""Clip scores of one detector on one split: segment logits -> clip log-odds -> p_spoof.

Segment bonafide log-odds are ``z = logit[1] - logit[0]``; a clip's log-odds is the mean of
its segments' ``z`` (docs/contracts.md "Labels and scores"). The split is streamed from the
segment store in chunks.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from veracity.errors import DataError, MetricError
from veracity.evaluation.calibration import apply_calibration

log = logging.getLogger(__name__)

SCORE_COLUMNS = ["utt_id", "attack", "duration_s", "target", "logodds"]
# Segments per progress-bar step (and per read from the store); predict_logits batches inside.
_CHUNK_BATCHES = 8


def window_logodds(logits) -> np.ndarray:
    """Bonafide log-odds per window from ``[N, 2]`` logits (index 1 = bonafide)."""
    arr = logits.detach().cpu().numpy() if isinstance(logits, torch.Tensor) else np.asarray(logits)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise MetricError(f"expected logits of shape [N, 2], got {list(arr.shape)}")
    return arr[:, 1].astype(np.float64) - arr[:, 0].astype(np.float64)


def aggregate_clips(z_windows: np.ndarray, clip_row: np.ndarray, n_clips: int) -> np.ndarray:
    """Mean window log-odds per clip; every clip must have at least one window."""
    clip_row = np.asarray(clip_row, dtype=np.int64)
    counts = np.bincount(clip_row, minlength=n_clips)
    if counts.size > n_clips or (counts == 0).any():
        missing = int(np.count_nonzero(counts[:n_clips] == 0))
        raise DataError(
            f"expected every clip to have at least one window, {missing} of {n_clips} have none "
            "(or windows point past the clip table); re-run the features step"
        )
    return np.bincount(clip_row, weights=z_windows, minlength=n_clips) / counts


def input_names(loaded) -> tuple[str, ...]:
    """The inputs a loaded detector reads (recorded in its config.json at training)."""
    shapes = loaded.config.get("input_shapes") if isinstance(loaded.config, dict) else None
    if not shapes:
        raise DataError(
            f"{getattr(loaded, 'path', 'the artifact')} records no input_shapes; "
            "re-train it with `veracity train` (artifacts since the modality seam record them)"
        )
    return tuple(shapes)


def score_segments(loaded, split_data, batch: int, desc: str = "scoring") -> np.ndarray:
    """Bonafide log-odds of every segment of ``split_data`` (streamed in chunks)."""
    from veracity.models.inference import predict_logits

    n = len(split_data)
    chunk = max(batch * _CHUNK_BATCHES, 1)
    parts = []
    with tqdm(total=n, desc=desc, unit="seg", disable=None) as bar:
        for _, inputs in split_data.chunks(chunk, input_names(loaded)):
            parts.append(window_logodds(predict_logits(loaded.model, inputs, batch)))
            bar.update(len(parts[-1]))
    z = np.concatenate(parts) if parts else np.empty(0)
    bad = int(np.count_nonzero(~np.isfinite(z)))
    if bad:
        raise MetricError(
            f"expected finite logits, got {bad} NaN/Inf segments of {n} from the "
            f"{getattr(loaded, 'architecture', 'model')}; the weights may have diverged"
        )
    return z


def score_clips(loaded, split_data, batch: int, desc: str = "scoring") -> pd.DataFrame:
    """Score every clip of ``split_data`` (a segment-store split) with ``loaded.model``.

    Returns a DataFrame with ``utt_id, attack, duration_s, target, logodds`` (one row per
    clip, in the split's order), plus ``p_spoof`` and ``segment_p_spoof`` (the clip's
    segments in order) when ``loaded.calibration`` is set.
    Non-finite model outputs raise :class:`MetricError` rather than being dropped.
    """
    z = score_segments(loaded, split_data, batch, desc)
    n = len(z)
    clips = split_data.clips
    out = clips[SCORE_COLUMNS[:-1]].copy().reset_index(drop=True)
    out["target"] = out["target"].astype(np.int64)
    out["logodds"] = aggregate_clips(z, split_data.clip_row, len(clips))
    if getattr(loaded, "calibration", None):
        out["p_spoof"] = apply_calibration(out["logodds"].to_numpy(), loaded.calibration)
        # per-segment calibrated scores: a policy may read them (e.g. music's AI share)
        p_seg = apply_calibration(z, loaded.calibration)
        clip_row = np.asarray(split_data.clip_row, dtype=np.int64)
        order = np.argsort(clip_row, kind="stable")
        bounds = np.cumsum(np.bincount(clip_row, minlength=len(clips)))[:-1]
        out["segment_p_spoof"] = [a.tolist() for a in np.split(p_seg[order], bounds)]
    log.info("scored %d clips (%d windows)", len(out), n)
    return out
