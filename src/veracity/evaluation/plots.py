"""Evaluation plots (matplotlib, Agg backend): each function returns a titled Figure.

Colours are the same everywhere: human (bonafide) blue, AI (spoof) red. The steps save the
figures with :func:`save_figure` at ``evaluation.plot_dpi``.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: pipelines and CI have no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from veracity.evaluation.metrics import compute_det_curve, reliability_bins  # noqa: E402

HUMAN, AI = "tab:blue", "tab:red"
PNG_LEVEL = 1


def save_figure(fig: Figure, path: Path, dpi: int) -> Path:
    """Write ``fig`` as PNG and free it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # zlib level 1 (Pillow's default is 6): a 20-panel spectrogram grid at 150 dpi encodes
    # in 2.0 s instead of 2.8 s for a 5 % larger file (the evaluate step writes ~30 PNGs)
    fig.savefig(path, dpi=dpi, bbox_inches="tight", pil_kwargs={"compress_level": PNG_LEVEL})
    plt.close(fig)
    return path


def plot_roc(curves: dict[str, tuple[np.ndarray, np.ndarray]]) -> Figure:
    """ROC curves, spoof (AI) as positive: ``curves[name] = (targets, p_spoof)``."""
    # imported here: the calibrate step draws only reliability diagrams (start-up CPU)
    from sklearn.metrics import roc_curve

    fig, ax = plt.subplots(figsize=(5, 5))
    for name, (targets, p_spoof) in curves.items():
        fpr, tpr, _ = roc_curve(1 - np.asarray(targets), p_spoof)
        ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8, label="chance")
    ax.set(
        title="ROC (AI = positive)",
        xlabel="False Positive Rate",
        ylabel="True Positive Rate",
        xlim=(0, 1),
        ylim=(0, 1.01),
    )
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    return fig


def plot_det(curves: dict[str, tuple[np.ndarray, np.ndarray]]) -> Figure:
    """DET curves on probit axes: ``curves[name] = (bonafide_scores, spoof_scores)``."""
    from scipy.stats import norm  # here, not at import: scipy.stats costs start-up CPU

    fig, ax = plt.subplots(figsize=(5, 5))
    lo, hi = 0.001, 0.5
    for name, (bona, spoof) in curves.items():
        frr, far, _ = compute_det_curve(bona, spoof)
        ax.plot(norm.ppf(np.clip(far, lo, 1 - lo)), norm.ppf(np.clip(frr, lo, 1 - lo)), label=name)
    ticks = np.array([0.001, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4])
    ax.set_xticks(norm.ppf(ticks), [f"{t:.0%}" if t >= 0.01 else f"{t:.1%}" for t in ticks])
    ax.set_yticks(norm.ppf(ticks), [f"{t:.0%}" if t >= 0.01 else f"{t:.1%}" for t in ticks])
    ax.plot(
        norm.ppf([lo, hi]),
        norm.ppf([lo, hi]),
        color="grey",
        linestyle=":",
        linewidth=0.8,
        label="EER line",
    )
    ax.set(
        title="DET (bonafide = target)",
        xlabel="False Acceptance Rate (spoof accepted)",
        ylabel="False Rejection Rate (bonafide rejected)",
        xlim=norm.ppf([lo, hi]),
        ylim=norm.ppf([lo, hi]),
    )
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right")
    return fig


def plot_score_histogram(targets, p_spoof, threshold: float, name: str) -> Figure:
    """Histograms of calibrated ``p_spoof`` per class with the operating threshold."""
    targets, p_spoof = np.asarray(targets), np.asarray(p_spoof)
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.linspace(0, 1, 31)
    ax.hist(p_spoof[targets == 1], bins=bins, alpha=0.6, color=HUMAN, label="human (bonafide)")
    ax.hist(p_spoof[targets == 0], bins=bins, alpha=0.6, color=AI, label="AI (spoof)")
    ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.3f}")
    ax.set(title=f"Score distribution: {name}", xlabel="calibrated p_spoof", ylabel="clips")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return fig


def plot_confusion(confusion: dict[str, int], name: str) -> Figure:
    """Confusion matrix (rows: true class, columns: predicted class)."""
    mat = np.array(
        [
            [confusion["human_as_human"], confusion["human_as_ai"]],
            [confusion["ai_as_human"], confusion["ai_as_ai"]],
        ]
    )
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(mat, cmap="Blues")
    for (i, j), v in np.ndenumerate(mat):
        ax.text(
            j, i, str(v), ha="center", va="center", color="white" if v > mat.max() / 2 else "black"
        )
    ax.set_xticks([0, 1], ["HUMAN", "AI"])
    ax.set_yticks([0, 1], ["HUMAN", "AI"])
    ax.set(title=f"Confusion matrix: {name}", xlabel="predicted", ylabel="true")
    return fig


def plot_reliability(
    targets, p_by_name: dict[str, np.ndarray], n_bins: int, title: str = "Reliability diagram"
) -> Figure:
    """Reliability diagram: mean ``p_spoof`` against observed spoof share, per bin."""
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8, label="perfect")
    for name, p in p_by_name.items():
        bins = reliability_bins(targets, p, n_bins)
        used = bins["count"] > 0
        ax.plot(bins["mean_p"][used], bins["frequency"][used], marker="o", label=name)
    ax.set(
        title=title,
        xlabel="mean predicted p_spoof",
        ylabel="observed share of AI clips",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left")
    return fig
