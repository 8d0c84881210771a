"""All metrics of one model on one scored split (pure: a DataFrame in, a dict out).

``scores`` is the table from :func:`veracity.evaluation.scoring.score_clips` with a
``p_spoof`` column (calibrated). EER uses the bonafide log-odds with bonafide as target;
per-attack EER pits every attack's spoofs against all bonafide clips (ASVspoof practice).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from veracity.config import EvaluationConfig
from veracity.errors import MetricError
from veracity.evaluation import metrics as m
from veracity.evaluation.calibration import Calibration

BONAFIDE_ATTACK = "-"


def _eer_or_none(bona: np.ndarray, spoof: np.ndarray) -> float | None:
    if bona.size == 0 or spoof.size == 0:
        return None
    return m.compute_eer(bona, spoof)[0]


def attack_eers(scores: pd.DataFrame) -> dict[str, float]:
    """EER of each attack's spoof clips against all bonafide clips."""
    z, y, attack = scores["logodds"].to_numpy(), scores["target"].to_numpy(), scores["attack"]
    bona = z[y == 1]
    return {
        str(a): m.compute_eer(bona, z[(y == 0) & (attack == a).to_numpy()])[0]
        for a in sorted(attack[y == 0].unique())
    }


def duration_eers(scores: pd.DataFrame, edges: list[float]) -> dict[str, float | None]:
    """EER per duration bucket ``[lo, hi)``; ``None`` where a bucket lacks a class."""
    z, y = scores["logodds"].to_numpy(), scores["target"].to_numpy()
    dur = scores["duration_s"].to_numpy()
    out: dict[str, float | None] = {}
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (dur >= lo) & (dur < hi)
        out[f"{lo:g}-{hi:g}s"] = _eer_or_none(z[sel & (y == 1)], z[sel & (y == 0)])
    return out


def summarize_scores(
    scores: pd.DataFrame,
    calibration: Calibration,
    train_attacks: set[str],
    eval_cfg: EvaluationConfig,
    ece_bins: int,
) -> dict:
    """Every metric of the evaluate step for one model (JSON-safe dict).

    ``train_attacks``: attacks present in the training split; eval attacks outside it are
    "unseen" and get a pooled EER of their own (``None`` with a note when there are none).
    """
    if scores.empty:
        raise MetricError("expected scored clips, got an empty table; check the eval split")
    y = m.check_targets(scores["target"].to_numpy())
    z = m.check_scores(scores["logodds"].to_numpy(), "clip log-odds")
    p = m.check_scores(scores["p_spoof"].to_numpy(), "p_spoof")
    thr = calibration.threshold
    eer, eer_thr = m.compute_eer(z[y == 1], z[y == 0])
    per_attack = attack_eers(scores)
    eval_attacks = set(per_attack)
    unseen = sorted(eval_attacks - set(train_attacks))
    unseen_sel = (y == 1) | scores["attack"].isin(unseen).to_numpy()
    notes = []
    unseen_eer = None
    if unseen:
        unseen_eer = m.compute_eer(z[unseen_sel & (y == 1)], z[unseen_sel & (y == 0)])[0]
    else:
        notes.append("no attack in the eval split is unseen in training")
    return {
        "n_clips": int(y.size),
        "n_bonafide": int(np.sum(y == 1)),
        "n_spoof": int(np.sum(y == 0)),
        "eer": eer,
        "eer_threshold_logodds": eer_thr,
        "roc_auc": m.compute_roc_auc(y, z),
        "threshold": thr,
        **m.compute_classification(y, p, thr),
        "fpr_at_tpr": m.fpr_at_tpr(y, p, eval_cfg.fpr_at_tpr),
        "fpr_at_tpr_target": eval_cfg.fpr_at_tpr,
        **m.compute_probability_metrics(y, p, ece_bins),
        "confusion": m.compute_confusion(y, p, thr),
        "attack_eer": per_attack,
        "max_attack_eer": max(per_attack.values()),
        "unseen_attacks": unseen,
        "unseen_attack_eer": unseen_eer,
        "duration_eer": duration_eers(scores, eval_cfg.duration_buckets_s),
        "temperature": calibration.temperature,
        "notes": notes,
    }


# seed 001's model_comparison_table.csv columns, in its order
COMPARISON_COLUMNS = (
    "Model",
    "Accuracy",
    "Precision_AI",
    "Precision_Human",
    "Recall_AI",
    "Recall_Human",
    "F1_Macro",
    "ROC_AUC",
)


def comparison_table(per_model: dict[str, dict], extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """Seed 001's ``model_comparison_table.csv`` (:data:`COMPARISON_COLUMNS`, plus the
    metrics named in ``extra``, e.g. ``("eer",)`` -> column ``EER``), one row per model,
    accuracy descending (stable: ties keep the given order)."""
    keys = ("accuracy", "precision_ai", "precision_human", "recall_ai", "recall_human")
    keys += ("f1_macro", "roc_auc") + tuple(extra)
    columns = COMPARISON_COLUMNS + tuple(k.upper() for k in extra)
    rows = [[name, *(met[k] for k in keys)] for name, met in per_model.items()]
    table = pd.DataFrame(rows, columns=list(columns))
    return table.sort_values("Accuracy", ascending=False, kind="stable").reset_index(drop=True)
