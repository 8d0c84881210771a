"""The out-of-domain guard: does a recording resemble what the model was trained on?

A detector trained on one corpus answers with confidence on media unlike anything it saw
(seed 000 warns about exactly this gap). The guard describes the training domain by the
clip embeddings of one detector (``modalities.<m>.domain.role``) on the train split: their
mean and a shrunk covariance. A clip's ``domain_score`` is its Mahalanobis distance to that
distribution, divided by sqrt(dim) so it reads the same for any embedding width; the
threshold is a quantile of the dev clips' scores (times a margin), so it is set on data the
model never trained on. Above the threshold the served verdict is INCONCLUSIVE with reason
``out_of_domain`` and the detector scores are still shown. Pure functions on arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from veracity.errors import MetricError, ModelArtifactError

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


def save_domain(path: Path, ref: DomainReference) -> Path:
    """Write the reference as safetensors (the threshold travels in its metadata too)."""
    import torch
    from safetensors.torch import save_file

    tensors = {
        "mean": torch.from_numpy(ref.mean.astype(np.float64)),
        "precision": torch.from_numpy(ref.precision.astype(np.float64)),
    }
    save_file(tensors, str(path), metadata={"threshold": repr(ref.threshold)})
    return Path(path)


def load_domain(path: Path, threshold: float) -> DomainReference:
    """Read a reference written by :func:`save_domain` (``threshold`` from bundle.json)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise ModelArtifactError(
            f"{path} is not a readable domain reference ({exc}); rebuild the bundle with the gate"
        ) from exc
    return DomainReference(tensors["mean"].numpy(), tensors["precision"].numpy(), float(threshold))


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


def guard_decision(decision, domain_score: float | None, threshold: float | None):
    """The decision, or INCONCLUSIVE (``out_of_domain``) when the recording is far from the
    training domain; the rule's own answer stays in ``rule_label``/``rule``."""
    from dataclasses import replace

    from veracity.modalities.base import INCONCLUSIVE

    details = {**decision.details, "domain_score": domain_score, "domain_threshold": threshold}
    if domain_score is None or threshold is None or domain_score <= threshold:
        return replace(decision, details=details)
    return replace(decision, label=INCONCLUSIVE, reason=OUT_OF_DOMAIN, details=details)
