"""The video report hook: video-level aggregation of window scores (seed 002 XI.6).

The detector scores 1 s windows (50 % overlap); a verdict is about a whole video. Three
aggregations of the windows' bonafide log-odds ``z = l1 - l0`` are compared on the eval
split, each with its EER, AUC and per-manipulation EER (unseen ones included):

- ``mean``: the mean ``z`` (what the platform's calibrate and evaluate steps use);
- ``max``: the most fake window, ``min z`` (one manipulated second is enough);
- ``attention``: softmax attention over the windows with the spoof evidence ``-z`` as the
  attention logit (temperature ``ATTENTION_TEMPERATURE``): ``sum softmax(-z / tau) * z``,
  between mean (large tau) and max (tau -> 0), with no weights to fit.

The evaluate step calls :func:`report` with every calibrated video detector; the table is
written to ``<out>/video_report.json`` and logged.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import torch

from veracity.errors import DataError
from veracity.evaluation.metrics import compute_eer
from veracity.modalities.base import EvaluatedModel

log = logging.getLogger(__name__)
AGGREGATIONS = ("mean", "max", "attention")
ATTENTION_TEMPERATURE = 1.0
REPORT_JSON = "video_report.json"
NO_ATTACK = "-"


def aggregate(z: np.ndarray, clip: np.ndarray, how: str, tau: float = ATTENTION_TEMPERATURE):
    """Per-clip bonafide log-odds from window log-odds ``z`` [N] of clips ``clip`` [N]
    (clip indices 0..C-1, every clip with at least one window) -> [C]."""
    if how not in AGGREGATIONS:
        raise DataError(f"unknown window aggregation {how!r}; expected one of {AGGREGATIONS}")
    z, clip = np.asarray(z, dtype=np.float64), np.asarray(clip, dtype=np.int64)
    n = int(clip.max()) + 1 if len(clip) else 0
    if how == "mean":
        return np.bincount(clip, weights=z, minlength=n) / np.bincount(clip, minlength=n)
    if how == "max":
        out = np.full(n, np.inf)
        np.minimum.at(out, clip, z)
        return out
    low = np.full(n, np.inf)  # softmax(-z / tau) per clip, stabilised by the clip's min z
    np.minimum.at(low, clip, z)
    w = np.exp(-(z - low[clip]) / tau)
    return np.bincount(clip, weights=w * z, minlength=n) / np.bincount(clip, weights=w, minlength=n)


def score_table(clip_z: np.ndarray, target: np.ndarray, attack: np.ndarray) -> dict:
    """EER, AUC (bonafide = positive) and per-attack EER of clip scores ``clip_z``."""
    from sklearn.metrics import roc_auc_score

    target, attack = np.asarray(target), np.asarray(attack).astype(str)
    bona, spoof = clip_z[target == 1], clip_z[target == 0]
    if not (len(bona) and len(spoof)):
        return {"eer": math.nan, "auc": math.nan, "per_attack_eer": {}}
    per = {a: round(float(compute_eer(bona, clip_z[(target == 0) & (attack == a)])[0]), 4)
           for a in sorted(set(attack[target == 0]))}  # fmt: skip
    return {"eer": round(float(compute_eer(bona, spoof)[0]), 4),
            "auc": round(float(roc_auc_score(target, clip_z)), 4), "per_attack_eer": per}  # fmt: skip


def aggregation_comparison(z, clip, target, attack) -> dict[str, dict]:
    """``{aggregation: score_table}`` for window log-odds ``z`` of clips ``clip``."""
    return {how: score_table(aggregate(z, clip, how), target, attack) for how in AGGREGATIONS}


@torch.inference_mode()
def window_logodds(loaded, split, batch: int = 32) -> np.ndarray:
    """Every eval window's bonafide log-odds ``l1 - l0`` under ``loaded.model``."""
    names = tuple(loaded.config.get("input_shapes") or ())
    model = loaded.model.eval()
    n, parts = len(split.clip_row), []
    for start in range(0, n, batch):
        inputs = split.read(np.arange(start, min(n, start + batch)), names)
        logits = model({k: torch.as_tensor(v).float() for k, v in inputs.items()})["logits"]
        parts.append((logits[:, 1] - logits[:, 0]).float().cpu().numpy())
    return np.concatenate(parts) if parts else np.zeros(0)


def format_table(name: str, table: dict[str, dict]) -> str:
    """A plain-text table of one model's aggregation comparison."""
    attacks = sorted({a for row in table.values() for a in row["per_attack_eer"]})
    lines = [f"{name}: " + " ".join(["aggregation", "EER", "AUC", *attacks])]
    for how, row in table.items():
        per = [f"{row['per_attack_eer'].get(a, math.nan):.3f}" for a in attacks]
        lines.append(f"  {how:<11} {row['eer']:.3f} {row['auc']:.3f} " + " ".join(per))
    return "\n".join(lines)


def report(models: list[EvaluatedModel], out: Path, params, dpi: int, seed: int) -> dict:
    """The aggregation comparison of every evaluated video detector under ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary, console = {}, []
    for m in models:
        clips = m.split.clips
        z = window_logodds(m.loaded, m.split)
        clip = np.asarray(m.split.clip_row, dtype=np.int64)
        table = aggregation_comparison(z, clip, clips["target"].to_numpy(),
                                       clips["attack"].to_numpy())  # fmt: skip
        summary[m.name] = table
        console.append(format_table(m.name, table))
    path = out / REPORT_JSON
    path.write_text(json.dumps({"aggregation": summary,
                                "attention_temperature": ATTENTION_TEMPERATURE}, indent=2))  # fmt: skip
    text = "\n".join(console)
    log.info("video-level aggregation of window scores (eval):\n%s", text)
    return {"summary": {"aggregation": summary}, "console": text, "files": [str(path)], "pngs": []}
