"""Stand-ins for the serving tests while trained fixtures are missing (test-only, never src).

``make_bundle`` writes a voice bundle (``bundle.json`` contract + one artifact per role, as
the gate writes it) of *untrained* detectors with a calibration of T=1; the stage-1 head's bias can be set to push every clip toward spoof or bonafide so a test can
choose which branch of the verdict policy runs. ``make_music_bundle`` writes the same for
music (every role of ``modalities.music.detectors``, untrained). ``demo_clips`` renders one
bonafide and one spoofed clip with the demo corpus generator.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from veracity.config import Config
from veracity.modalities.voice.detectors import build_architecture
from veracity.models.artifact import save_artifact
from veracity.models.bundle import BundleContract, write_bundle_json


def save_standin_detector(out: Path, role: str, model, architecture: str, modality: str,
                          input_shapes: dict[str, list[int]]) -> dict:  # fmt: skip
    """Save ``model`` as role ``role`` under ``out`` with identity calibration; return its
    entry of the bundle contract."""
    extra = {"mlflow_run_id": f"standin-{role}", "input_shapes": input_shapes}
    d = save_artifact(out / role, model, architecture, modality=modality, role=role, extra=extra)
    cal = {"temperature": 1.0, "threshold": 0.5, "threshold_mode": "eer"}
    (d / "calibration.json").write_text(json.dumps(cal))
    return {"dir": role, "architecture": architecture, "inputs": list(input_shapes),
            "input_shapes": input_shapes}  # fmt: skip


def write_standin_contract(out: Path, params, modality: str, detectors: dict[str, dict]) -> Path:
    """bundle.json for the stand-in ``detectors`` (listed in params order, as the gate does)."""
    roles = [r for r in params.detectors if r in detectors]
    contract = BundleContract(
        name=params.registered_model,
        modality=modality,
        dataset_version="standin",
        roles=roles,
        detectors={r: detectors[r] for r in roles},
        params=params.model_dump(mode="json", by_alias=True),
    )
    write_bundle_json(out, contract)
    return out


def make_bundle(
    out: Path, cfg: Config, stage1_bias: float = 0.0, window_samples: int | None = None
) -> Path:
    """Voice bundle dir with every role of params (stage1 + aasist-l); ``stage1_bias`` > 0
    pushes stage 1 toward spoof. ``window_samples`` overrides the input length the bundle's
    contract records (the artifacts keep the one they were "trained" on)."""
    voice = cfg.modality_params("voice")
    trained = {"waveform": [voice.segments.window_samples]}
    torch.manual_seed(0)
    detectors = {}
    for role, det in voice.detectors.items():
        model = build_architecture(det.architecture, voice)
        if role == "stage1" and stage1_bias:
            last = model.head[-1]
            with torch.no_grad():
                last.weight.mul_(0.01)
                last.bias.copy_(torch.tensor([stage1_bias / 2, -stage1_bias / 2]))
        entry = save_standin_detector(out, role, model, det.architecture, "voice", trained)
        shapes = {"waveform": [window_samples or voice.segments.window_samples]}
        detectors[role] = {**entry, "input_shapes": shapes}
    return write_standin_contract(out, voice, "voice", detectors)


def make_music_bundle(out: Path, cfg: Config) -> Path:
    """Music bundle dir with an untrained detector of every role of params, each built by the
    music modality's own ``DetectorSpec.build`` (roles with ``trains_on`` on the stand-in
    modules of their upstream roles, as the train step builds them on trained ones), with a
    calibration of T=1. The input shapes are those ``prepare`` gives one segment."""
    from veracity.modalities import load_modality
    from veracity.modalities.music.segments import MusicMedia

    music = load_modality("music", cfg.modality_packages)
    params = cfg.modality_params("music")
    seg = params.segments
    one = music.prepare(MusicMedia(tone(seg.segment_s, seg.sample_rate), seg.sample_rate), params)
    shapes = {name: list(x.shape[1:]) for name, x in one.inputs.items()}
    torch.manual_seed(0)
    models: dict[str, torch.nn.Module] = {}
    detectors = {}
    # roles built on others after the roles they are built on
    for spec in sorted(music.detectors(params), key=lambda s: bool(s.trains_on)):
        upstream = {r: models[r] for r in spec.trains_on}
        if upstream:
            model = spec.build(params, cfg.storage, upstream=upstream)
        else:
            model = spec.build(params, cfg.storage)
        models[spec.role] = model
        arch = params.detectors[spec.role].architecture
        inputs = {name: shapes[name] for name in spec.inputs}
        detectors[spec.role] = save_standin_detector(out, spec.role, model, arch, "music", inputs)
    return write_standin_contract(out, params, "music", detectors)


def demo_clips(cfg: Config) -> dict[str, bytes]:
    """WAV bytes of one bonafide and one spoofed demo clip."""
    from veracity.modalities.voice.demo.corpus import plan_corpus, render_clip

    voice = cfg.modality_params("voice")
    sr = voice.segments.sample_rate
    plans = plan_corpus("tiny", cfg.seed, voice.demo)
    out = {}
    for label in ("bonafide", "spoof"):
        plan = next(p for p in plans if p.label == label)
        out[label] = wav_bytes(render_clip(plan, voice.demo, sr), sr)
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


def serve_bundle(
    cfg: Config,
    bundle: Path,
    tmp: Path,
    params: Path,
    modality: str | None = None,
    overrides: tuple[str, ...] = (),
):
    """Predictor + transformer processes on free loopback ports serving ``bundle`` (a
    stand-in, approval not required); payloads and logs under ``tmp``. Returns
    ``(predictor, transformer)``; the caller stops both by pid with ``stop_server``."""
    from veracity.serving.process import find_free_port, start_stack

    ports = {
        k: find_free_port()
        for k in ("predictor", "predictor_grpc", "transformer", "transformer_grpc")
    }
    return start_stack(
        cfg,
        model=str(bundle),
        params=params,
        overrides=[
            f"monitoring.sink={tmp / 'payloads'}",
            "security.serving.require_approval=false",  # a stand-in bundle, not a version
            *overrides,
        ],
        log_dir=tmp / "logs",
        modality=modality,
        ports=ports,
    )


def start_standin_stack(cfg: Config, tmp: Path, repo_root: Path):
    """:func:`serve_bundle` of a voice stand-in bundle, stage 1 biased towards spoof so
    AASIST is consulted."""
    bundle = make_bundle(tmp / "bundle", cfg, stage1_bias=6.0)
    return serve_bundle(cfg, bundle, tmp, repo_root / "params.yaml")
