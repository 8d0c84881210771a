"""Stand-ins for the serving tests while trained fixtures are missing (test-only, never src).

``make_bundle`` writes a bundle of *untrained* detectors with a calibration of T=1; the
stage-1 head's bias can be set to push every clip toward spoof or bonafide so a test can
choose which branch of the verdict policy runs. ``demo_clips`` renders one bonafide and one
spoofed clip with the demo corpus generator.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from veracity.config import Config
from veracity.models.artifact import save_artifact
from veracity.models.factory import build_model


def make_bundle(out: Path, cfg: Config, stage1_bias: float = 0.0) -> Path:
    """Bundle dir with stage1 + aasist-l; ``stage1_bias`` > 0 pushes stage 1 toward spoof."""
    torch.manual_seed(0)
    for role, arch in (("stage1", "stage1"), ("aasist", "aasist-l")):
        model = build_model(arch, cfg.models)
        if role == "stage1" and stage1_bias:
            last = model.head[-1]
            with torch.no_grad():
                last.weight.mul_(0.01)
                last.bias.copy_(torch.tensor([stage1_bias / 2, -stage1_bias / 2]))
        d = save_artifact(out / role, model, arch, extra={"mlflow_run_id": f"standin-{role}"})
        cal = {"temperature": 1.0, "threshold": 0.5, "threshold_mode": "eer"}
        (d / "calibration.json").write_text(json.dumps(cal))
    meta = {"name": cfg.serving.model_name, "models": {"stage1": "stage1", "aasist": "aasist"}}
    (out / "bundle.json").write_text(json.dumps({**meta, "dataset_version": "standin"}))
    return out


def demo_clips(cfg: Config) -> dict[str, bytes]:
    """WAV bytes of one bonafide and one spoofed demo clip."""
    from veracity.data.demo.corpus import plan_corpus, render_clip

    plans = plan_corpus("tiny", cfg.seed, cfg.data.demo)
    out = {}
    for label in ("bonafide", "spoof"):
        plan = next(p for p in plans if p.label == label)
        wave = render_clip(plan, cfg.data.demo, cfg.data.sample_rate)
        out[label] = wav_bytes(wave, cfg.data.sample_rate)
    return out


def wav_bytes(wave: np.ndarray, sr: int, subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, wave, sr, format="WAV", subtype=subtype)
    return buf.getvalue()


def tone(seconds: float, sr: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * 150 * t) * (1 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(
        np.float32
    )


def start_standin_stack(cfg: Config, tmp: Path, repo_root: Path):
    """Predictor + transformer processes on free loopback ports serving a stand-in bundle
    (stage-1 biased towards spoof so AASIST is consulted); payloads logged under ``tmp``.
    Returns ``(predictor, transformer)``; the caller stops both by pid with ``stop_server``."""
    from veracity.serving.process import find_free_port, start_stack

    bundle = make_bundle(tmp / "bundle", cfg, stage1_bias=6.0)
    ports = {
        k: find_free_port()
        for k in ("predictor", "predictor_grpc", "transformer", "transformer_grpc")
    }
    return start_stack(
        cfg,
        model=str(bundle),
        params=repo_root / "params.yaml",
        overrides=[
            f"monitoring.sink={tmp / 'payloads'}",
            "security.serving.require_approval=false",  # a stand-in bundle, not a version
        ],
        log_dir=tmp / "logs",
        ports=ports,
    )
