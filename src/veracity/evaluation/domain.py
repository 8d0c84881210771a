"""The out-of-domain guard: does a recording resemble what the model was trained on?

A detector trained on one corpus answers with confidence on media unlike anything it saw
(seed 000 warns about exactly this gap). The guard describes the training domain twice, on
the train split: by the clip embeddings of one detector (``modalities.<m>.domain.role``) and
by the clips' descriptors (the modality's monitoring columns), each as a mean and a shrunk
covariance. A view's score is the Mahalanobis distance to it divided by sqrt(dim) (so it
reads the same for any width) and by its threshold, a quantile of the dev clips' scores
times a margin, set on data the model never trained on. ``domain_score`` is the larger of
the two: above 1 the served verdict is INCONCLUSIVE with reason ``out_of_domain``, the
detector scores still shown. Measured on the tiny demo corpus, the embedding view alone let
a piano chord through and the descriptor view alone a shaped noise; together neither.
Pure functions on arrays.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from veracity.errors import InputError, MetricError, ModelArtifactError

log = logging.getLogger(__name__)

DOMAIN_FILE = "domain.safetensors"
OUT_OF_DOMAIN = "out_of_domain"


@dataclass(frozen=True)
class DomainReference:
    """Mean [d] and precision [d, d] of the training clips' embeddings, and the threshold."""

    mean: np.ndarray
    precision: np.ndarray
    threshold: float

    def score(self, embeddings: np.ndarray) -> np.ndarray:
        """Domain score of each row of ``embeddings`` [n, d] (0 = the training mean)."""
        emb = np.atleast_2d(np.asarray(embeddings, dtype=np.float64))
        if emb.shape[1] != self.mean.shape[0]:
            raise MetricError(
                f"expected embeddings of width {self.mean.shape[0]}, got {emb.shape[1]}; "
                "the domain reference belongs to another detector"
            )
        diff = emb - self.mean
        d2 = np.einsum("ij,jk,ik->i", diff, self.precision, diff)
        return np.sqrt(np.maximum(d2, 0.0) / emb.shape[1])


def fit_domain(
    train: np.ndarray, dev: np.ndarray, shrinkage: float, quantile: float, margin: float
) -> DomainReference:
    """Fit the reference on ``train`` clip embeddings; threshold from the ``dev`` ones.

    The covariance is shrunk toward its diagonal (``shrinkage`` in [0, 1]) so a corpus with
    fewer clips than embedding dimensions still gives a usable precision matrix.
    """
    train = np.asarray(train, dtype=np.float64)
    dev = np.asarray(dev, dtype=np.float64)
    if train.ndim != 2 or len(train) < 2 or dev.ndim != 2 or len(dev) < 1:
        raise MetricError(
            f"expected at least 2 train and 1 dev clip embeddings [n, d], got {train.shape} "
            f"and {dev.shape}; the domain guard needs both splits"
        )
    mean = train.mean(axis=0)
    cov = np.cov(train, rowvar=False)
    diag = np.diag(np.diag(cov))
    cov = (1.0 - shrinkage) * cov + shrinkage * diag
    cov += np.eye(cov.shape[0]) * max(1e-6, 1e-6 * float(np.trace(cov)) / cov.shape[0])
    precision = np.linalg.pinv(cov)
    provisional = DomainReference(mean, precision, np.inf)
    threshold = float(np.quantile(provisional.score(dev), quantile)) * margin
    return DomainReference(mean, precision, threshold)


@dataclass(frozen=True)
class DomainGuard:
    """The two views of the training domain; a ratio > 1 means out of domain."""

    embedding: DomainReference
    descriptors: DomainReference
    columns: tuple[str, ...]  # descriptor columns, in the order of ``descriptors.mean``

    def embedding_ratio(self, embeddings: np.ndarray) -> np.ndarray:
        """Embedding-view score / its threshold, per row."""
        return self.embedding.score(embeddings) / self.embedding.threshold

    def descriptor_ratio(self, rows) -> np.ndarray:
        """Descriptor-view score / its threshold for descriptor mappings (or a matrix).

        A missing or non-finite descriptor counts as the training mean (no evidence).
        """
        if isinstance(rows, np.ndarray):
            matrix = np.array(np.atleast_2d(rows), dtype=np.float64)
        else:
            matrix = np.array(
                [[_num(r.get(c)) for c in self.columns] for r in rows], dtype=np.float64
            )
        bad = ~np.isfinite(matrix)
        matrix[bad] = np.broadcast_to(self.descriptors.mean, matrix.shape)[bad]
        return self.descriptors.score(matrix) / self.descriptors.threshold


