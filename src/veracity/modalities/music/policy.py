"""Song-level verdict for music (seed 001 + issue 12 item 13).

``scores`` holds calibrated clip-level AI probabilities per role (shared code averages the
segment log-odds of each role). The calibrated hybrid decides; when it is not in the
bundle (an optional role that failed its gate, or a bundle without it) the first
available ``fallback_roles`` entry decides and the reason names it. When the caller puts
per-segment calibrated AI probabilities in ``segments.info["segment_scores"][role]``, the
share of AI segments is reported and a song whose AI share reaches
``ai_share_threshold`` is AI even if its mean is not (a human song with AI passages).
Seed 002's reject option: confidence below ``min_confidence`` -> INCONCLUSIVE.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from veracity.modalities.base import AI, HUMAN, INCONCLUSIVE, Decision, Segments
from veracity.modalities.base import reject_low_confidence as _reject
from veracity.modalities.music.params import MusicParams


def _order(params: MusicParams) -> list[str]:
    pol = params.policy
    roles = set(params.detectors)
    return [pol.deciding_role, *[r for r in pol.fallback_roles if r in roles]]


def plan(scores: Mapping[str, float | None], params: MusicParams) -> str | None:
    """The next role to score: the deciding hybrid first, then each fallback the bundle
    lacked (scored ``None``) in turn; None once one decider has a score."""
    for role in _order(params):
        if role not in scores:
            return role
        if scores[role] is not None:
            return None
    return None


def _segment_scores(segments: Segments | None, role: str) -> np.ndarray | None:
    if segments is None:
        return None
    values = (segments.info or {}).get("segment_scores", {}).get(role)
    if values is None:
        return None
    arr = np.asarray(values, dtype=np.float64).ravel()
    return arr if arr.size else None


def decide(scores: Mapping[str, float], segments: Segments | None, params: MusicParams) -> Decision:
    """The verdict for one song from calibrated clip scores (AI probabilities)."""
    pol = params.policy
    per_model = {k: (None if v is None else float(v)) for k, v in scores.items()}
    role = next((r for r in _order(params) if scores.get(r) is not None), None)
    if role is None:
        return _reject(
            INCONCLUSIVE, 0.5, "no_scores", pol.min_confidence,
            {"scores": per_model, "deciding_role": None},
        )  # fmt: skip
    score = float(scores[role])
    label = AI if score >= pol.threshold else HUMAN
    rule = f"{role}_mean" if role == pol.deciding_role else f"fallback_{role}_mean"
    details: dict = {"scores": per_model, "deciding_role": role, "ai_share": None}
    seg_scores = _segment_scores(segments, role)
    if seg_scores is not None:
        ai = seg_scores >= pol.threshold
        share = float(ai.mean())
        details.update(ai_share=share, n_segments=int(seg_scores.size))
        if label == HUMAN and share >= pol.ai_share_threshold:
            # the AI passages carry the verdict: their mean probability is the evidence
            label, rule, score = AI, f"{role}_ai_share", float(seg_scores[ai].mean())
    return _reject(label, score, rule, pol.min_confidence, details)
