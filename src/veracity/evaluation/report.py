"""Human-readable reports: the one-page evaluation HTML and the gate report in Markdown.

Pure renderers: they take dicts (and PNG bytes) and return strings; the steps write files.
Plots are embedded as base64 ``<img>`` so the HTML is one self-contained file.
"""

from __future__ import annotations

import base64
import html
from typing import Any

_ROWS = [
    ("eer", "EER (bonafide target)", "pct"),
    ("unseen_attack_eer", "EER, unseen attacks", "pct"),
    ("max_attack_eer", "worst per-attack EER", "pct"),
    ("roc_auc", "ROC-AUC", "num"),
    ("accuracy", "accuracy at threshold", "pct"),
    ("precision_ai", "precision AI", "pct"),
    ("recall_ai", "recall AI", "pct"),
    ("precision_human", "precision human", "pct"),
    ("recall_human", "recall human", "pct"),
    ("f1_macro", "F1 macro", "num"),
    ("fpr_at_tpr", "FPR at target TPR (evaluation.fpr_at_tpr)", "pct"),
    ("ece", "ECE (calibrated)", "num"),
    ("brier", "Brier", "num"),
    ("min_tdcf", "min t-DCF", "num"),
    ("threshold", "threshold on p_spoof", "num"),
    ("temperature", "temperature", "num"),
]


def format_value(value: Any, kind: str = "num") -> str:
    """Percent or 4-digit number; ``n/a`` for missing values."""
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    if isinstance(value, int | float):
        return f"{value * 100:.2f} %" if kind == "pct" else f"{value:.4f}"
    return html.escape(str(value))


def _img(title: str, png: bytes) -> str:
    data = base64.b64encode(png).decode()
    return (
        f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(title)}</figcaption></figure>"
    )


def _dict_table(title: str, per_model: dict[str, dict], key: str) -> str:
    keys = sorted({k for met in per_model.values() for k in (met.get(key) or {})})
    if not keys:
        return ""
    head = "".join(f"<th>{html.escape(n)}</th>" for n in per_model)
    body = "".join(
        f"<tr><td>{html.escape(k)}</td>"
        + "".join(
            f"<td>{format_value((met.get(key) or {}).get(k), 'pct')}</td>"
            for met in per_model.values()
        )
        + "</tr>"
        for k in keys
    )
    return f"<h2>{html.escape(title)}</h2><table><tr><th></th>{head}</tr>{body}</table>"


def render_evaluation_html(
    title: str,
    context: dict[str, Any],
    per_model: dict[str, dict],
    images: dict[str, bytes],
    notes: list[str],
) -> str:
    """One-page HTML report: summary table, per-attack and per-duration EER, plots, notes."""
    head = "".join(f"<th>{html.escape(n)}</th>" for n in per_model)
    rows = "".join(
        f"<tr><td>{label}</td>"
        + "".join(f"<td>{format_value(met.get(key), kind)}</td>" for met in per_model.values())
        + "</tr>"
        for key, label, kind in _ROWS
    )
    ctx = "".join(
        f"<li><b>{html.escape(k)}</b>: "
        + (
            f"<pre>{html.escape(v)}</pre>"
            if isinstance(v, str) and "\n" in v
            else html.escape(str(v))
        )
        + "</li>"
        for k, v in context.items()
    )
    figs = "".join(_img(name, png) for name, png in images.items())
    note_items = "".join(f"<li>{html.escape(n)}</li>" for n in notes) or "<li>none</li>"
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}"
        "figure{display:inline-block;margin:6px}img{max-width:340px}"
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1><ul>{ctx}</ul>"
        f"<p>Scores: bonafide is the target class for EER/DET; p_spoof = sigmoid(-z/T) is the "
        f"calibrated probability that a clip is AI; a clip is called AI when p_spoof &ge; "
        f"threshold.</p><h2>Summary</h2><table><tr><th>metric</th>{head}</tr>{rows}</table>"
        f"{_dict_table('EER per attack', per_model, 'attack_eer')}"
        f"{_dict_table('EER per duration bucket', per_model, 'duration_eer')}"
        f"<h2>Plots</h2>{figs}<h2>Notes</h2><ul>{note_items}</ul></body></html>"
    )


def render_gate_markdown(report: dict[str, Any]) -> str:
    """The gate report as Markdown: verdict, then one table row per check."""
    lines = [
        f"# Gate report: {report['verdict'].upper()}",
        "",
        f"- registered model: `{report.get('registered_model', '')}`",
        f"- dataset version: `{report.get('dataset_version', '')}`",
        f"- champion compared: {report.get('champion') or 'none (first candidate)'}",
        f"- modality: `{report.get('modality', '')}`; detectors served: "
        f"{', '.join(report.get('served_roles') or []) or 'none'}",
    ]
    for role, reason in (report.get("absent_roles") or {}).items():
        lines.append(f"- **{role} absent**: {reason}")
    served = report.get("served_verdict")
    if served:
        from veracity.evaluation.verdicts import format_matrix

        lines += [
            "",
            "## Served verdict on eval (the policy with the detectors above)",
            "",
            "```",
            format_matrix(served),
            "```",
        ]
    lines += [
        "",
        "| model | check | value | bound | verdict |",
        "|---|---|---|---|---|",
    ]
    for c in report["checks"]:
        lines.append(
            f"| {c['model']} | {c['check']} | {format_value(c['value'])} | "
            f"{format_value(c['bound'])} | {c['verdict']} |"
        )
    notes = report.get("notes") or []
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"
