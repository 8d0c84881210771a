"""Numbers of the music evaluation report (seed 001, Phase 5): pure functions on arrays.

Conventions are the platform's (:mod:`veracity.evaluation.metrics`): ``target`` is 1 for
human (bonafide) and 0 for AI; ``p_ai`` is the calibrated probability of AI and a clip is
called AI when ``p_ai >= threshold``. ROC-AUC takes AI as the positive class. The confusion
matrix is ``[[TN, FP], [FN, TP]]`` with AI positive, i.e. rows = true class and columns =
predicted class, both in the order :data:`CONFUSION_LABELS` = ("Human", "AI").
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from veracity.errors import MetricError
from veracity.evaluation import metrics as m
from veracity.evaluation.summary import COMPARISON_COLUMNS
from veracity.modalities.music.params import MusicReportParams

CONFUSION_LABELS = ("Human", "AI")
TABLE_COLUMNS = COMPARISON_COLUMNS  # seed 001's table (veracity.evaluation.summary)
HUMAN_ATTACK = "-"


DEFAULTS = MusicReportParams()


def check_pair(target, p_ai) -> tuple[np.ndarray, np.ndarray]:
    """``target`` (0/1, both classes) and ``p_ai`` (finite, in [0, 1], same length)."""
    y = m.check_targets(target)
    p = m.check_scores(p_ai, "p_ai")
    if p.size != y.size:
        raise MetricError(
            f"expected one p_ai per clip target, got {p.size} probabilities for {y.size} "
            "targets; pass the model's scores for exactly the evaluated clips"
        )
    if p.min() < 0.0 or p.max() > 1.0:
        raise MetricError(
            f"expected probabilities in [0, 1], got values in [{p.min():.3g}, {p.max():.3g}]; "
            "pass the calibrated p_ai, not logits or log-odds"
        )
    return y, p


def eer_of(target, p_ai) -> float:
    """Equal error rate with human as the target class (bonafide score = ``1 - p_ai``)."""
    y, p = check_pair(target, p_ai)
    return m.compute_eer(1.0 - p[y == 1], 1.0 - p[y == 0])[0]


def classification_metrics(target, p_ai, threshold: float) -> dict:
    """Accuracy, precision/recall/F1 per class (``_ai``, ``_human``), ``f1_macro``,
    ``roc_auc`` (AI positive), ``eer`` and ``confusion`` = [[TN, FP], [FN, TP]]
    (rows true, columns predicted, order ``confusion_labels`` = Human, AI)."""
    y, p = check_pair(target, p_ai)
    if not np.isfinite(threshold):
        raise MetricError(f"expected a finite decision threshold, got {threshold}; recalibrate")
    pred_ai = (p >= threshold).astype(np.int64)
    confusion = skm.confusion_matrix(1 - y, pred_ai, labels=[0, 1])
    return {
        "n_clips": int(y.size),
        "n_human": int(np.sum(y == 1)),
        "n_ai": int(np.sum(y == 0)),
        "threshold": float(threshold),
        **m.compute_classification(y, p, threshold),
        "roc_auc": float(skm.roc_auc_score(1 - y, p)),
        "eer": eer_of(y, p),
        "confusion": confusion.astype(int).tolist(),
        "confusion_labels": list(CONFUSION_LABELS),
    }


def _generator_entry(p_ai_gen: np.ndarray, p_human: np.ndarray, threshold: float) -> dict:
    return {
        "n": int(p_ai_gen.size),
        "detection_rate": float(np.mean(p_ai_gen >= threshold)),
        "eer": m.compute_eer(1.0 - p_human, 1.0 - p_ai_gen)[0],
    }


def per_generator_metrics(target, p_ai, threshold: float, attack, unseen=frozenset()) -> dict:
    """Per generator of the AI clips: ``detection_rate`` (recall of AI) and ``eer`` against
    all human clips; ``unseen`` pools the generators in ``unseen`` (``None`` when the clips
    hold none of them)."""
    y, p = check_pair(target, p_ai)
    attack = np.asarray(attack).astype(str).reshape(-1)
    if attack.size != y.size:
        raise MetricError(
            f"expected one generator id per clip, got {attack.size} for {y.size} clips; "
            f"pass the clips' attack column ('{HUMAN_ATTACK}' for human clips)"
        )
    human = p[y == 1]
    generators = sorted(set(attack[y == 0].tolist()))
    per_gen = {
        g: _generator_entry(p[(y == 0) & (attack == g)], human, threshold) for g in generators
    }
    for g, entry in per_gen.items():
        entry["unseen"] = g in unseen
    present_unseen = sorted(set(generators) & set(unseen))
    pooled = None
    if present_unseen:
        sel = (y == 0) & np.isin(attack, present_unseen)
        pooled = {"generators": present_unseen, **_generator_entry(p[sel], human, threshold)}
    return {
        "generators": per_gen,
        "unseen": pooled,
        "human": {"n": int(human.size), "false_alarm_rate": float(np.mean(human >= threshold))},
    }


def format_console_table(table: pd.DataFrame) -> str:
    """The comparison table as aligned text, numbers to 4 decimals."""
    if table.empty:
        return "(no models)"
    shown = table.copy()
    for col in shown.columns[1:]:
        shown[col] = shown[col].map(lambda v: f"{v:.4f}")
    return shown.to_string(index=False)


def attention_summary(attention, target, balanced_margin: float = DEFAULTS.balanced_margin) -> dict:
    """Mean attention (AE, Transformer) overall and per class, and the share of "uncertain"
    clips whose AE weight is within ``balanced_margin`` of 0.5.

    ``attention`` is ``[n, 2]`` softmax weights (rows sum to 1), ``target`` the clips'
    targets (1 = human). A class without clips gets ``None``.
    """
    att = np.asarray(attention, dtype=np.float64)
    y = np.asarray(target).reshape(-1)
    if att.ndim != 2 or att.shape[1] != 2 or att.shape[0] != y.size or y.size == 0:
        raise MetricError(
            f"expected attention [n, 2] (AE, Transformer) with one target per row, got "
            f"{att.shape} for {y.size} targets; pass the hybrid's 'attention' output rows"
        )
    if not np.all(np.isfinite(att)) or np.any(np.abs(att.sum(axis=1) - 1.0) > 1e-3):
        raise MetricError(
            "expected finite attention weights whose rows sum to 1, got rows that do not; "
            "pass the softmax weights of the hybrid (outputs['attention']), not scores"
        )

    def means(sel) -> dict | None:
        if not np.any(sel):
            return None
        ae, tr = att[sel].mean(axis=0)
        return {"ae": float(ae), "transformer": float(tr), "n": int(np.sum(sel))}

    overall = means(np.ones(y.size, dtype=bool))
    human, ai = means(y == 1), means(y == 0)
    return {
        "overall": overall,
        "human": human,
        "ai": ai,
        "ai_minus_human_ae": None if human is None or ai is None else ai["ae"] - human["ae"],
        "balanced_margin": balanced_margin,
        "balanced_share": float(np.mean(np.abs(att[:, 0] - 0.5) <= balanced_margin)),
        "sentence": (
            f"the model attends {100 * overall['ae']:.1f} % to AE, "
            f"{100 * overall['transformer']:.1f} % to Transformer"
        ),
    }


def attention_vs_concat(attention: tuple[str, dict], concat: tuple[str, dict]) -> dict:
    """Does attention fusion beat naive concatenation? Compared by ROC-AUC, then accuracy
    (a full tie is "does not beat"). Arguments: ``(model name, classification metrics)``."""
    (a_name, a), (c_name, c) = attention, concat
    if a["roc_auc"] != c["roc_auc"]:
        decided_by, beats = "roc_auc", a["roc_auc"] > c["roc_auc"]
    elif a["accuracy"] != c["accuracy"]:
        decided_by, beats = "accuracy", a["accuracy"] > c["accuracy"]
    else:
        decided_by, beats = "tie", False
    return {
        "beats": bool(beats),
        "decided_by": decided_by,
        "attention": {"model": a_name, "roc_auc": a["roc_auc"], "accuracy": a["accuracy"]},
        "concat": {"model": c_name, "roc_auc": c["roc_auc"], "accuracy": c["accuracy"]},
    }
