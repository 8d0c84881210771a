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
    predictor = DetectorPredictor(cfg.modality_params("voice").registered_model, bundle, cfg)
    predictor.load()
    transformer = VerdictTransformer(cfg.modality_params("voice").registered_model, "unused:0", cfg)
    asked = []

    async def score_windows(windows, detector, request_id):
        asked.append(detector)
        result = await predictor.score(windows, detector)
        det = predictor.detectors[detector]
        return StageScores(
            detector,
            det.architecture,
            det.version,
            result["p_spoof"],
            float(result["clip_p_spoof"][0]),
        )

    transformer.score_windows = score_windows

    async def run():
        prepared = await transformer.preprocess(wav_bytes(tone(2.0), 16000), {"x-request-id": "r1"})
        return await transformer.predict(prepared)

    return asyncio.run(run()), asked


@pytest.mark.parametrize("bias,expect_aasist", [(-6.0, False), (6.0, True)])
def test_aasist_called_only_when_policy_needs_it(cfg, tmp_path, bias, expect_aasist):
    verdict, asked = _verdict(cfg, make_bundle(tmp_path / "b", cfg, stage1_bias=bias))
    assert asked == (["stage1", "aasist"] if expect_aasist else ["stage1"])
    assert (verdict["scores"]["aasist_mean"] is not None) == expect_aasist
    if not expect_aasist:
        assert (verdict["label"], verdict["reason"]) == ("HUMAN", "s1_human")
    assert verdict["id"] == "r1"
    assert verdict["monitoring"]["label"] == verdict["label"]
