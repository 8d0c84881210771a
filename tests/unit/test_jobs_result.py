"""The job result: seed 002 XI.10's fields from a Verdict, checked by result.schema.json."""

from __future__ import annotations

import copy

import jsonschema
import pytest

from veracity.jobs.errors import ResultSchemaError
from veracity.jobs.result import build_result, model_version, result_schema, validate_result

VERDICT = {
    "id": "r1", "modality": "voice", "label": "AI", "score": 0.85, "confidence": 0.85,
    "reason": "tier1_agree", "rule": "tier1_agree", "rule_label": "AI",
    "scores": {"stage1": 0.99, "aasist": 0.5},
    "timeline": [{"start_s": 0.04, "end_s": 4.08, "stage1": 0.99, "aasist": 0.5}],
    "media": {"sample_rate": 16000, "duration_s": 4.34, "n_segments": 1, "codec": "wav"},
    "model": {"name": "veracity-voice", "modality": "voice", "absent": {}, "detectors": {
        "stage1": {"architecture": "stage1", "version": "3"},
        "aasist": {"architecture": "aasist-l", "version": "4"}}},
}  # fmt: skip


def test_voice_verdict_maps_onto_the_seed_schema():
    result = validate_result(build_result("job-1", "voice", VERDICT, 1.23456, 1))
    prediction, metadata = result["prediction"], result["metadata"]
    assert prediction["overall_class"] == "fake"
    assert prediction["overall_confidence"] == 0.85 == prediction["manipulation_confidence"]
    assert prediction["anomalous_frames"] == [] and prediction["modality_agreement"] is None
    assert metadata == {"processing_time_sec": 1.235, "video_duration_sec": 4.34,
                        "frames_analyzed": 0, "attempts": 1}  # fmt: skip
    assert result["verdict"]["model"]["version"] == (
        "veracity-voice:aasist=aasist-l@4,stage1=stage1@3")  # fmt: skip
    assert result["verdict"]["timeline"] == VERDICT["timeline"]


@pytest.mark.parametrize(("label", "klass"), [("HUMAN", "real"), ("INCONCLUSIVE", "uncertain")])
def test_labels_map_to_classes(label, klass):
    verdict = {**VERDICT, "label": label, "score": 0.2, "confidence": 0.8}
    assert validate_result(build_result("j", "voice", verdict, 0.1, 2))["prediction"][
        "overall_class"] == klass  # fmt: skip


def test_video_fields_pass_through_when_the_modality_reports_them():
    frames = [{"frame_id": 15, "confidence": 0.95, "saliency_url": "/jobs/j/saliency/15.png"}]
    verdict = {**VERDICT, "anomalous_frames": frames, "modality_agreement": 0.75,
               "modality_contribution": -0.2,
               "media": {**VERDICT["media"], "frames_analyzed": 150}}  # fmt: skip
    result = validate_result(build_result("j", "video", verdict, 45.3, 1))
    assert result["prediction"]["anomalous_frames"] == frames
    assert result["metadata"]["frames_analyzed"] == 150
    assert result["verdict"]["modality_contribution"] == -0.2


@pytest.mark.parametrize(
    "breakage",
    [
        lambda r: r["prediction"].update(overall_class="maybe"),
        lambda r: r["prediction"].update(overall_confidence=1.5),
        lambda r: r["metadata"].pop("frames_analyzed"),
        lambda r: r["prediction"]["anomalous_frames"].append({"frame_id": -1}),
        lambda r: r["verdict"].update(label="FAKE"),
        lambda r: r.update(extra=1),
    ],
)
def test_schema_refuses_broken_results(breakage):
    result = copy.deepcopy(build_result("j", "voice", VERDICT, 1.0, 1))
    breakage(result)
    with pytest.raises(ResultSchemaError, match="expected a result matching"):
        validate_result(result)


def test_schema_is_valid_and_holds_the_seed_example():
    jsonschema.Draft202012Validator.check_schema(result_schema())
    seed = {"overall_class": "fake", "overall_confidence": 0.92, "manipulation_confidence": 0.88,
            "modality_agreement": 0.75, "anomalous_frames": [
                {"frame_id": 15, "confidence": 0.95, "saliency_url": "..."},
                {"frame_id": 42, "confidence": 0.91, "saliency_url": "..."}]}  # fmt: skip
    sub = result_schema()["properties"]
    jsonschema.validate(seed, sub["prediction"])
    jsonschema.validate({"processing_time_sec": 45.3, "video_duration_sec": 30,
                         "frames_analyzed": 150}, sub["metadata"])  # fmt: skip
    assert model_version({}) == "unknown:none"
