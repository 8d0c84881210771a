"""Song-level verdict for music (seed 001 + issue 12 item 13).

``scores`` holds calibrated clip-level AI probabilities per role (shared code averages the
segment log-odds of each role). Each role is decided at its calibrated operating threshold
(``policy.role_thresholds``, fitted by the evaluate step; temperature scaling alone keeps a
detector's bias), the probability re-centred so that threshold is 0.5. The calibrated hybrid decides; when it is not in the
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


def centred(p: np.ndarray | float, threshold: float) -> np.ndarray | float:
    """``p`` mapped piecewise-linearly so the operating ``threshold`` lands on 0.5 (0 and 1
    stay put): the verdict's score, whose confidence the reject option reads."""
    p = np.asarray(p, dtype=np.float64)
    out = np.where(
        p < threshold, 0.5 * p / threshold, 0.5 + 0.5 * (p - threshold) / (1 - threshold)
    )
    return out if out.ndim else float(out)


def fit_policy(params: MusicParams, train_clips, thresholds: Mapping[str, float]) -> MusicParams:
    """Params whose policy decides each role at its calibrated operating threshold."""
    fitted = {r: float(t) for r, t in thresholds.items() if 0.0 < float(t) < 1.0}
    policy = params.policy.model_copy(update={"role_thresholds": fitted})
    return params.model_copy(update={"policy": policy})


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
    threshold = float(pol.role_thresholds.get(role, pol.threshold))
    score = centred(float(scores[role]), threshold)
    label = AI if score >= 0.5 else HUMAN
    rule = f"{role}_mean" if role == pol.deciding_role else f"fallback_{role}_mean"
    details: dict = {"scores": per_model, "deciding_role": role, "ai_share": None,
                     "threshold": threshold}  # fmt: skip
    seg_scores = _segment_scores(segments, role)
    if seg_scores is not None:
        seg_centred = centred(seg_scores, threshold)
        ai = seg_centred >= 0.5
        share = float(ai.mean())
        details.update(ai_share=share, n_segments=int(seg_scores.size))
        if label == HUMAN and share >= pol.ai_share_threshold:
            # the AI passages carry the verdict: their mean probability is the evidence
            label, rule, score = AI, f"{role}_ai_share", float(seg_centred[ai].mean())
    return _reject(label, score, rule, pol.min_confidence, details)
