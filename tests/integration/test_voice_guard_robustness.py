"""Voice verdicts that hold up: the out-of-domain guard and the robustness report.

A stage-1 detector trained on the tiny demo corpus is calibrated and evaluated for real;
the evaluate step fits the domain guard and scores the eval clips under every deployment
shift. Then the served code path (the predictor and transformer classes, in process, with
the transformer's calls to the predictor made directly instead of over HTTP) answers audio
made unlike the corpus: tones, noise, a chord, clicks, shaped noise and a pulse-train vowel
of our own synthesis. None may come back HUMAN or AI with confidence above the reject
threshold.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.integration

SR = 16000


@pytest.fixture(scope="module")
def evaluated(tiny_models, tiny_features, tmp_path_factory):
    from veracity.stages.calibrate import run_calibrate
    from veracity.stages.evaluate import run_evaluate

    root = tmp_path_factory.mktemp("guard")
    cfg = tiny_models.cfg
    run_calibrate(cfg, tiny_models.stage1_dir, tiny_features, root / "stage1")
    result = run_evaluate(cfg, [root / "stage1"], tiny_features, root / "eval")
    return cfg, root, result


def test_robustness_table_is_in_the_report_and_json(evaluated):
    cfg, root, result = evaluated
    conditions = [row["condition"] for row in result.robustness]
    assert conditions == ["clean", *cfg.modality_params("voice").robustness]
    for row in result.robustness:
        assert row["n_clips"] > 0
        assert row["eer_stage1"] is None or 0.0 <= row["eer_stage1"] <= 1.0
        assert 0.0 <= row["inconclusive"] <= 1.0
    saved = json.loads((root / "eval" / "robustness.json").read_text())
    assert saved == json.loads(json.dumps(result.robustness))
    assert "robustness" in (root / "eval" / "report.html").read_text()
    assert (root / "eval" / "robustness.csv").is_file()


def test_held_out_eval_clips_stay_in_domain(evaluated):
    _, _, result = evaluated
    assert result.verdict["domain"]["role"] == "stage1"
    assert result.verdict["out_of_domain"] <= 0.02


def _probes(rng) -> dict[str, np.ndarray]:
    t = np.arange(4 * SR) / SR
    n = len(t)
    vowel_pulse = np.exp(-np.arange(200) / 30) * np.sin(2 * np.pi * 700 * np.arange(200) / SR)
    return {
        "tone": 0.3 * np.sin(2 * np.pi * 440 * t),
        "white_noise": 0.1 * rng.standard_normal(n),
        "chord": 0.1 * sum(np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0, 523.3)),
        "clicks": np.where(np.arange(n) % 4000 == 0, 0.9, 0.0),
        "shaped_noise": 0.2 * rng.standard_normal(n) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)) ** 2,
        "pulse_vowel": 0.3 * np.convolve((np.arange(n) % 130 == 0).astype(float), vowel_pulse, "same"),
    }  # fmt: skip


def _bundle(cfg, root: Path, result) -> Path:
    """The calibrated stage-1 and the evaluate step's domain guard, as a served bundle."""
    from veracity.models.bundle import BundleContract, write_bundle_json

    out = root / "bundle"
    shutil.copytree(root / "stage1", out / "stage1")
    domain = result.verdict["domain"]
    shutil.copy2(root / "eval" / "domain" / domain["file"], out / domain["file"])
    config = json.loads((out / "stage1" / "config.json").read_text())
    contract = BundleContract(
        name="veracity-voice", modality="voice", dataset_version="test", roles=["stage1"],
        detectors={"stage1": {"dir": "stage1", "architecture": "stage1", "inputs": ["waveform"],
                              "input_shapes": config["input_shapes"]}},
        params=cfg.to_dict()["modalities"]["voice"], absent={"aasist": "not trained here"},
        domain={k: v for k, v in domain.items() if k != "fit_clips"},
    )  # fmt: skip
    write_bundle_json(out, contract)
    return out


def test_out_of_domain_audio_never_gets_a_confident_label(evaluated):
    from veracity.serving.predictor import DetectorPredictor
    from veracity.serving.report import StageScores
    from veracity.serving.transformer import PreparedMedia, VerdictTransformer

    cfg, root, result = evaluated
    bundle = _bundle(cfg, root, result)
    predictor = DetectorPredictor("veracity-voice", bundle, cfg)
    predictor.load()
    transformer = VerdictTransformer("veracity-voice", "unused:0", cfg, bundle)
    transformer.load()

    async def score_role(inputs, role, request_id):  # the predictor, without the HTTP hop
        out = await predictor.score(inputs, role)
        return StageScores(
            role, "stage1", "test", out["p_spoof"].astype(float), float(out["clip_p_spoof"][0]),
            float(out["domain_score"][0]) if "domain_score" in out else None,
        )  # fmt: skip

    transformer.score_role = score_role
    min_confidence = cfg.modality_params("voice").policy.min_confidence

    async def verdict_of(wave):
        segments = transformer.modality.prepare((wave.astype(np.float32), SR), transformer.params)
        media = PreparedMedia("probe", segments, "wav", time.perf_counter(), False, {})
        return await transformer.predict(media)

    async def run_all():
        return {name: await verdict_of(w) for name, w in _probes(np.random.default_rng(0)).items()}

    verdicts = asyncio.run(run_all())
    for name, v in verdicts.items():
        confident = v["label"] in ("HUMAN", "AI") and v["confidence"] >= min_confidence
        assert not confident, (name, v["label"], v["confidence"], v["reason"], v["domain_score"])
        assert v["domain_score"] is not None and "domain_score" in v["monitoring"]
    # The guard itself answers for most of them (this stage-1 saw one tiny epoch; the rest
    # are INCONCLUSIVE through the policy's own low confidence).
    flagged = [n for n, v in verdicts.items() if v["reason"] == "out_of_domain"]
    assert len(flagged) >= len(verdicts) // 2, {n: v["domain_score"] for n, v in verdicts.items()}
