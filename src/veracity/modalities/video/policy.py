"""The video verdict: one audio-visual detector decides, with seed 002's reject option.

``scores`` hold calibrated clip-level AI probabilities per detector role (the video-level
aggregation of window scores happens before, in the shared scoring code). A confidence
``max(p, 1 - p)`` below ``policy.min_confidence`` (0.6) answers INCONCLUSIVE ("uncertain",
flag for human review, seed 002 XI.13).
"""

from __future__ import annotations

from collections.abc import Mapping

from veracity.modalities.base import AI, HUMAN, Decision, Segments, reject_low_confidence
from veracity.modalities.video.params import VideoParams

ROLE = "av"


def plan(scores: Mapping[str, float], params: VideoParams) -> str | None:
    """Score the audio-visual detector, then decide."""
    return None if ROLE in scores else ROLE


def decide(scores: Mapping[str, float], segments: Segments | None, params: VideoParams) -> Decision:
    """AI above ``policy.ai_above``, HUMAN otherwise; low confidence -> INCONCLUSIVE."""
    p = float(scores[ROLE])
    label = AI if p > params.policy.ai_above else HUMAN
    details = {}
    if segments is not None:
        details = {"frames_analyzed": int(segments.info.get("faces", 0)),
                   "windows": segments.n}  # fmt: skip
    return reject_low_confidence(label, p, f"av_{label.lower()}", params.policy.min_confidence,
                                 details)  # fmt: skip
