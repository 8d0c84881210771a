"""Test helpers of the monitoring area: KServe-logger-shaped CloudEvents."""

from __future__ import annotations


def kserve_headers(event_id: str, event_type: str, content_type: str = "application/json") -> dict:
    """The headers KServe's logger (pkg/logger/worker.go, binary-mode CloudEvents 1.0) sends."""
    return {
        "ce-id": event_id,
        "ce-type": event_type,
        "ce-source": "http://localhost:9081/",
        "ce-specversion": "1.0",
        "ce-time": "2025-03-10T12:00:00.000Z",
        "ce-inferenceservicename": "veracity-voice",
        "ce-namespace": "veracity",
        "ce-component": "transformer",
        "ce-endpoint": "default",
        "ce-metadata": "{}",
        "content-type": content_type,
    }


def verdict(label: str = "AI", snr: float = 12.5) -> dict:
    """A transformer verdict carrying its monitoring row (as veracity.serving answers)."""
    row = {
        "snr_db": snr,
        "s1_score": 0.91,
        "aasist_score": 0.7,
        "label": label,
        "rule": "tier1_ai",
        "model_version": "4",
        "codec": "wav",
    }
    return {
        "label": label,
        "score": 0.9,
        "confidence": 0.8,
        "reason": "tier1_ai",
        "monitoring": row,
    }
