"""The served verdict, measured: a modality's policy run over every eval clip.

Detector metrics say how well each score separates the classes; what users receive is the
verdict that the policy makes of those scores. :func:`simulate_verdicts` replays serving's
plan/decide loop on calibrated clip scores (a role the bundle lacks is ``None``, exactly as
the transformer passes it), and :func:`verdict_metrics` summarises the outcome: the
verdict matrix (truth x HUMAN/AI/INCONCLUSIVE), the share of fakes called HUMAN, of real
media called AI, the INCONCLUSIVE rate, and the EER of the final score. Pure functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from veracity.evaluation.metrics import compute_eer
from veracity.modalities.base import AI, HUMAN, INCONCLUSIVE, LABELS, Decision, Segments

TRUTHS = ("bonafide", "spoof")


def descriptor_segments(
    descriptors: Mapping[str, Any], duration_s: float, segment_scores: Mapping | None = None
) -> Segments:
    """A :class:`Segments` carrying what ``decide`` may read of a clip: its descriptors and,
    when given, ``info["segment_scores"]`` (role -> calibrated AI probability per segment)."""
    empty = np.zeros(0)
    info = {"segment_scores": dict(segment_scores)} if segment_scores else {}
    return Segments({}, empty, empty, dict(descriptors), float(duration_s), info)


def run_policy(modality, params, available: Mapping[str, float], segments) -> tuple:
    """Serving's loop: ask ``plan`` for roles until it is done, then ``decide``.

    ``available`` maps the bundle's roles to this clip's calibrated spoof probability; a
    role the policy asks for that the bundle lacks is passed on as ``None``. Returns the
    :class:`Decision` and the roles consulted, in order.
    """
    scores: dict[str, float | None] = {}
    asked = []
    while (role := modality.plan(scores, params)) is not None:
        if role in scores:  # a policy that asks twice would loop forever
            break
        scores[role] = available.get(role)
        asked.append(role)
    return modality.decide(scores, segments, params), asked


def simulate_verdicts(
    modality,
    params,
    p_spoof: Mapping[str, np.ndarray],
    descriptors: Sequence[Mapping[str, Any]],
    durations: Sequence[float],
    domain_scores: np.ndarray | None = None,
    domain_threshold: float | None = None,
    segment_p_spoof: Mapping[str, Sequence] | None = None,
) -> list[Decision]:
    """The decision for every clip, from per-role calibrated spoof probabilities [n_clips],
    with the out-of-domain guard applied when ``domain_scores`` are given (as in serving).
    ``segment_p_spoof``: per role, each clip's per-segment probabilities (as serving puts
    them in ``Segments.info["segment_scores"]``)."""
    from veracity.evaluation.domain import guard_decision

    decisions = []
    for i, desc in enumerate(descriptors):
        available = {role: float(p[i]) for role, p in p_spoof.items()}
        per_segment = {r: np.asarray(v[i]) for r, v in (segment_p_spoof or {}).items()}
        segments = descriptor_segments(desc, durations[i], per_segment)
        decision = run_policy(modality, params, available, segments)[0]
        if domain_scores is not None:
            decision = guard_decision(decision, float(domain_scores[i]), domain_threshold)
        decisions.append(decision)
    return decisions


def verdict_metrics(targets: np.ndarray, decisions: Sequence[Decision]) -> dict[str, Any]:
    """Verdict matrix and rates; ``targets`` are 1 = bonafide, 0 = spoof (per clip)."""
    targets = np.asarray(targets, dtype=np.int64)
    labels = np.array([d.label for d in decisions])
    score_ai = np.array([d.score for d in decisions], dtype=np.float64)
    matrix = {
        truth: {lab: int(np.sum((targets == t) & (labels == lab))) for lab in LABELS}
        for truth, t in (("bonafide", 1), ("spoof", 0))
    }
    n_bona, n_spoof = int((targets == 1).sum()), int((targets == 0).sum())

    def share(count: int, total: int) -> float | None:
        return count / total if total else None

    final_eer = None
    if n_bona and n_spoof:
        # bonafide is the target class: its score is 1 - P(AI)
        final_eer = float(compute_eer(1 - score_ai[targets == 1], 1 - score_ai[targets == 0])[0])
    reasons: dict[str, int] = {}
    for d in decisions:
        reasons[d.reason] = reasons.get(d.reason, 0) + 1
    return {
        "n_clips": len(decisions),
        "matrix": matrix,
        "fake_as_human": share(matrix["spoof"][HUMAN], n_spoof),
        "real_as_ai": share(matrix["bonafide"][AI], n_bona),
        "inconclusive": share(int(np.sum(labels == INCONCLUSIVE)), len(decisions)),
        "decided_accuracy": share(
            matrix["bonafide"][HUMAN] + matrix["spoof"][AI],
            int(np.sum(labels != INCONCLUSIVE)),
        ),
        "final_eer": final_eer,
        "out_of_domain": share(reasons.get("out_of_domain", 0), len(decisions)),
        "reasons": dict(sorted(reasons.items())),
    }


def evaluate_verdicts(
    cfg,
    modality,
    clips: pd.DataFrame,
    scored: dict[str, pd.DataFrame],
    domain: dict | None = None,
    params=None,
):
    """The policy over the eval clips from each role's calibrated scores (and the domain
    guard, when ``domain`` holds its eval scores and threshold): (frame, metrics).

    ``params``: the modality params with the fitted policy (default: from ``cfg``).
    """
    params = params or cfg.modality_params(modality.name)
    order = clips["utt_id"].tolist()
    p_spoof = {
        role: s.set_index("utt_id").loc[order, "p_spoof"].to_numpy() for role, s in scored.items()
    }
    segment_p = {
        role: s.set_index("utt_id").loc[order, "segment_p_spoof"].tolist()
        for role, s in scored.items()
        if "segment_p_spoof" in s
    }
    columns = list(modality.descriptor_columns(params))
    descriptors = clips[columns].to_dict("records")
    decisions = simulate_verdicts(
        modality,
        params,
        p_spoof,
        descriptors,
        clips["duration_s"].tolist(),
        None if domain is None else domain["eval_scores"],
        None if domain is None else domain["threshold"],
        segment_p,
    )
    frame = pd.DataFrame([d.to_dict() for d in decisions])
    frame.insert(0, "utt_id", order)
    frame.insert(1, "target", clips["target"].to_numpy())
    frame.insert(2, "attack", clips["attack"].to_numpy())
    metrics = verdict_metrics(clips["target"].to_numpy(), decisions)
    metrics["roles"] = sorted(scored)
    return frame, metrics


def format_matrix(metrics: Mapping[str, Any]) -> str:
    """The verdict matrix as aligned text (console and Markdown code blocks)."""
    width = max(len(x) for x in LABELS) + 2
    lines = [f"{'truth':<10}" + "".join(f"{lab:>{width}}" for lab in LABELS)]
    for truth in TRUTHS:
        row = metrics["matrix"][truth]
        lines.append(f"{truth:<10}" + "".join(f"{row[lab]:>{width}}" for lab in LABELS))
    return "\n".join(lines)
