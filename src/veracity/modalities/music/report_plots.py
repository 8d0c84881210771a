"""Figures of the music evaluation report (seed 001, Phase 5): matplotlib, Agg backend.

Every function returns a titled, gridded Figure; :func:`veracity.evaluation.plots.save_figure`
writes it. Colours are the platform's: human blue, AI red; a model keeps one colour in every
figure (:func:`model_colors`). Heatmaps emulate seaborn's annotated heatmap with ``imshow``
and the "Blues" colormap (white = 0 to dark blue = 100 %).
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")  # headless, as veracity.evaluation.plots

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from sklearn.metrics import roc_auc_score, roc_curve  # noqa: E402

from veracity.errors import MetricError  # noqa: E402
from veracity.evaluation.plots import AI  # noqa: E402
from veracity.modalities.music.report_metrics import (  # noqa: E402
    CONFUSION_LABELS,
    DEFAULTS,
    attention_summary,
    check_pair,
    classification_metrics,
)

TRAINING_PANELS = (  # row-major order of the 2 x 3 training-curves grid
    ("train_loss", "Train loss"),
    ("dev_loss", "Dev loss"),
    ("dev_eer", "Dev EER"),
    ("dev_accuracy", "Dev accuracy"),
    ("lr", "Learning rate"),
    ("throughput_utt_s", "Throughput (clips/s)"),
)


def model_colors(names) -> dict[str, str]:
    """One tab10 colour per model name, in the given order."""
    return {n: f"C{i % 10}" for i, n in enumerate(names)}


def _heatmap(ax, values, annotations, xlabels, ylabels, vmax: float = 1.0):
    """Seaborn-style heatmap: white to dark blue, one annotation per cell."""
    image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=vmax, aspect="auto")
    for (i, j), v in np.ndenumerate(values):
        color = "white" if v > vmax / 2 else "black"
        ax.text(j, i, annotations[i][j], ha="center", va="center", color=color)
    ax.set_xticks(range(len(xlabels)), xlabels)
    ax.set_yticks(range(len(ylabels)), ylabels)
    return image


def plot_confusion_grid(models) -> Figure:
    """Confusion matrix per model in a 2-column grid (rows grow with the models): counts
    annotated, colour = share of the true class, titled "Model - Accuracy: XX.XX%"."""
    n = len(models)
    if n == 0:
        raise MetricError("expected at least one model to plot, got none")
    cols, rows = (2, math.ceil(n / 2)) if n > 1 else (1, 1)
    fig, axes = plt.subplots(
        rows, cols, figsize=(5 * cols + 1, 4.4 * rows), squeeze=False, layout="constrained"
    )
    image = None
    for ax, model in zip(axes.flat, models, strict=False):
        met = classification_metrics(model.target, model.p_ai, model.threshold)
        counts = np.asarray(met["confusion"])
        share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        notes = [
            [f"{c}\n({s:.1%})" for c, s in zip(r, q, strict=True)]
            for r, q in zip(counts, share, strict=True)
        ]
        image = _heatmap(ax, share, notes, CONFUSION_LABELS, CONFUSION_LABELS)
        ax.set(xlabel="Predicted", ylabel="True")
        ax.set_title(f"{model.name} - Accuracy: {100 * met['accuracy']:.2f}%")
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, label="share of the true class")
    fig.suptitle("Confusion matrices (test set)")
    return fig


def plot_roc_all(models) -> Figure:
    """ROC curves of all models on one axes (AI = positive), AUC in the legend."""
    fig, ax = plt.subplots(figsize=(6, 6))
    colors = model_colors([m.name for m in models])
    for model in models:
        y, p = check_pair(model.target, model.p_ai)
        fpr, tpr, _ = roc_curve(1 - y, p)
        auc = roc_auc_score(1 - y, p)
        ax.plot(fpr, tpr, color=colors[model.name], label=f"{model.name} (AUC = {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8, label="chance")
    ax.set(title="ROC curves (AI = positive)", xlabel="False Positive Rate")
    ax.set(ylabel="True Positive Rate", xlim=(0, 1), ylim=(0, 1.01))
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    return fig


def plot_metric_bars(table) -> Figure:
    """Grouped bars per model: Accuracy, Precision and Recall (macro over the two classes)
    and F1 (``F1_Macro``) from the comparison table; y in [0, 1]."""
    metrics = {
        "Accuracy": table["Accuracy"].to_numpy(),
        "Precision (macro)": (table["Precision_AI"] + table["Precision_Human"]).to_numpy() / 2,
        "Recall (macro)": (table["Recall_AI"] + table["Recall_Human"]).to_numpy() / 2,
        "F1 (macro)": table["F1_Macro"].to_numpy(),
    }
    x, width = np.arange(len(table)), 0.8 / len(metrics)
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(table)), 4.5))
    for i, (label, values) in enumerate(metrics.items()):
        ax.bar(x + (i - 1.5) * width, values, width, label=label, color=plt.get_cmap("Set2")(i))
    ax.set_xticks(x, table["Model"].tolist())
    ax.set(title="Metrics comparison (test set)", xlabel="Model", ylabel="Metric value")
    ax.set_ylim(0, 1.05)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=len(metrics))
    return fig


def attention_analysis(
    attention,
    target,
    seed: int = 0,
    max_rows: int = DEFAULTS.attention_heatmap_rows,
    balanced_margin: float = DEFAULTS.balanced_margin,
) -> tuple[dict, Figure]:
    """Attention of the hybrid: summary (see :func:`attention_summary`) and a figure with the
    mean AE/Transformer weights per class (bars) and a per-sample heatmap (at most
    ``max_rows`` clips, seeded subsample, sorted by class then AE weight)."""
    summary = attention_summary(attention, target, balanced_margin)
    att, y = np.asarray(attention, dtype=np.float64), np.asarray(target).reshape(-1)
    fig, (bars, heat) = plt.subplots(
        1, 2, figsize=(11, 5), width_ratios=(3, 2), layout="constrained"
    )
    groups = [(k, summary[k]) for k in ("overall", "human", "ai") if summary[k] is not None]
    x = np.arange(len(groups))
    for i, (source, color) in enumerate((("ae", "C2"), ("transformer", "C4"))):
        values = [g[source] for _, g in groups]
        label = "AE" if source == "ae" else "Transformer"
        drawn = bars.bar(x + (i - 0.5) * 0.38, values, 0.38, label=label, color=color)
        bars.bar_label(drawn, labels=[f"{v:.1%}" for v in values], fontsize=8)
    shown = {"overall": "Overall", "human": "Human", "ai": "AI"}
    bars.set_xticks(x, [f"{shown[k]} (n={g['n']})" for k, g in groups])
    bars.set(title="Mean attention weight by class", ylabel="attention weight", ylim=(0, 1))
    bars.grid(True, axis="y", alpha=0.3)
    bars.legend()
    rows = np.arange(y.size)
    if y.size > max_rows:
        rows = np.random.default_rng(seed).choice(y.size, max_rows, replace=False)
    rows = rows[np.lexsort((att[rows, 0], y[rows]))]  # AI (0) first, then human
    image = heat.imshow(
        att[rows], cmap="Blues", vmin=0, vmax=1, aspect="auto", interpolation="nearest"
    )
    heat.set_xticks([0, 1], ["AE", "Transformer"])
    n_ai = int(np.sum(y[rows] == 0))
    heat.set(title="Per-sample attention", ylabel=f"clips (AI: rows 0-{n_ai - 1}, then human)")
    if 0 < n_ai < rows.size:
        heat.axhline(n_ai - 0.5, color=AI, linewidth=1.5)
    fig.colorbar(image, ax=heat, label="weight")
    fig.suptitle(summary["sentence"][0].upper() + summary["sentence"][1:])
    return summary, fig


def plot_reconstructions(inputs, recons, target, n: int = DEFAULTS.recon_examples) -> Figure:
    """Original vs reconstructed log-mel of the first ``n`` clips per class (rows: human
    originals, human reconstructions, AI originals, AI reconstructions)."""
    x, r, y = np.asarray(inputs), np.asarray(recons), np.asarray(target).reshape(-1)
    if x.ndim != 3 or x.shape != r.shape or x.shape[0] != y.size or not 1 <= n <= 20:
        raise MetricError(
            f"expected inputs and reconstructions of one shape [n, mels, frames] with one "
            f"target each and 1 <= n <= 20, got {x.shape}, {r.shape}, {y.size} targets, n={n}; "
            "pass the autoencoder's 'input' and 'reconstruction' outputs"
        )
    fig, axes = plt.subplots(4, n, figsize=(2.4 * n, 8), squeeze=False, layout="constrained")
    for block, (cls, name) in enumerate(((1, "Human"), (0, "AI"))):
        picks = np.flatnonzero(y == cls)[:n]
        for j in range(n):
            top, bottom = axes[2 * block, j], axes[2 * block + 1, j]
            for ax in (top, bottom):
                ax.set(xticks=[], yticks=[])
            if j >= picks.size:
                top.set_visible(False)
                bottom.set_visible(False)
                continue
            i = picks[j]
            lo, hi = float(x[i].min()), float(x[i].max())
            top.imshow(x[i], origin="lower", aspect="auto", vmin=lo, vmax=hi, cmap="magma")
            bottom.imshow(r[i], origin="lower", aspect="auto", vmin=lo, vmax=hi, cmap="magma")
            top.set_title(f"{name} #{i}", fontsize=9)
            bottom.set_title(f"recon MSE {np.mean((x[i] - r[i]) ** 2):.4f}", fontsize=9)
        axes[2 * block, 0].set_ylabel(f"{name}\noriginal")
        axes[2 * block + 1, 0].set_ylabel(f"{name}\nreconstructed")
    fig.suptitle("Autoencoder reconstructions (log-mel; same colour scale per pair)")
    return fig


def plot_training_curves(
    histories: dict[str, list[dict]], colors: dict[str, str] | None = None
) -> Figure:
    """2 x 3 grid, one line per model, panels in :data:`TRAINING_PANELS` order: train loss,
    dev loss, dev EER / dev accuracy, learning rate (log), throughput. A key no history has
    is drawn as "not recorded". ``colors``: model name -> colour (default :func:`model_colors`)."""
    fig, axes = plt.subplots(2, 3, figsize=(15, 8), layout="constrained")
    colors = colors or model_colors(list(histories))
    for ax, (key, title) in zip(axes.flat, TRAINING_PANELS, strict=True):
        ax.set(title=title, xlabel="epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        drawn = False
        for name, epochs in histories.items():
            points = [
                (e.get("epoch", i + 1), e[key])
                for i, e in enumerate(epochs)
                if e.get(key) is not None
            ]
            if points:
                ax.plot(
                    *zip(*points, strict=True), marker="o", ms=3, color=colors[name], label=name
                )
                drawn = True
        if not drawn:
            ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes)
            continue
        if key == "lr":
            ax.set_yscale("log")
        ax.legend(fontsize=8)
    fig.suptitle("Training curves")
    return fig
