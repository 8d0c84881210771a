"""The job result: seed 002 XI.10's output schema plus Veracity's verdict (pure functions).

``build_result`` maps a transformer Verdict (:mod:`veracity.serving.report`) onto the
seed's fields: ``overall_class`` real | fake | uncertain from HUMAN | AI | INCONCLUSIVE,
``overall_confidence`` the verdict's confidence, ``manipulation_confidence`` its calibrated
AI probability. Frame-level fields (``anomalous_frames``, ``frames_analyzed``,
``modality_agreement``, ``modality_contribution``) come from the verdict when its modality
reports them (video) and are empty / 0 / null otherwise (audio); the worker has replaced
each frame's PNG by its ``saliency_url`` before. ``metadata.stages_sec`` is the time of each
step: the worker's own (``fetching``, ``transformer`` = the whole call, ``writing``) and the
transformer's inside that call (``decode``: probe, frames, faces and audio; ``prepare``;
``score``; ``explain``: Grad-CAM). ``no_face_result``: a video without an analysable face
is answered INCONCLUSIVE (``uncertain``) with reason ``no_face`` and the transformer's words.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from veracity.jobs.errors import ResultSchemaError

SCHEMA_PATH = Path(__file__).resolve().parent / "result.schema.json"
CLASS_OF_LABEL = {"HUMAN": "real", "AI": "fake", "INCONCLUSIVE": "uncertain"}
_VERDICT_KEYS = ("label", "score", "confidence", "reason", "rule", "scores", "timeline")


def model_version(verdict: dict[str, Any]) -> str:
    """``name:role=architecture@version,...`` of the detectors the verdict used."""
    model = verdict.get("model") or {}
    detectors = model.get("detectors") or {}
    parts = [f"{role}={d.get('architecture')}@{d.get('version')}" for role, d in detectors.items()]
    return f"{model.get('name', 'unknown')}:{','.join(sorted(parts)) or 'none'}"


def build_result(
    job_id: str,
    modality: str,
    verdict: dict[str, Any],
    processing_time_sec: float,
    attempts: int,
    stages_sec: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The completed job's result document (validates against ``result.schema.json``)."""
    media = verdict.get("media") or {}
    stages = {**{k: v / 1000.0 for k, v in (verdict.get("stages_ms") or {}).items()},
              **(stages_sec or {})}  # fmt: skip
    label = verdict["label"]
    model = verdict.get("model") or {}
    return {
        "job_id": job_id,
        "status": "completed",
        "modality": modality,
        "prediction": {
            "overall_class": CLASS_OF_LABEL[label],
            "overall_confidence": float(verdict["confidence"]),
            "manipulation_confidence": float(verdict["score"]),
            "modality_agreement": verdict.get("modality_agreement"),
            "anomalous_frames": list(verdict.get("anomalous_frames") or []),
        },
        "metadata": {
            "processing_time_sec": round(float(processing_time_sec), 3),
            "video_duration_sec": float(media.get("duration_s", 0.0)),
            "frames_analyzed": int(verdict.get("frames_analyzed", media.get("frames_analyzed", 0))),
            "attempts": int(attempts),
            **(
                {"stages_sec": {k: round(float(v), 3) for k, v in stages.items()}} if stages else {}
            ),
        },
        "verdict": {
            **{k: verdict[k] for k in _VERDICT_KEYS if k in verdict},
            "modality_contribution": verdict.get("modality_contribution"),
            "model": {
                "name": str(model.get("name", "unknown")),
                "version": model_version(verdict),
                "detectors": dict(model.get("detectors") or {}),
            },
        },
    }


def no_face_result(job_id: str, modality: str, model_name: str, message: str,
                   processing_time_sec: float, attempts: int) -> dict[str, Any]:  # fmt: skip
    """The result of a video without an analysable face: nothing to judge, so uncertain."""
    verdict = {"label": "INCONCLUSIVE", "score": 0.5, "confidence": 0.5, "reason": "no_face",
               "rule": "no_face", "scores": {}, "timeline": [], "message": message,
               "model": {"name": model_name, "detectors": {}}}  # fmt: skip
    result = build_result(job_id, modality, verdict, processing_time_sec, attempts)
    result["verdict"]["message"] = message
    return result


@functools.cache
def result_schema() -> dict[str, Any]:
    """The JSON Schema of a result (``result.schema.json``)."""
    return json.loads(SCHEMA_PATH.read_text())


def validate_result(result: dict[str, Any]) -> dict[str, Any]:
    """Return ``result`` if it satisfies the schema; raise :class:`ResultSchemaError` if not."""
    from jsonschema import Draft202012Validator

    errors = sorted(Draft202012Validator(result_schema()).iter_errors(result), key=str)
    if errors:
        problems = "; ".join(
            f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
            for e in errors[:5]
        )
        raise ResultSchemaError(
            f"expected a result matching {SCHEMA_PATH.name}, got: {problems}; the transformer's "
            "verdict lacks a field the job result needs (check the modality's verdict)"
        )
    return result
