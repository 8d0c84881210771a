"""Video end to end on a tiny demo corpus: ingest -> validate -> features -> train ->
calibrate -> evaluate -> gate, with the real ffprobe / ffmpeg / MTCNN path.

The tiny corpus (6 identities, one real clip and its fake each, 64 px crops, 2 epochs)
cannot show quality (the slow quality test on the small corpus does); this shows that
every step runs for video, that the gate judges it with video's own bounds, and that
ingest quarantines what decode would refuse (not a video, audio only, empty, corrupt)
with a reason each while the good clips go on.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from conftest import write_isolated_params

from veracity.config import load_config

pytestmark = pytest.mark.integration

needs_ffmpeg = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
    reason="video needs ffmpeg and ffprobe: make setup",
)


@pytest.fixture(scope="module")
def video_params_file(tmp_path_factory, repo_root) -> Path:
    """params.yaml for video at tiny scale: 64 px crops, 2 epochs, MLflow/audit in tmp."""
    root = tmp_path_factory.mktemp("video-params")
    raw = yaml.safe_load((repo_root / "params.yaml").read_text())
    video = raw["modalities"]["video"]
    video["segments"]["crop_size"] = 64
    for det in video["detectors"].values():
        det["training"].update(epochs=2, batch_size=8)
    raw["modality"] = "video"
    raw["validate"]["min_rows_per_split"] = {"train": 4, "dev": 4, "eval": 4}  # tiny: 4 a split
    raw["ingest"]["max_quarantine_fraction"] = 0.5  # the bad-input corpus is a third bad
    return write_isolated_params(raw, root)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, video_params_file) -> Path:
    from veracity.modalities import load_modality

    cfg = load_config(video_params_file)
    out = tmp_path_factory.mktemp("video-corpus") / "corpus"
    load_modality("video").generate_demo(out, "tiny", 3, cfg.modality_params("video"))
    return out


@pytest.fixture(scope="module")
def video_run(video_params_file, corpus, tmp_path_factory):
    """The tiny video corpus through every step up to evaluate."""
    from veracity.stages.calibrate import run_calibrate
    from veracity.stages.evaluate import run_evaluate
    from veracity.stages.features import run_features
    from veracity.stages.ingest import run_ingest
    from veracity.stages.train import run_train
    from veracity.stages.validate import run_validate

    root = tmp_path_factory.mktemp("video-run")
    cfg = load_config(video_params_file)
    ingested = run_ingest(cfg, str(corpus), None, root / "ingested", False, "video")
    manifest = Path(ingested.out) / "manifest.parquet"
    assert run_validate(cfg, manifest, root / "validation", "video").success
    feats = run_features(cfg, manifest, root / "features", "video")
    for role in cfg.modality_params("video").detectors:
        run_train(cfg, root / "features", role, root / "trained" / role)
        run_calibrate(cfg, root / "trained" / role, root / "features", root / "calibrated" / role)
    evaluation = run_evaluate(cfg, [root / "calibrated"], root / "features", root / "eval")
    return cfg, root, ingested, feats, evaluation


@needs_ffmpeg
def test_video_steps_run_and_the_gate_judges_video(video_run, tmp_path):
    from veracity.errors import GateFailedError
    from veracity.stages.gate import run_gate

    cfg, root, ingested, feats, evaluation = video_run
    manifest = __import__("pandas").read_parquet(Path(ingested.out) / "manifest.parquet")
    assert len(manifest) == 12 and set(manifest["modality"]) == {"video"}
    assert set(manifest["sample_rate"]) <= {16000, 22050, 44100, 48000}  # the AAC track's rate
    assert (manifest["duration_s"] > 1.0).all()
    assert feats.modality == "video"
    assert feats.inputs == {"faces": [10, 3, 64, 64], "face_mask": [10], "audio": [16000]}
    assert evaluation.modality == "video"
    matrix = evaluation.verdict["matrix"]
    assert sum(sum(row.values()) for row in matrix.values()) == 4  # the 4 eval videos
    # the video report hook: video-level aggregation over windows compared (mean/max/attention)
    report = json.loads((root / "eval" / "video" / "video_report.json").read_text())
    assert set(report["aggregation"]["av"]) == {"mean", "max", "attention"}
    try:
        gate = run_gate(cfg, [root / "calibrated"], root / "eval", tmp_path / "bundle")
        checks, passed = gate.checks, True
    except GateFailedError:
        report = json.loads((tmp_path / "bundle" / "gate_report.json").read_text())
        checks, passed = report["checks"], False
    names = {(c["model"], c["check"]) for c in checks}
    bounds = cfg.modality_params("video").detectors["av"].gate
    assert ("av", "eer") in names and ("verdict", "final_eer") in names
    eer_check = next(c for c in checks if (c["model"], c["check"]) == ("av", "eer"))
    assert eer_check["bound"] == bounds.max_eer  # video's own bound, not voice's
    if passed:
        bundle = json.loads((tmp_path / "bundle" / "bundle.json").read_text())
        assert bundle["modality"] == "video"


def _audio_only_mp4(path: Path) -> None:
    wav = path.with_suffix(".wav")
    sf.write(wav, np.zeros(16000, np.float32), 16000)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-c:a", "aac", "-f", "mp4",
                    str(path)], check=True)  # fmt: skip
    wav.unlink()


@needs_ffmpeg
def test_ingest_quarantines_what_decode_would_refuse(video_params_file, corpus, tmp_path):
    from veracity.stages.ingest import run_ingest

    cfg = load_config(video_params_file)
    bad = tmp_path / "corpus"
    shutil.copytree(corpus, bad)
    fakes = sorted((bad / "manipulated_sequences").rglob("*.mp4"))
    text, empty, corrupt, audio_only = fakes[:4]
    text.write_text("this is not a video\n")
    empty.write_bytes(b"")
    data = corrupt.read_bytes()
    corrupt.write_bytes(data[: len(data) // 3])
    _audio_only_mp4(audio_only)
    result = run_ingest(cfg, str(bad), None, tmp_path / "ingested", False, "video")
    reasons = {Path(q["path"]).name: q["reason"] for q in result.quarantine}
    assert set(reasons) == {p.name for p in (text, empty, corrupt, audio_only)}
    assert "empty file" in reasons[empty.name]
    assert "found only audio" in reasons[audio_only.name]
    assert all("send an H.264 MP4" in reasons[p.name] for p in (text, corrupt))
    manifest = __import__("pandas").read_parquet(Path(result.out) / "manifest.parquet")
    assert len(manifest) == 12 - 4  # every good clip is kept
