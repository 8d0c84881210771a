"""Music end to end on a tiny demo corpus: ingest -> ... -> gate, then real servers.

The tiny corpus (music21 scores rendered by FluidSynth, AI reconstructions) goes through
the same steps as voice with two roles (the CNN and the attention hybrid, 2 epochs each);
the gate judges them with music's own bounds, and the trained detectors are served by a
real predictor + transformer (wav, mp3, V2 via tritonclient, bad input answered 4xx).
Four eval clips cannot show quality: the slow test on the small corpus does.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
import yaml
from conftest import write_isolated_params

from veracity.config import load_config

pytestmark = pytest.mark.integration

needs_tools = pytest.mark.skipif(
    shutil.which("fluidsynth") is None or shutil.which("ffmpeg") is None,
    reason="the music demo needs fluidsynth (+ timgm6mb-soundfont) and ffmpeg: make setup",
)
TRAINING = {"epochs": 2, "batch_size": 8}
ROLES = ("cnn", "autoencoder", "ast_mlp", "hybrid")  # the hybrid trains_on cnn + ast_mlp


@pytest.fixture(scope="module")
def music_params_file(tmp_path_factory, repo_root) -> Path:
    """params.yaml with music's roles cut to the hybrid, the roles it is built on (cnn,
    ast_mlp) and the autoencoder, MLflow and audit in tmp."""
    root = tmp_path_factory.mktemp("music-params")
    raw = yaml.safe_load((repo_root / "params.yaml").read_text())
    music = raw["modalities"]["music"]
    music["detectors"] = {r: music["detectors"][r] for r in ROLES}
    for det in music["detectors"].values():
        det["training"].update(TRAINING)
    music["policy"]["fallback_roles"] = ["cnn"]
    music["ast"].update(hidden_size=64, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=128)  # fmt: skip
    raw["modality"] = "music"
    return write_isolated_params(raw, root)


@pytest.fixture(scope="module")
def music_run(music_params_file, tmp_path_factory):
    """The tiny music corpus through every step up to evaluate."""
    from veracity.modalities import load_modality
    from veracity.stages.calibrate import run_calibrate
    from veracity.stages.evaluate import run_evaluate
    from veracity.stages.features import run_features
    from veracity.stages.ingest import run_ingest
    from veracity.stages.train import run_train
    from veracity.stages.validate import run_validate

    root = tmp_path_factory.mktemp("music-run")
    cfg = load_config(music_params_file)
    music = load_modality("music")
    params = cfg.modality_params("music")
    music.generate_demo(root / "corpus", "tiny", 3, params)
    ingested = run_ingest(cfg, str(root / "corpus"), None, root / "ingested", False, "music")
    manifest = Path(ingested.out) / "manifest.parquet"
    assert run_validate(cfg, manifest, root / "validation", "music").success
    feats = run_features(cfg, manifest, root / "features", "music")
    assert feats.modality == "music"
    assert feats.inputs == {"logmel": [128, 157], "waveform": [80000]}
    for role in params.detectors:  # in order: the hybrid finds its upstream in trained/
        out = root / "trained" / role
        trained = run_train(cfg, root / "features", role, out, upstream=[root / "trained"])
        assert trained.modality == "music" and trained.role == role
        if params.detectors[role].trains_on:
            # built on the trained cnn and ast_mlp, their weights frozen inside it
            config = json.loads((out / "config.json").read_text())
            assert set(config["trained_on"]) == set(params.detectors[role].trains_on)
        run_calibrate(cfg, root / "trained" / role, root / "features", root / "calibrated" / role)
    evaluation = run_evaluate(cfg, [root / "calibrated"], root / "features", root / "eval")
    return cfg, root, evaluation


@needs_tools
def test_music_steps_report_and_gate(music_run, tmp_path):
    from veracity.errors import GateFailedError
    from veracity.stages.gate import run_gate

    cfg, root, evaluation = music_run
    assert evaluation.modality == "music"
    assert {m["role"] for m in evaluation.models} == set(ROLES)
    matrix = evaluation.verdict["matrix"]
    n_eval = sum(sum(row.values()) for row in matrix.values())
    assert n_eval == len(evaluation.models[0]) or n_eval > 0
    # seed 001's Phase-5 report, beside the generic one
    report = json.loads((root / "eval" / "music" / "music_report.json").read_text())
    assert set(report["models"]) == set(ROLES)
    assert (root / "eval" / "music" / "plots" / "attention_analysis.png").stat().st_size > 0
    assert (
        "music: tsne" in (root / "eval" / "report.html").read_text()
        or (root / "eval" / "music" / "plots" / "tsne.png").is_file()
    )
    # the gate judges music with music's bounds; pass or fail, it says why per detector
    try:
        gate = run_gate(cfg, [root / "calibrated"], root / "eval", tmp_path / "bundle")
        checks = gate.checks
    except GateFailedError:
        checks = json.loads((tmp_path / "bundle" / "gate_report.json").read_text())["checks"]
    assert {c["model"] for c in checks} >= {"cnn", "hybrid", "verdict"}


def _bundle(cfg, root: Path, out: Path) -> Path:
    """A bundle of the run's calibrated detectors (the gate's layout, approval not required)."""
    from veracity.models.bundle import BundleContract, write_bundle_json

    music = cfg.modality_params("music")
    detectors = {}
    for role, det in music.detectors.items():
        shutil.copytree(root / "calibrated" / role, out / role)
        config = json.loads((out / role / "config.json").read_text())
        detectors[role] = {
            "dir": role,
            "architecture": det.architecture,
            "inputs": list(config["input_shapes"]),
            "input_shapes": config["input_shapes"],
        }
    fitted = json.loads((root / "eval" / "fitted_params.json").read_text())
    contract = BundleContract(
        name=music.registered_model, modality="music", dataset_version="test",
        roles=list(detectors), detectors=detectors, params=fitted,
    )  # fmt: skip
    write_bundle_json(out, contract)
    return out


def _song(seconds: float, sr: int = 22050) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    notes = 220 * 2 ** (np.floor(t * 2) % 12 / 12)
    return (0.2 * np.sin(2 * np.pi * notes * t)).astype(np.float32)


@needs_tools
def test_music_served_wav_mp3_v2_and_bad_input(music_run, music_params_file, tmp_path):
    from veracity.media.shifts import encode_codec
    from veracity.serving.process import find_free_port, start_stack, stop_server

    cfg, root, _ = music_run
    bundle = _bundle(cfg, root, tmp_path / "bundle")
    names = ("predictor", "predictor_grpc", "transformer", "transformer_grpc")
    ports = {k: find_free_port() for k in names}
    overrides = ["security.serving.require_approval=false"]
    predictor, transformer = start_stack(
        cfg, model=str(bundle), params=music_params_file, overrides=overrides,
        log_dir=tmp_path / "logs", modality="music", ports=ports,
    )  # fmt: skip
    try:
        url = f"{transformer.url}/v1/models/veracity-music:predict"
        buf = io.BytesIO()
        sf.write(buf, _song(12.0), 22050, format="WAV")
        wav = buf.getvalue()
        reply = httpx.post(url, content=wav, headers={"content-type": "audio/wav"}, timeout=120)
        assert reply.status_code == 200, reply.text
        verdict = reply.json()
        assert verdict["modality"] == "music" and verdict["label"] in (
            "HUMAN",
            "AI",
            "INCONCLUSIVE",
        )
        assert "hybrid" in verdict["scores"] and len(verdict["timeline"]) >= 3  # a song timeline
        assert verdict["policy"]["n_segments"] == len(verdict["timeline"])
        mp3 = encode_codec(_song(6.0), 22050, "libmp3lame", "mp3", "128k")
        reply = httpx.post(url, content=mp3, headers={"content-type": "audio/mpeg"}, timeout=120)
        assert reply.status_code == 200, reply.text
        tritonhttp = pytest.importorskip("tritonclient.http")
        client = tritonhttp.InferenceServerClient(url=transformer.url.removeprefix("http://"))
        audio = tritonhttp.InferInput("audio", [1], "BYTES")
        audio.set_data_from_numpy(np.array([base64.b64encode(wav)], dtype=object), True)
        result = client.infer("veracity-music", [audio], request_id="v2-music")
        assert json.loads(result.as_numpy("verdict")[0])["modality"] == "music"
        client.close()
        short = io.BytesIO()
        sf.write(short, _song(0.1), 22050, format="WAV")
        for bad in (b"not audio at all" * 20, short.getvalue(), wav[: len(wav) // 50]):
            r = httpx.post(url, content=bad, headers={"content-type": "audio/wav"}, timeout=60)
            assert 400 <= r.status_code < 500, (r.status_code, r.text[:200])
            assert r.json().get("error")
        again = httpx.post(url, content=wav, headers={"content-type": "audio/wav"}, timeout=120)
        assert again.status_code == 200  # serving continues
    finally:
        stop_server(transformer, predictor)
