"""Video detectors as DetectorSpecs: the audio-visual cross-attention detector.

One architecture per file (``av_attention.py``). Roles come from
``modalities.video.detectors``; the architecture ``av-cross-attention`` takes its structure
from ``modalities.video.model`` (fusion, ablation flags, encoders).
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from torch import nn

from veracity.encoders.wav2vec2 import load_encoder_from_uri, scratch_encoder_config
from veracity.errors import ConfigError
from veracity.modalities.base import DetectorSpec
from veracity.modalities.video.params import VideoParams
from veracity.modalities.video.segments import AUDIO, FACE_MASK, FACES

log = logging.getLogger(__name__)
ARCHITECTURES = ("av-cross-attention",)


def model_config(params: VideoParams, audio_config: dict[str, Any]) -> dict[str, Any]:
    """The JSON-safe structure of the detector (what ``rebuild`` needs)."""
    m = params.model
    return {
        "frame_encoder": m.frame_encoder, "frame_pretrained": m.frame_pretrained,
        "face_norm": m.face_norm,
        "model_dim": m.model_dim, "temporal_kernel": m.temporal_kernel,
        "attention_heads": m.attention_heads, "fusion": m.fusion, "use_video": m.use_video,
        "use_audio": m.use_audio, "classifier_hidden": m.classifier_hidden,
        "dropout": m.dropout, "modality_dropout": m.modality_dropout,
        "audio_encoder": audio_config, "audio_pretrained": m.audio.pretrained,
        "audio_freeze_layers": m.audio.freeze_layers,
        "audio_freeze_feature_encoder": m.audio.freeze_feature_encoder,
    }  # fmt: skip


def build_architecture(architecture: str, params: VideoParams, storage_cfg=None) -> nn.Module:
    """A fresh detector; pretrained encoders from a local path or s3:// when params name one."""
    from veracity.modalities.video.detectors.av_attention import AVCrossAttentionDetector

    if architecture not in ARCHITECTURES:
        raise ConfigError(
            f"unknown video architecture {architecture!r}; expected one of {ARCHITECTURES}"
        )
    m = params.model
    encoder = None
    if m.use_audio and m.audio.pretrained:
        encoder = load_encoder_from_uri(m.audio.pretrained, storage_cfg)
        audio_config = encoder.config.to_dict()
    else:
        audio_config = scratch_encoder_config(m.audio)
    model = AVCrossAttentionDetector(model_config(params, audio_config), audio_encoder=encoder)
    if m.use_video and m.frame_pretrained:
        load_frame_weights(model.frame_encoder, m.frame_pretrained, storage_cfg)
    return model


def load_frame_weights(encoder: nn.Module, uri: str, storage_cfg=None) -> None:
    """ImageNet weights for the frame encoder from a local safetensors file or s3:// URI
    (the classifier keys of a full checkpoint are ignored)."""
    import tempfile
    from pathlib import Path

    from safetensors.torch import load_file

    from veracity.storage import fetch_to_local, is_s3_uri

    with tempfile.TemporaryDirectory(prefix="veracity-frames-") as tmp:
        path = fetch_to_local(uri, Path(tmp), storage_cfg) if is_s3_uri(uri) else Path(uri)
        if path.suffix != ".safetensors":
            raise ConfigError(f"expected frame encoder weights as .safetensors, got {path.name}")
        state = load_file(str(path))
    missing, unexpected = encoder.load_state_dict(state, strict=False)
    if missing:
        raise ConfigError(
            f"{uri}: weights miss {len(missing)} frame encoder keys, e.g. {missing[:3]}"
        )
    log.info("frame encoder weights from %s (%d unused keys)", uri, len(unexpected))


def rebuild(architecture: str, config: dict[str, Any]) -> nn.Module:
    """The structure (random weights) of a saved video detector from its ``model_config``."""
    from veracity.modalities.video.detectors.av_attention import AVCrossAttentionDetector

    if architecture not in ARCHITECTURES:
        raise ConfigError(
            f"unknown video architecture {architecture!r}; expected one of {ARCHITECTURES}"
        )
    return AVCrossAttentionDetector(config)


def detector_specs(params: VideoParams) -> list[DetectorSpec]:
    """One spec per role of ``modalities.video.detectors``."""
    from veracity.modalities.video.detectors.augment import augment_av
    from veracity.modalities.video.detectors.av_attention import av_loss
    from veracity.modalities.video.detectors.explain import explain_windows

    specs = []
    for role, det in params.detectors.items():
        if det.architecture not in ARCHITECTURES:
            raise ConfigError(
                f"modalities.video.detectors.{role}.architecture is {det.architecture!r}; "
                f"expected one of {ARCHITECTURES}"
            )
        loss = partial(av_loss, consistency_weight=params.model.consistency_weight,
                       aux_weight=params.model.aux_weight,
                       label_smoothing=params.model.label_smoothing)  # fmt: skip
        specs.append(DetectorSpec(
            role=role, inputs=(FACES, FACE_MASK, AUDIO),
            build=partial(build_architecture, det.architecture), loss=loss,
            augment=partial(augment_av, cfg=params.augment),
            required=det.required, explain=explain_windows,
        ))  # fmt: skip
    return specs
