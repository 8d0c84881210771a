"""The modality seam, proven by a modality that is not voice.

``tests/toy_modality`` (sine tones = human, square waves = AI) is defined only under tests/
and plugged in through params alone (``modality_packages`` + ``modalities.toy``). It runs
through ingest -> validate -> features -> train -> calibrate -> evaluate -> gate and is
served by the real predictor + transformer on 127.0.0.1, with no change to library code.
docs/architecture.md's "adding a modality" checklist names exactly its files.
"""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
import yaml

from veracity.config import load_config

pytestmark = pytest.mark.integration

TESTS = Path(__file__).resolve().parents[1]
TOY_PACKAGE = TESTS / "toy_modality"

TOY_SECTION = {
    "registered_model": "veracity-toy",
    "ingest": {"format": "csv", "extensions": [".wav"]},
    "validate": {
        "allowed_sample_rates": [8000],
        "min_duration_s": 0.2,
        "max_duration_s": 10.0,
        "attack_id_pattern": "^(?:-|SQ)$",
    },
    "detectors": {
        "tone": {
            "architecture": "spectral-mlp",
            "required": True,
            "training": {
                "epochs": 6, "batch_size": 8, "lr": 0.01, "weight_decay": 0.0,
                "max_windows_per_epoch": 0, "max_dev_windows": 0, "patience": 6,
            },
            "gate": {
                "max_eer": 0.2, "max_unseen_attack_eer": 0.3, "max_ece": 0.3,
                "max_attack_eer": 0.3,
            },
        }
    },
    "verdict_gate": {
        "max_fake_as_human": 0.2, "max_real_as_ai": 0.2, "max_inconclusive": 0.5,
        "max_final_eer": 0.2,
    },
    "segments": {"sample_rate": 8000, "segment_samples": 2000},
    "demo": {"sizes": {"tiny": 6}, "seconds": 0.75},
    "policy": {"ai_above": 0.5, "min_confidence": 0.6},
    "hidden": 16,
}  # fmt: skip