def _num(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def descriptor_matrix(clips, columns) -> np.ndarray:
    """Descriptor columns of a clips table as a float matrix (NaN where missing)."""
    return np.array(
        [[_num(v) for v in row] for row in clips[list(columns)].itertuples(index=False)],
        dtype=np.float64,
    ).reshape(len(clips), len(columns))


def save_domain(path: Path, guard: DomainGuard) -> Path:
    """Write both views as safetensors (thresholds and columns in the metadata too)."""
    import json

    import torch
    from safetensors.torch import save_file

    tensors = {
        f"{view}_{key}": torch.from_numpy(getattr(getattr(guard, view), key).astype(np.float64))
        for view in ("embedding", "descriptors")
        for key in ("mean", "precision")
    }
    meta = {
        "embedding_threshold": repr(guard.embedding.threshold),
        "descriptors_threshold": repr(guard.descriptors.threshold),
        "columns": json.dumps(list(guard.columns)),
    }
    save_file(tensors, str(path), metadata=meta)
    return Path(path)


def load_domain(path: Path, info: dict) -> DomainGuard:
    """Read a guard written by :func:`save_domain`; thresholds and columns from bundle.json."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        t = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise ModelArtifactError(
            f"{path} is not a readable domain reference ({exc}); rebuild the bundle with the gate"
        ) from exc
    views = [
        DomainReference(
            t[f"{view}_mean"].numpy(),
            t[f"{view}_precision"].numpy(),
            float(info[f"{view}_threshold"]),
        )
        for view in ("embedding", "descriptors")
    ]
    return DomainGuard(views[0], views[1], tuple(info["columns"]))


def clip_embeddings(loaded, reader, clip_index: np.ndarray, batch: int) -> np.ndarray:
    """Mean segment embedding of the clips ``clip_index`` of a segment-store split."""
    from veracity.evaluation.scoring import input_names
    from veracity.models.inference import predict_outputs

    clip_index = np.asarray(clip_index, dtype=np.int64)
    position = np.full(len(reader.clips), -1)
    position[clip_index] = np.arange(len(clip_index))
    rows = np.flatnonzero(position[reader.clip_row] >= 0)
    sums, counts = None, np.zeros(len(clip_index))
    step = max(batch * 8, 1)
    for start in range(0, len(rows), step):
        part = rows[start : start + step]
        _, emb = predict_outputs(loaded.model, reader.read(part, input_names(loaded)), batch)
        if sums is None:
            sums = np.zeros((len(clip_index), emb.shape[1]))
        owner = position[reader.clip_row[part]]
        np.add.at(sums, owner, emb.astype(np.float64))
        np.add.at(counts, owner, 1)
    if sums is None:
        raise MetricError("no segments to embed: the split has no clips for the domain guard")
    return sums / np.maximum(counts, 1)[:, None]


def guard_decision(decision, domain_score: float | None, threshold: float | None = 1.0):
    """The decision, or INCONCLUSIVE (``out_of_domain``) when the recording is far from the
    training domain; the rule's own answer stays in ``rule_label``/``rule``."""
    from dataclasses import replace

    from veracity.modalities.base import INCONCLUSIVE

    details = {**decision.details, "domain_score": domain_score, "domain_threshold": threshold}
    if domain_score is None or threshold is None or domain_score <= threshold:
        return replace(decision, details=details)
    return replace(decision, label=INCONCLUSIVE, reason=OUT_OF_DOMAIN, details=details)


def fit_domain_guard(cfg, modality, params, features: Path, loaded, eval_split, out: Path):
    """Fit the out-of-domain guard (embedding and descriptor views) on train clips, its
    thresholds on dev; score the eval clips.

    Writes ``out/domain.safetensors``; returns the bundle.json ``domain`` entry plus
    ``eval_scores`` (> 1 = out of domain).
    """
    from veracity.segment_store import load_split

    conf, batch = params.domain, cfg.evaluation.batch_size
    columns = tuple(conf.descriptors)
    unknown = sorted(set(columns) - set(modality.descriptor_columns(params)))
    if unknown:
        raise InputError(
            f"modalities.{modality.name}.domain.descriptors names {unknown}, which are not "
            f"descriptor columns of {modality.name}; pick from {modality.descriptor_columns(params)}"
        )
    rng = np.random.default_rng(cfg.seed)
    train, dev = load_split(features, "train"), load_split(features, "dev")
    n_fit = min(conf.max_fit_clips, len(train.clips))
    fit_clips = np.sort(rng.choice(len(train.clips), size=n_fit, replace=False))
    all_dev = np.arange(len(dev.clips))
    fit = {"shrinkage": conf.shrinkage, "quantile": conf.dev_quantile, "margin": conf.margin}
    train_desc = descriptor_matrix(train.clips, columns)
    fill = np.nanmean(train_desc, axis=0)
    fill = np.where(np.isfinite(fill), fill, 0.0)

    def filled(matrix):
        return np.where(np.isfinite(matrix), matrix, fill)

    guard = DomainGuard(
        fit_domain(
            clip_embeddings(loaded, train, fit_clips, batch),
            clip_embeddings(loaded, dev, all_dev, batch),
            **fit,
        ),
        fit_domain(filled(train_desc), filled(descriptor_matrix(dev.clips, columns)), **fit),
        columns,
    )
    out.mkdir(parents=True, exist_ok=True)
    save_domain(out / DOMAIN_FILE, guard)
    all_eval = np.arange(len(eval_split.clips))
    eval_scores = np.maximum(
        guard.embedding_ratio(clip_embeddings(loaded, eval_split, all_eval, batch)),
        guard.descriptor_ratio(descriptor_matrix(eval_split.clips, columns)),
    )
    log.info(
        "domain guard (%s + descriptors): %.1f%% of eval clips out of domain",
        conf.role,
        100 * float(np.mean(eval_scores > 1.0)),
    )
    return {
        "role": conf.role,
        "file": DOMAIN_FILE,
        "threshold": 1.0,
        "embedding_threshold": guard.embedding.threshold,
        "descriptors_threshold": guard.descriptors.threshold,
        "columns": list(columns),
        "fit_clips": int(n_fit),
        "eval_scores": eval_scores,
        "eval_utt_ids": eval_split.clips["utt_id"],
        "guard": guard,
    }
