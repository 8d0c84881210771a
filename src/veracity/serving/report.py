"""Assembling the Verdict (DESIGN.md) that the transformer answers, for any modality."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from veracity.modalities.base import Decision, Segments
from veracity.monitoring.schema import monitoring_row


@dataclass(frozen=True)
class StageScores:
    """What the predictor answered for one detector role on one recording."""

    role: str
    architecture: str
    version: str
    p_spoof: np.ndarray  # per segment, calibrated
    clip_p_spoof: float  # calibrated mean log-odds of all segments
    domain_score: float | None = None  # distance to the training domain (the guard's role)


def build_timeline(segments: Segments, stages: Mapping[str, StageScores]) -> list[dict]:
    """Per-segment scores of every consulted role, in the recording's own time (seconds)."""
    rows = []
    for i in range(segments.n):
        row = {
            "start_s": round(float(segments.starts_s[i]), 3),
            "end_s": round(float(segments.ends_s[i]), 3),
        }
        row.update({role: float(s.p_spoof[i]) for role, s in stages.items()})
        rows.append(row)
    return rows


def build_verdict(
    *,
    request_id: str,
    modality: str,
    decision: Decision,
    segments: Segments,
    stages: Mapping[str, StageScores],
    absent: Mapping[str, str],
    media: Mapping,
    model_name: str,
    processing_ms: float,
) -> dict:
    """The transformer's answer: label, scores, rule, timeline, descriptors, models, timing.

    ``scores`` has every role the policy asked for (None for a role the bundle lacks);
    ``model.absent`` says which detectors this bundle ships without, and why.
    """
    verdict = {
        "id": request_id,
        "modality": modality,
        "label": decision.label,
        "score": decision.score,
        "confidence": decision.confidence,
        "reason": decision.reason,
        "rule": decision.rule,
        "rule_label": decision.rule_label,
        "domain_score": _finite(decision.details.get("domain_score")),
        "domain_threshold": _finite(decision.details.get("domain_threshold")),
        "scores": {role: (s.clip_p_spoof if s else None) for role, s in stages.items()},
        "policy": {k: _finite(v) for k, v in decision.details.items()},
        "timeline": build_timeline(segments, {r: s for r, s in stages.items() if s}),
        "descriptors": {k: _finite(v) for k, v in segments.descriptors.items()},
        "media": {**dict(media), "duration_s": segments.duration_s, "n_segments": segments.n},
        "model": {
            "name": model_name,
            "modality": modality,
            "detectors": {
                role: {"architecture": s.architecture, "version": s.version}
                for role, s in stages.items()
                if s
            },
            "absent": dict(absent),
        },
        "processing_ms": round(processing_ms, 2),
    }
    verdict["monitoring"] = monitoring_row(verdict)
    return verdict


def _finite(value):
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    try:
        value = float(value)
    except (TypeError, ValueError):
        return value
    return value if np.isfinite(value) else None
