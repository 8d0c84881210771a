"""Model cards (Markdown) for artifacts and bundles: data, metrics, calibration, limits, approval.

Pure renderer: the calibrate and gate steps and the approval workflow write the result as
``model_card.md``. The known limitations come from the project's own analysis of AASIST
(seed 000) plus what the evaluation measures.
"""

from __future__ import annotations

from typing import Any

from veracity.evaluation.report import format_value

INTENDED_USE = (
    "Flags speech that was synthesized or voice-cloned (AI) versus recorded from a human "
    "(bonafide), as decision support for trust & safety reviewers. Scores are calibrated "
    "probabilities (p_spoof); the verdict policy combines the stage-1 detector and AASIST and "
    "may answer INCONCLUSIVE. Not for use as sole evidence in legal or disciplinary decisions."
)

LIMITATIONS = (
    "Performance may degrade when real-world audio conditions (background noise, compression, "
    "telephone channels) differ from the training data.",
    "Tuned on ASVspoof-like read speech; fine-tuning on natural conversational speech is "
    "recommended before relying on it there.",
    "New generators appear monthly: attacks unseen in training are measured separately "
    "(unseen-attack EER) and are the most likely failure mode.",
    "Input is analysed in 4.04 s windows; very short clips carry little evidence.",
    "Requires preprocessing (resampling, VAD, windowing) identical to training; serving reuses "
    "the same feature code for that reason.",
)


def _metric_lines(metrics: dict[str, Any]) -> list[str]:
    keys = [
        ("eer", "EER (bonafide target)", "pct"),
        ("unseen_attack_eer", "unseen-attack EER", "pct"),
        ("roc_auc", "ROC-AUC", "num"),
        ("accuracy", "accuracy", "pct"),
        ("f1_macro", "F1 macro", "num"),
        ("ece", "ECE", "num"),
        ("min_tdcf", "min t-DCF", "num"),
    ]
    lines = [
        f"- {label}: {format_value(metrics.get(k), kind)}"
        for k, label, kind in keys
        if k in metrics
    ]
    for attack, eer in sorted((metrics.get("attack_eer") or {}).items()):
        lines.append(f"- EER attack {attack}: {format_value(eer, 'pct')}")
    return lines or ["- not evaluated yet"]


def render_model_card(
    name: str,
    config: dict[str, Any],
    calibration: dict[str, Any] | None,
    metrics: dict[str, Any] | None,
    approval: dict[str, Any] | None = None,
    gate: dict[str, Any] | None = None,
) -> str:
    """Markdown model card for one artifact (or, with ``name`` of a bundle, for a bundle)."""
    lines = [f"# Model card: {name}", ""]
    lines += [
        "## Model",
        "",
        f"- architecture: {config.get('architecture', 'n/a')}",
        f"- training data version: `{config.get('dataset_version', 'unknown')}`",
        f"- code version: `{config.get('git_commit', 'unknown')}`",
        f"- MLflow run: `{config.get('mlflow_run_id') or 'n/a'}`",
        "",
    ]
    lines += ["## Intended use", "", INTENDED_USE, ""]
    lines += ["## Calibration", ""]
    if calibration:
        after = calibration.get("after") or {}
        before = calibration.get("before") or {}
        lines += [
            f"- temperature T = {format_value(calibration.get('temperature'))} "
            f"(p_spoof = sigmoid(-z / T)), fitted on {calibration.get('fitted_on', 'dev')}",
            f"- operating threshold on p_spoof: {format_value(calibration.get('threshold'))}"
            f" ({calibration.get('threshold_mode', 'eer')} mode)",
            f"- dev ECE before/after: {format_value(before.get('ece'))} / "
            f"{format_value(after.get('ece'))}",
        ]
    else:
        lines.append("- not calibrated")
    lines += ["", "## Metrics (eval split)", ""] + _metric_lines(metrics or {})
    if gate:
        lines += ["", "## Quality gate", "", f"- verdict: {gate.get('verdict', 'n/a')}"]
        lines += [
            f"- {c['model']} {c['check']}: {format_value(c['value'])} "
            f"(bound {format_value(c['bound'])}) {c['verdict']}"
            for c in gate.get("checks", [])
        ]
    lines += ["", "## Known limitations", ""] + [f"- {item}" for item in LIMITATIONS]
    lines += ["", "## Approval", ""]
    if approval:
        lines += [f"- {k}: {v}" for k, v in approval.items()]
    else:
        lines.append("- pending: not approved by a reviewer (never promoted automatically)")
    return "\n".join(lines) + "\n"


def set_approval_section(card: str, approval: dict[str, Any]) -> str:
    """Replace the card's ``## Approval`` section (always the last) with ``approval``."""
    head = card.split("\n## Approval", 1)[0].rstrip("\n")
    lines = [f"- {k}: {v}" for k, v in approval.items()]
    return head + "\n\n## Approval\n\n" + "\n".join(lines) + "\n"
