"""The transformer asks AASIST only when the policy needs it (real predictor, in process).

The HTTP hop between the servers is replaced by a direct call to the real
``DetectorPredictor.score`` (the e2e tests cover HTTP); the bundle's stage 1 is biased to
bonafide or spoof so both branches are deterministic.
"""

from __future__ import annotations

import asyncio

import pytest
from serving_standins import make_bundle, tone, wav_bytes

from veracity.serving.predictor import DetectorPredictor
from veracity.serving.report import StageScores
from veracity.serving.transformer import VerdictTransformer


def _verdict(cfg, bundle):
    name = cfg.modality_params("voice").registered_model
    predictor = DetectorPredictor(name, bundle, cfg, modality="voice")
    predictor.load()
    transformer = VerdictTransformer(name, "unused:0", cfg, bundle, modality="voice")
    transformer.load()
    asked = []

    async def score_role(inputs, role, request_id):
        asked.append(role)
        assert set(inputs) == {"waveform"}  # the inputs the bundle's contract names
        result = await predictor.score(inputs, role)
        det = predictor.detectors[role]
        return StageScores(
            role,
            det.architecture,
            det.version,
            result["p_spoof"],
            float(result["clip_p_spoof"][0]),
            float(result["domain_score"][0]) if "domain_score" in result else None,
        )

    transformer.score_role = score_role

    async def run():
        prepared = await transformer.preprocess(wav_bytes(tone(2.0), 16000), {"x-request-id": "r1"})
        return await transformer.predict(prepared)

    return asyncio.run(run()), asked


@pytest.mark.parametrize("bias,expect_aasist", [(-6.0, False), (6.0, True)])
def test_aasist_called_only_when_policy_needs_it(cfg, tmp_path, bias, expect_aasist):
    verdict, asked = _verdict(cfg, make_bundle(tmp_path / "b", cfg, stage1_bias=bias))
    assert asked == (["stage1", "aasist"] if expect_aasist else ["stage1"])
    assert verdict["scores"]["stage1"] is not None
    assert ("aasist" in verdict["scores"]) == expect_aasist
    if expect_aasist:
        assert verdict["scores"]["aasist"] is not None
        assert verdict["policy"]["aasist"] == verdict["scores"]["aasist"]
    assert verdict["model"]["detectors"].keys() == set(asked)
    if not expect_aasist:
        assert (verdict["label"], verdict["reason"]) == ("HUMAN", "s1_human")
    assert verdict["id"] == "r1"
    assert verdict["monitoring"]["label"] == verdict["label"]
