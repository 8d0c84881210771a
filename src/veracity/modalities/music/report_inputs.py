"""The music report hook: evaluated detectors -> :class:`ModelEval` -> seed 001's report.

The evaluate step hands every calibrated detector over as an
:class:`~veracity.modalities.base.EvaluatedModel`; here each becomes a :class:`ModelEval`
(clip targets, calibrated AI probabilities, generators) with the outputs the Phase-5 figures
need, computed on the first segment of up to ``report.tsne_max_points`` eval clips (the demo
and seed 001's corpora hold one 5 s segment per file): latents, embeddings, attention
weights, and the autoencoder's input and reconstruction.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from veracity.modalities.base import EvaluatedModel
from veracity.modalities.music.params import MusicParams
from veracity.modalities.music.report import ModelEval, write_music_report

log = logging.getLogger(__name__)

KEPT_OUTPUTS = ("latent", "embedding", "attention", "ae_features", "trans_features")
RECONSTRUCTION = ("reconstruction",)  # with the logmel "input" it came from


def first_segments(split, n_clips: int, limit: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(clip indices, segment rows)``: the first segment of up to ``limit`` clips (seeded)."""
    clip_row = np.asarray(split.clip_row, dtype=np.int64)
    first = np.full(n_clips, -1, dtype=np.int64)
    seen = np.unique(clip_row, return_index=True)
    first[seen[0]] = seen[1]
    clips = np.flatnonzero(first >= 0)
    if len(clips) > limit:
        clips = np.sort(np.random.default_rng(seed).choice(clips, size=limit, replace=False))
    return clips, first[clips]


@torch.inference_mode()
def model_outputs(loaded, split, rows: np.ndarray, batch: int) -> dict[str, np.ndarray]:
    """The report's outputs of ``loaded.model`` on segment ``rows`` of ``split``."""
    names = tuple(loaded.config.get("input_shapes") or ())
    model = loaded.model.eval()
    parts: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(rows), batch):
        inputs = split.read(rows[start : start + batch], names)
        out = model({k: torch.as_tensor(v).float() for k, v in inputs.items()})
        for key in KEPT_OUTPUTS + RECONSTRUCTION:
            if key in out:
                parts.setdefault(key, []).append(out[key].float().cpu().numpy())
        if "reconstruction" in out and "logmel" in inputs:
            parts.setdefault("input", []).append(np.asarray(inputs["logmel"], dtype=np.float32))
    return {k: np.concatenate(v) for k, v in parts.items()}


def report(
    models: list[EvaluatedModel], out: Path, params: MusicParams, dpi: int, seed: int
) -> dict:
    """Seed 001's Phase-5 report of ``models`` under ``out`` (see :mod:`.report`)."""
    evals = []
    for m in models:
        s = m.scores
        clips, rows = first_segments(m.split, len(s), params.report.tsne_max_points, seed)
        outputs = model_outputs(m.loaded, m.split, rows, 32) if len(rows) else {}
        evals.append(
            ModelEval(
                name=m.name,
                target=s["target"].to_numpy(),
                p_ai=s["p_spoof"].to_numpy(),
                threshold=float(m.threshold),
                attack=s["attack"].astype(str).to_numpy(),
                unseen=frozenset(m.unseen_attacks),
                outputs=outputs,
                rows=clips if outputs else None,
                history=m.history or None,
                architecture=m.architecture,
            )
        )
    result = write_music_report(evals, Path(out), dpi, seed, params.report)
    return {**result, "files": [*result["pngs"], result["csv"], result["json"]]}