@pytest.fixture(scope="module")
def toy_params(tmp_path_factory, repo_root) -> Path:
    """params.yaml of the repository plus the toy section, MLflow and audit in tmp."""
    root = tmp_path_factory.mktemp("toy")
    raw = yaml.safe_load((repo_root / "params.yaml").read_text())
    raw["modality_packages"] = {"toy": "toy_modality"}
    raw["modalities"]["toy"] = TOY_SECTION
    raw["tracking"]["uri"] = f"sqlite:///{root / 'mlruns.db'}"
    raw["tracking"]["artifact_root"] = str(root / "mlartifacts")
    raw["gate"]["audit_log"] = str(root / "audit.jsonl")
    raw["monitoring"]["sink"] = str(root / "payloads")
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_toy_modality_end_to_end(toy_params, tmp_path, monkeypatch):
    from veracity.modalities import MODALITIES, load_modality
    from veracity.serving.process import find_free_port, start_stack, stop_server
    from veracity.stages.calibrate import run_calibrate
    from veracity.stages.evaluate import run_evaluate
    from veracity.stages.features import run_features
    from veracity.stages.gate import run_gate
    from veracity.stages.ingest import run_ingest
    from veracity.stages.train import run_train
    from veracity.stages.validate import run_validate

    assert "toy" not in MODALITIES  # the library does not know it
    cfg = load_config(toy_params)
    toy = load_modality("toy", cfg.modality_packages)
    corpus = Path(toy.generate_demo(tmp_path / "corpus", "tiny", 7, cfg.modality_params("toy")))

    ingested = run_ingest(cfg, str(corpus), None, tmp_path / "ingested", False, modality="toy")
    manifest = Path(ingested.out) / "manifest.parquet"
    assert run_validate(cfg, manifest, tmp_path / "validation", "toy").success
    feats = run_features(cfg, manifest, tmp_path / "features", "toy")
    assert feats.modality == "toy" and feats.inputs == {"wave": [2000]}
    trained = run_train(cfg, tmp_path / "features", "tone", tmp_path / "trained")
    assert trained.modality == "toy" and trained.role == "tone"
    run_calibrate(cfg, tmp_path / "trained", tmp_path / "features", tmp_path / "calibrated")
    evaluation = run_evaluate(
        cfg, [tmp_path / "calibrated"], tmp_path / "features", tmp_path / "eval"
    )
    assert evaluation.modality == "toy"
    assert (
        evaluation.verdict["matrix"]["spoof"]["AI"] > evaluation.verdict["matrix"]["spoof"]["HUMAN"]
    )
    gate = run_gate(cfg, [tmp_path / "calibrated"], tmp_path / "eval", tmp_path / "bundle")
    assert gate.verdict == "pass", gate.checks
    assert {c["model"] for c in gate.checks} == {"tone", "verdict"}
    contract = json.loads((tmp_path / "bundle" / "bundle.json").read_text())
    assert contract["modality"] == "toy" and contract["roles"] == ["tone"]
    assert contract["detectors"]["tone"]["input_shapes"] == {"wave": [2000]}
    assert gate.registered["name"] == "veracity-toy"

    # Real predictor + transformer processes serve it (they import the toy from params).
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])
    )
    ports = {
        k: find_free_port()
        for k in ("predictor", "predictor_grpc", "transformer", "transformer_grpc")
    }
    predictor, transformer = start_stack(
        cfg, model=str(tmp_path / "bundle"), params=toy_params, overrides=[],
        log_dir=tmp_path / "logs", modality="toy", ports=ports,
    )  # fmt: skip
    try:
        url = f"{transformer.url}/v1/models/veracity-toy:predict"
        labels = {}
        for kind, wave in _tones(8000).items():
            buf = io.BytesIO()
            sf.write(buf, wave, 8000, format="WAV")
            reply = httpx.post(
                url, content=buf.getvalue(), headers={"content-type": "audio/wav"}, timeout=60
            )
            assert reply.status_code == 200, reply.text
            verdict = reply.json()
            assert verdict["modality"] == "toy" and set(verdict["scores"]) == {"tone"}
            assert verdict["monitoring"]["score_tone"] == verdict["scores"]["tone"]
            assert len(verdict["timeline"]) == 2  # 0.5 s at 8 kHz in 2000-sample segments
            labels[kind] = verdict["label"]
        assert labels == {"sine": "HUMAN", "square": "AI"}
        bad = httpx.post(
            url, content=b"not audio", headers={"content-type": "audio/wav"}, timeout=30
        )
        assert 400 <= bad.status_code < 500
    finally:
        stop_server(transformer)
        stop_server(predictor)


def _tones(sr: int) -> dict[str, np.ndarray]:
    t = np.arange(sr // 2) / sr
    sine = 0.3 * np.sin(2 * np.pi * 330.0 * t)
    return {"sine": sine.astype(np.float32), "square": (0.3 * np.sign(sine)).astype(np.float32)}


def test_architecture_checklist_matches_the_toy_package(repo_root):
    """docs/architecture.md's checklist lists the files a modality package has: the toy's."""
    text = (repo_root / "docs" / "architecture.md").read_text()
    section = text.split("## Adding a modality", 1)[1]
    listed = set(re.findall(r"`modalities/<name>/([^`]+)`", section))
    present = {
        p.relative_to(TOY_PACKAGE).as_posix().replace("/__init__.py", "/")
        for p in TOY_PACKAGE.rglob("*.py")
    }
    assert listed and listed <= present | {"detectors/<architecture>.py"}, (listed, present)
    voice = repo_root / "src" / "veracity" / "modalities" / "voice"
    for rel in listed - {"detectors/<architecture>.py"}:
        assert (voice / rel.rstrip("/")).exists() or (voice / rel).exists(), rel
