"""Seed 001's Phase-5 evaluation report of the music detectors (issue 12).

:func:`write_music_report` takes one :class:`ModelEval` per evaluated model and writes::

    plots/confusion_matrices.png   2-column grid, "Model - Accuracy: XX.XX%"
    plots/roc_curves.png           all models, AUC in the legend
    plots/tsne.png                 AE latent | transformer embedding | hybrid fused features
    plots/metrics_comparison.png   accuracy / precision / recall / F1 per model (>= 2 models)
    plots/attention_analysis.png   hybrid attention per class + per-sample heatmap
    plots/reconstructions.png      autoencoder: 5 clips per class, original vs reconstructed
    plots/training_curves.png      2 x 3 grid of the training histories
    model_comparison_table.csv     seed 001's columns, accuracy descending
    music_report.json              every metric, per generator, attention, attention vs concat

A figure whose inputs are missing is skipped with a note (logged and in the JSON). Models
are recognised by ``architecture`` (default: the role name; role "hybrid" means
"hybrid_attention"). Numbers live in :mod:`report_metrics`, figures in :mod:`report_plots` and
:mod:`report_tsne`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from veracity.errors import MetricError
from veracity.evaluation.plots import save_figure
from veracity.evaluation.summary import comparison_table
from veracity.modalities.music import report_plots as rp
from veracity.modalities.music.report_metrics import (
    MusicReportParams,
    attention_summary,
    attention_vs_concat,
    check_pair,
    classification_metrics,
    format_console_table,
    per_generator_metrics,
)
from veracity.modalities.music.report_plots import (
    attention_analysis,
    plot_confusion_grid,
    plot_metric_bars,
    plot_reconstructions,
    plot_roc_all,
    plot_training_curves,
)
from veracity.modalities.music.report_tsne import TsnePanel, plot_tsne

__all__ = [
    "ModelEval",
    "MusicReportParams",
    "attention_analysis",
    "attention_summary",
    "attention_vs_concat",
    "classification_metrics",
    "comparison_table",
    "format_console_table",
    "per_generator_metrics",
    "plot_confusion_grid",
    "plot_metric_bars",
    "plot_reconstructions",
    "plot_roc_all",
    "plot_training_curves",
    "plot_tsne",
    "TsnePanel",
    "tsne_panels",
    "write_music_report",
]

log = logging.getLogger(__name__)

REPORT_JSON, COMPARISON_CSV, PLOTS_DIR = "music_report.json", "model_comparison_table.csv", "plots"
_ARCH_BY_ROLE = {"hybrid": "hybrid_attention"}
AE_KINDS, ATTENTION_KIND, CONCAT_KIND = (
    ("autoencoder", "ae_mlp"),
    "hybrid_attention",
    "hybrid_concat",
)


@dataclass(frozen=True, eq=False)
class ModelEval:
    """One evaluated model: clip targets (1 = human, 0 = AI), calibrated ``p_ai``, the
    threshold (AI when ``p_ai >= threshold``), generator ids ("-" for human) and optional
    per-clip ``outputs`` ("latent", "embedding", "attention", "reconstruction", "input",
    "ae_features", "trans_features") for the clips ``rows`` (``None`` = all clips)."""

    name: str
    target: np.ndarray
    p_ai: np.ndarray
    threshold: float
    attack: np.ndarray
    unseen: frozenset[str]
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    rows: np.ndarray | None = None
    history: list[dict] | None = None
    architecture: str = ""  # "" = derived from the name (see kind())

    def kind(self) -> str:
        """The architecture: ``architecture``, else the role name ("hybrid" = attention)."""
        return self.architecture or _ARCH_BY_ROLE.get(self.name, self.name)

    def output(self, key: str) -> tuple[np.ndarray, np.ndarray] | None:
        """``(outputs[key], the targets of its rows)``, or ``None`` when absent."""
        if key not in self.outputs:
            return None
        rows = np.arange(len(self.target)) if self.rows is None else np.asarray(self.rows)
        return np.asarray(self.outputs[key]), np.asarray(self.target)[rows]


def check_model(model: ModelEval) -> None:
    """Raise :class:`MetricError` unless the arrays of ``model`` agree with each other."""
    y, _ = check_pair(model.target, model.p_ai)
    if np.asarray(model.attack).reshape(-1).size != y.size:
        raise MetricError(
            f"expected one generator id per clip for {model.name}, got "
            f"{np.asarray(model.attack).size} for {y.size} clips; pass the clips' attack column"
        )
    if not np.isfinite(model.threshold):
        raise MetricError(
            f"expected a finite threshold for {model.name}, got {model.threshold}; "
            "take it from the model's calibration.json"
        )
    rows = np.arange(y.size) if model.rows is None else np.asarray(model.rows).reshape(-1)
    if rows.size and (
        not np.issubdtype(rows.dtype, np.integer) or rows.min() < 0 or rows.max() >= y.size
    ):
        raise MetricError(
            f"expected rows of {model.name} to be integer clip indices in [0, {y.size}), got "
            f"dtype {rows.dtype}; pass the positions of the output rows in target/p_ai"
        )
    for key, value in model.outputs.items():
        if np.shape(value)[:1] != (rows.size,):
            raise MetricError(
                f"expected outputs[{key!r}] of {model.name} to have {rows.size} rows (one per "
                f"index in rows), got shape {np.shape(value)}; slice outputs and rows together"
            )


def _json_scalar(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _first(models, kinds, key):
    return next((m for m in models if m.kind() in kinds and key in m.outputs), None)


def tsne_panels(models: list[ModelEval]) -> list[TsnePanel]:
    """Seed 001's three panels; a hybrid's own branch features stand in for a missing
    autoencoder / AST model."""
    hybrids = (ATTENTION_KIND, CONCAT_KIND)
    sources = [
        ("AE latent", [(AE_KINDS, "latent"), (hybrids, "ae_features")]),
        ("Transformer embedding", [(("ast_mlp",), "embedding"), (hybrids, "trans_features")]),
        ("Hybrid attention-weighted", [((ATTENTION_KIND,), "embedding")]),
    ]
    panels = []
    for title, options in sources:
        found = next(((m, k) for kinds, k in options if (m := _first(models, kinds, k))), None)
        if found is None:
            panels.append(TsnePanel(f"{title} (not available)"))
            continue
        features, target = found[0].output(found[1])
        dim = features.reshape(len(features), -1).shape[1]
        panels.append(TsnePanel(f"{title} ({found[0].name}, {dim}-d)", features, target))
    return panels


def write_music_report(
    models: list[ModelEval], out: Path, dpi: int, seed: int, params: MusicReportParams | None = None
) -> dict:
    """Write the report under ``out`` (layout in the module docstring); return
    ``{"pngs", "csv", "json", "summary", "console"}``."""
    p = params or MusicReportParams()
    if not models:
        raise MetricError("expected at least one evaluated model, got none; pass ModelEval rows")
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise MetricError(f"expected unique model names, got {names}; name models by role")
    for model in models:
        check_model(model)
    out = Path(out)
    notes: list[str] = []
    metrics = {m.name: classification_metrics(m.target, m.p_ai, m.threshold) for m in models}
    for m in models:
        metrics[m.name]["architecture"] = m.kind()
        metrics[m.name]["per_generator"] = per_generator_metrics(
            m.target, m.p_ai, m.threshold, m.attack, m.unseen
        )
    table = comparison_table(metrics)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / COMPARISON_CSV, index=False)
    pngs: list[str] = []

    def save(key: str, fig) -> None:
        pngs.append(str(save_figure(fig, out / PLOTS_DIR / f"{key}.png", dpi)))

    def skip(key: str, why: str) -> None:
        notes.append(f"{key}.png skipped: {why}")
        log.info("music report: %s", notes[-1])

    save("confusion_matrices", plot_confusion_grid(models))
    save("roc_curves", plot_roc_all(models))
    panels = tsne_panels(models)
    tsne_points = {
        pa.title: None if pa.features is None else min(len(pa.features), p.tsne_max_points)
        for pa in panels
    }
    if any(pa.features is not None for pa in panels):
        tsne = (p.tsne_perplexity, p.tsne_max_points, p.tsne_max_iter, p.tsne_threads)
        save("tsne", plot_tsne(panels, seed, *tsne))
    else:
        skip("tsne", "no model output a latent or embedding")
    if len(models) > 1:
        save("metrics_comparison", plot_metric_bars(table))
    else:
        skip("metrics_comparison", "a single model has nothing to compare with")
    hybrid = _first(models, (ATTENTION_KIND,), "attention")
    attention = None
    if hybrid is not None:
        attention, fig = attention_analysis(
            *hybrid.output("attention"), seed, p.attention_heatmap_rows, p.balanced_margin
        )
        attention["model"] = hybrid.name
        save("attention_analysis", fig)
    else:
        skip("attention_analysis", "no attention-fusion hybrid with an 'attention' output")
    ae = next((m for m in models if {"input", "reconstruction"} <= set(m.outputs)), None)
    if ae is not None:
        x, target = ae.output("input")
        save(
            "reconstructions",
            plot_reconstructions(x, ae.outputs["reconstruction"], target, p.recon_examples),
        )
    else:
        skip("reconstructions", "no model with 'input' and 'reconstruction' outputs")
    histories = {m.name: m.history for m in models if m.history}
    if histories:
        save("training_curves", plot_training_curves(histories, rp.model_colors(names)))
    else:
        skip("training_curves", "no model has a training history")
    att_m = next((m for m in models if m.kind() == ATTENTION_KIND), None)
    cat_m = next((m for m in models if m.kind() == CONCAT_KIND), None)
    beats = None
    if att_m is not None and cat_m is not None:
        beats = attention_vs_concat(
            (att_m.name, metrics[att_m.name]), (cat_m.name, metrics[cat_m.name])
        )
    else:
        notes.append("attention_beats_concat not decided: needs both hybrid models")
    console = format_console_table(table)
    if attention is not None:
        console += f"\n{hybrid.name}: {attention['sentence']}"
    if beats is not None:
        verb = "beats" if beats["beats"] else "does not beat"
        console += f"\nattention fusion {verb} concatenation (by {beats['decided_by']})"
    log.info("music model comparison:\n%s", console)
    summary = {
        "best_model": str(table["Model"].iloc[0]),
        "accuracy": {n: m["accuracy"] for n, m in metrics.items()},
        "roc_auc": {n: m["roc_auc"] for n, m in metrics.items()},
        "attention": None if attention is None else attention["sentence"],
        "attention_beats_concat": None if beats is None else beats["beats"],
        "notes": notes,
    }
    report = {
        "models": metrics,
        "ranking": table.to_dict("records"),
        "attention": attention,
        "attention_beats_concat": beats,
        "tsne_points": tsne_points,
        "params": p.model_dump(),
        "notes": notes,
        "files": {"pngs": pngs, "csv": str(out / COMPARISON_CSV)},
    }
    (out / REPORT_JSON).write_text(json.dumps(report, indent=2, default=_json_scalar))
    return {
        "pngs": pngs,
        "csv": str(out / COMPARISON_CSV),
        "json": str(out / REPORT_JSON),
        "summary": summary,
        "console": console,
    }
