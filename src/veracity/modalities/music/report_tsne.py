"""t-SNE panels of the music evaluation report (seed 001, Phase 5): perplexity 30, at most
1000 points (seeded subsample), PCA init; blue = human, red = AI."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure
from sklearn.manifold import TSNE
from threadpoolctl import threadpool_limits

from veracity.errors import MetricError
from veracity.evaluation.plots import AI, HUMAN, plt  # plt: Agg backend set there
from veracity.modalities.music.report_metrics import DEFAULTS

MIN_TSNE_POINTS = 5


@dataclass(frozen=True, eq=False)
class TsnePanel:
    """One t-SNE panel: ``features [n, D]`` and their ``target [n]``, or ``None`` = missing."""

    title: str
    features: np.ndarray | None = None
    target: np.ndarray | None = None


def embed_tsne(
    features,
    seed: int,
    perplexity: float = DEFAULTS.tsne_perplexity,
    max_points: int = DEFAULTS.tsne_max_points,
    max_iter: int = DEFAULTS.tsne_max_iter,
    threads: int = DEFAULTS.tsne_threads,
) -> tuple[np.ndarray, np.ndarray]:
    """2-D t-SNE of at most ``max_points`` rows (seeded subsample); returns ``(coords, rows)``.

    Perplexity is clamped to ``(n - 1) / 3`` for small inputs (t-SNE needs n > perplexity).
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < MIN_TSNE_POINTS or x.shape[1] < 2 or not np.isfinite(x).all():
        raise MetricError(
            f"expected finite features [n >= {MIN_TSNE_POINTS}, D >= 2] for t-SNE, got shape "
            f"{x.shape}; pass the model's per-clip latent/embedding output"
        )
    rows = np.arange(x.shape[0])
    if x.shape[0] > max_points:
        rows = np.sort(np.random.default_rng(seed).choice(x.shape[0], max_points, replace=False))
    n = rows.size
    tsne = TSNE(
        n_components=2,
        perplexity=min(float(perplexity), (n - 1) / 3.0),
        learning_rate="auto",
        max_iter=max_iter,
        init="pca",
        metric="euclidean",
        method="barnes_hut",
        random_state=seed,
    )
    with threadpool_limits(limits=threads, user_api="openmp"):
        return tsne.fit_transform(x[rows]), rows


def plot_tsne(
    panels: list[TsnePanel],
    seed: int,
    perplexity: float = DEFAULTS.tsne_perplexity,
    max_points: int = DEFAULTS.tsne_max_points,
    max_iter: int = DEFAULTS.tsne_max_iter,
    threads: int = DEFAULTS.tsne_threads,
) -> Figure:
    """1 x len(panels) t-SNE scatter plots, blue = human, red = AI; a missing panel (or one
    with too few points) says "not available"."""
    fig, axes = plt.subplots(
        1, len(panels), figsize=(5 * len(panels), 5), squeeze=False, layout="constrained"
    )
    for ax, panel in zip(axes[0], panels, strict=True):
        ax.set_title(panel.title)
        ax.grid(True, alpha=0.3)
        n = 0 if panel.features is None else len(panel.features)
        if panel.target is None or n < MIN_TSNE_POINTS:
            ax.text(0.5, 0.5, "not available", ha="center", va="center", transform=ax.transAxes)
            ax.set(xticks=[], yticks=[])
            continue
        y = np.asarray(panel.target).reshape(-1)
        if y.size != n:
            raise MetricError(
                f"expected one target per t-SNE point in panel {panel.title!r}, got {y.size} "
                f"targets for {n} points; slice the targets with the outputs' rows"
            )
        coords, rows = embed_tsne(panel.features, seed, perplexity, max_points, max_iter, threads)
        y = y[rows]
        for cls, color, label in ((1, HUMAN, "Human"), (0, AI, "AI")):
            sel = y == cls
            ax.scatter(*coords[sel].T, s=8, alpha=0.7, color=color, label=f"{label} ({sel.sum()})")
        ax.set(xlabel="t-SNE 1", ylabel="t-SNE 2")
        ax.legend(loc="best")
    fig.suptitle("t-SNE of learned features")
    return fig
