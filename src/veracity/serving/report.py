"""Assembling the Verdict (DESIGN.md) that the transformer answers, and its monitoring row."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from veracity.media import ClipFeatures
from veracity.policy import Decision


@dataclass(frozen=True)
class StageScores:
    """What the predictor answered for one detector on one clip."""

    detector: str
    architecture: str
    version: str
    p_spoof: np.ndarray  # per window, calibrated
    clip_p_spoof: float  # calibrated mean log-odds of all windows


def build_timeline(clip: ClipFeatures, s1: StageScores, aasist: StageScores | None) -> list[dict]:
    """Per-window scores in the clip's own time (seconds)."""
    sr = clip.sample_rate
    length = clip.windows.shape[1]
    rows = []
    for i, start in enumerate(clip.window_starts.tolist()):
        rows.append(
            {
                "start_s": round(start / sr, 3),
                "end_s": round(min(start + length, clip.waveform.shape[0]) / sr, 3),
                "s1": float(s1.p_spoof[i]),
                "aasist": None if aasist is None else float(aasist.p_spoof[i]),
            }
        )
    return rows


def build_verdict(
    *,
    request_id: str,
    decision: Decision,
    clip: ClipFeatures,
    s1: StageScores,
    aasist: StageScores | None,
    source_sample_rate: int,
    codec: str,
    model_name: str,
    processing_ms: float,
) -> dict:
    """The transformer's answer: label, scores, rule, timeline, features, models, timing."""
    models = {
        s.detector: {"architecture": s.architecture, "version": s.version}
        for s in (s1, aasist)
        if s is not None
    }
    verdict = {
        "id": request_id,
        "label": decision.label,
        "score": decision.score,
        "confidence": decision.confidence,
        "reason": decision.reason,
        "rule": decision.rule,
        "rule_label": decision.rule_label,
        "band": decision.band,
        "scores": {
            "s1_mean": decision.s1_mean,
            "aasist_mean": decision.aasist,
            "weighted": decision.weighted,
            "human_feature_score": decision.human_feature_score,
        },
        "timeline": build_timeline(clip, s1, aasist),
        "features": {k: _finite(v) for k, v in clip.handcrafted.items()},
        "audio": {
            "duration_s": clip.duration_s,
            "sample_rate": source_sample_rate,
            "codec": codec,
            "speech_ratio": clip.speech_ratio,
            "n_windows": clip.n_windows,
        },
        "model": {"name": model_name, "detectors": models},
        "processing_ms": round(processing_ms, 2),
    }
    verdict["monitoring"] = monitoring_row(verdict, clip)
    return verdict


def monitoring_row(verdict: dict, clip: ClipFeatures) -> dict:
    """The payload-log row of one verdict (columns of veracity.monitoring.schema)."""
    detectors = verdict["model"]["detectors"]
    version = ";".join(f"{k}={v['version']}" for k, v in sorted(detectors.items()))
    return {
        **verdict["features"],
        "duration_s": clip.duration_s,
        "sample_rate": verdict["audio"]["sample_rate"],
        "speech_ratio": clip.speech_ratio,
        "codec": verdict["audio"]["codec"],
        "s1_score": verdict["scores"]["s1_mean"],
        "aasist_score": verdict["scores"]["aasist_mean"],
        "label": verdict["label"],
        "rule": verdict["reason"],
        "model_version": version,
        "request_id": verdict["id"],
    }


def _finite(value) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None
