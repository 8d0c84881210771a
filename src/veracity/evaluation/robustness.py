"""The robustness report: every detector and the served verdict under deployment shifts.

The features step prepares a seeded, class-balanced sample of eval clips once per shift of
``modalities.<m>.robustness`` (noise at a set SNR, low-bitrate Opus, the 8 kHz telephone
band, MP3, re-sampling for voice) into the splits ``eval-<shift>``. Here each detector
scores them (calibrated as in serving), the policy decides behind the domain guard, and a
table compares each condition with the same clips as recorded: EER per detector, the share
of fakes called HUMAN, of real media called AI, INCONCLUSIVE and out-of-domain rates, and
the EER of the final score.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from veracity.evaluation.metrics import compute_eer

log = logging.getLogger(__name__)

CLEAN = "clean"
VERDICT_KEYS = ("fake_as_human", "real_as_ai", "inconclusive", "out_of_domain", "final_eer")


def detector_eer(scores: pd.DataFrame) -> float | None:
    """Clip-level EER of one detector's scores (bonafide is the target class)."""
    y, z = scores["target"].to_numpy(), scores["logodds"].to_numpy()
    if not ((y == 1).any() and (y == 0).any()):
        return None
    return float(compute_eer(z[y == 1], z[y == 0])[0])


def condition_row(condition: str, by_role: dict[str, pd.DataFrame], verdict: dict) -> dict:
    """One table row: the condition, its clip count, EER per detector, the verdict rates."""
    row = {"condition": condition, "n_clips": int(verdict["n_clips"])}
    row.update({f"eer_{role}": detector_eer(s) for role, s in by_role.items()})
    row.update({k: verdict.get(k) for k in VERDICT_KEYS})
    return row


def robustness_table(
    cfg, modality, params, features: Path, loaded_by_role: dict, clean: dict, domain: dict | None
) -> pd.DataFrame:
    """The table (one row per condition, ``clean`` first) over the shifted eval splits.

    ``clean`` maps each role to its eval scores (calibrated ``p_spoof``) as recorded;
    ``domain`` is the evaluate step's domain guard (with ``guard``), or None.
    """
    from veracity.evaluation.domain import clip_embeddings
    from veracity.evaluation.scoring import score_clips
    from veracity.evaluation.verdicts import evaluate_verdicts
    from veracity.segment_store import load_split, read_features_json
    from veracity.segment_store.store import DESCRIPTORS_FILE

    shifted = read_features_json(features).get("robustness") or {}
    if not shifted:
        return pd.DataFrame()
    batch = cfg.evaluation.batch_size
    rows = []
    first = True
    for name, info in shifted.items():
        reader = load_split(features, info["split"], clips_split="eval")
        ids = reader.clips["utt_id"]
        if first:  # the same clips as recorded: the baseline every condition is read against
            base = {r: s[s["utt_id"].isin(ids)].reset_index(drop=True) for r, s in clean.items()}
            base_domain = None
            if domain is not None:
                keep = domain["eval_utt_ids"].isin(ids).to_numpy()
                base_domain = {**domain, "eval_scores": domain["eval_scores"][keep]}
            clips = reader.clips
            _, verdict = evaluate_verdicts(cfg, modality, clips, base, base_domain, params)
            rows.append(condition_row(CLEAN, base, verdict))
            first = False
        by_role = {
            role: score_clips(loaded, reader, batch, desc=f"{name} {role}")
            for role, loaded in loaded_by_role.items()
        }
        cond_domain = None
        if domain is not None:
            guard = domain["guard"]
            emb = clip_embeddings(
                loaded_by_role[domain["role"]], reader, np.arange(len(reader.clips)), batch
            )
            described = pd.read_parquet(
                Path(features) / "segments" / info["split"] / DESCRIPTORS_FILE
            ).set_index("utt_id")
            desc_rows = described.loc[ids].to_dict("records")
            cond_domain = {
                **domain,
                "eval_scores": np.maximum(
                    guard.embedding_ratio(emb), guard.descriptor_ratio(desc_rows)
                ),
            }
        _, verdict = evaluate_verdicts(cfg, modality, reader.clips, by_role, cond_domain, params)
        rows.append(condition_row(name, by_role, verdict))
        log.info("robustness %s: %s", name, rows[-1])
    return pd.DataFrame(rows)


def format_table(table: pd.DataFrame) -> str:
    """The table as aligned text (console, HTML <pre>, Markdown code blocks)."""
    if table.empty:
        return "(no robustness conditions)"
    shown = table.copy()
    for col in shown.columns[2:]:
        shown[col] = shown[col].map(lambda v: "n/a" if v is None or pd.isna(v) else f"{v:.3f}")
    return shown.to_string(index=False)
