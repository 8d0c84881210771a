"""Video stand-ins for the serving and job tests (test-only, never src).

``talking_face_mp4`` renders one real (or FaceSwap-manipulated) talking-face clip with the
video demo generator (``modalities/video/demo``: a real photograph animated by a synthetic
speech track, encoded as H.264 + AAC in MP4), at any length and height.
``faceless_mp4`` encodes noise frames with a tone (a decodable video without a face).
``make_video_bundle`` writes an approved-bundle directory (``bundle.json`` + one artifact per
role, as the gate writes it) of the untrained ``av-cross-attention`` detector built by the
modality's own ``DetectorSpec.build``, with a calibration of T=1; ``crop_size`` shrinks the
face crops the bundle's contract asks ``prepare`` for (64 px keeps CPU tests fast), and
``spoof_bias`` > 0 pushes every window toward AI so frames are reported as anomalous.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from serving_standins import save_standin_detector, write_standin_contract

from veracity.config import Config


def video_params(cfg: Config, crop_size: int | None = None):
    """``modalities.video`` of ``cfg``, with ``segments.crop_size`` replaced when given."""
    params = cfg.modality_params("video")
    if crop_size is None:
        return params
    seg = params.segments.model_copy(update={"crop_size": crop_size})
    return params.model_copy(update={"segments": seg})


def talking_face_mp4(out: Path, cfg: Config, seconds: float, height: int, fps: int = 25,
                     seed: int = 0, fake: bool = False) -> Path:  # fmt: skip
    """An MP4 of a demo identity speaking for ``seconds`` at ``height``p (FaceSwap if ``fake``)."""
    from veracity.modalities.video.demo.corpus import ClipPlan, fake_clip, perform, render
    from veracity.modalities.video.demo.encode import encode_mp4
    from veracity.modalities.video.demo.faces import fit_frame, load_identities
    from veracity.modalities.video.params import VideoDemoSize

    params = cfg.modality_params("video")
    sr = params.segments.audio_rate
    size = VideoDemoSize(clips_per_identity=1, seconds=(seconds, seconds), height=height, fps=fps)
    identities = [fit_frame(i, height) for i in load_identities(params.demo.identities_per_photo)]
    plan = ClipPlan("000", 0, "eval", seconds, seed, "001", "FaceSwap" if fake else "")
    perf = perform(plan, size, params.demo, sr)
    if fake:
        frames, audio = fake_clip(plan, identities[0], identities[1], perf, perf, params.demo,
                                  sr, fps)  # fmt: skip
    else:
        frames, audio = render(identities[0], perf, np.random.default_rng([seed, 0])), perf.audio
    return encode_mp4(frames, audio, sr, fps, params.demo.crf[0], params.demo.audio_bitrate, out)


def faceless_mp4(out: Path, cfg: Config, seconds: float = 2.0, height: int = 240) -> Path:
    """A decodable H.264 MP4 of grey noise and a tone: no face anywhere."""
    from veracity.modalities.video.demo.encode import encode_mp4

    sr, fps = cfg.modality_params("video").segments.audio_rate, 25
    rng = np.random.default_rng(0)
    n, w = int(seconds * fps), height * 4 // 3
    frames = (rng.normal(128, 20, (n, height, w, 3))).clip(0, 255).astype(np.uint8)
    t = np.arange(int(seconds * sr)) / sr
    return encode_mp4(frames, 0.2 * np.sin(2 * np.pi * 220 * t), sr, fps, 28, "64k", out)


def make_video_bundle(out: Path, cfg: Config, crop_size: int = 64, spoof_bias: float = 0.0):
    """Video bundle dir with an untrained detector of every role of ``modalities.video``."""
    from veracity.modalities import load_modality
    from veracity.modalities.video.segments import slots_per_window

    video = load_modality("video", cfg.modality_packages)
    params = video_params(cfg, crop_size)
    seg = params.segments
    t, audio = slots_per_window(seg), int(round(seg.window_s * seg.audio_rate))
    shapes = {"faces": [t, 3, crop_size, crop_size], "face_mask": [t], "audio": [audio]}
    torch.manual_seed(0)
    detectors = {}
    for spec in video.detectors(params):
        model = spec.build(params, cfg.storage)
        if spoof_bias:
            last = model.classifier[-1]
            with torch.no_grad():
                last.weight.mul_(0.01)
                last.bias.copy_(torch.tensor([spoof_bias / 2, -spoof_bias / 2]))
        arch = params.detectors[spec.role].architecture
        inputs = {name: shapes[name] for name in spec.inputs}
        detectors[spec.role] = save_standin_detector(out, spec.role, model, arch, "video", inputs)
    return write_standin_contract(out, params, "video", detectors)
