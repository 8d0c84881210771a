"""The music detector roles (seed 001), one architecture per file.

``detector_specs(params)`` lists the roles of ``modalities.music.detectors`` in dependency
order: cnn, autoencoder, ast_mlp, then the hybrids. The hybrids hold their own AE-style and
AST branches and train end to end (see ``hybrid.py``), so no role depends on another's
scores (``depends_on`` is empty); the policy asks for the hybrid first. Every model's forward takes a
dict batch of its ``inputs`` and returns at least ``logits`` [B, 2] (index 1 = human) and
``embedding``; ``rebuild(architecture, model_config)`` makes the same structure again.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from veracity.errors import ConfigError
from veracity.modalities.base import DetectorSpec, default_loss
from veracity.modalities.music.detectors.ast import (
    ASTMLPDetector,
    build_ast_encoder,
)
from veracity.modalities.music.detectors.autoencoder import MultiTaskAutoencoder, multitask_loss
from veracity.modalities.music.detectors.cnn import CNNDetector
from veracity.modalities.music.detectors.hybrid import HybridAttention, HybridConcat, hybrid_config
from veracity.modalities.music.detectors.mlp import AEMLPDetector
from veracity.modalities.music.params import MusicParams

CLASSES: dict[str, type[nn.Module]] = {
    "cnn": CNNDetector,
    "autoencoder": MultiTaskAutoencoder,
    "ae_mlp": AEMLPDetector,
    "ast_mlp": ASTMLPDetector,
    "hybrid_attention": HybridAttention,
    "hybrid_concat": HybridConcat,
}
INPUTS: dict[str, tuple[str, ...]] = {
    "cnn": ("logmel",),
    "autoencoder": ("logmel",),
    "ae_mlp": ("logmel",),
    "ast_mlp": ("waveform",),
    "hybrid_attention": ("logmel", "waveform"),
    "hybrid_concat": ("logmel", "waveform"),
}


def build_model(architecture: str, params: MusicParams, storage_cfg: Any = None) -> nn.Module:
    """A fresh model of ``architecture`` from ``modalities.music`` params."""
    m, seg = params.model, params.segments
    if architecture == "cnn":
        return CNNDetector(m.channels, m.dropouts, m.cnn_hidden, m.cnn_dropout)
    if architecture == "autoencoder":
        return MultiTaskAutoencoder(
            m.channels, m.dropouts, seg.n_mels, m.decoder_time, m.ae_head_hidden, m.ae_head_dropout
        )
    if architecture == "ae_mlp":
        return AEMLPDetector(m.channels, m.dropouts, m.latent_mlp_hidden, m.mlp_dropout)
    if architecture in ("ast_mlp", "hybrid_attention", "hybrid_concat"):
        encoder = build_ast_encoder(params.ast, m, seg.sample_rate, storage_cfg)
        if architecture == "ast_mlp":
            return ASTMLPDetector(encoder, m.embed_mlp_hidden, m.mlp_dropout)
        return CLASSES[architecture](hybrid_config(m, encoder), encoder)
    raise ConfigError(f"expected a music architecture in {sorted(CLASSES)}, got {architecture!r}")


def rebuild_model(architecture: str, model_config: dict[str, Any]) -> nn.Module:
    """The structure of a saved model from its ``model_config`` (weights loaded after)."""
    if architecture not in CLASSES:
        raise ConfigError(
            f"expected a music architecture in {sorted(CLASSES)}, got {architecture!r}"
        )
    return CLASSES[architecture].from_config(model_config)


def detector_specs(params: MusicParams) -> list[DetectorSpec]:
    """The :class:`DetectorSpec` of every configured role, in dependency order."""
    specs = []
    for role, det in params.detectors.items():
        arch = det.architecture
        loss = default_loss
        if arch == "autoencoder":
            loss = multitask_loss(params.model.recon_weight, params.model.cls_weight)
        specs.append(
            DetectorSpec(
                role=role,
                inputs=INPUTS[arch],
                build=lambda p, s, a=arch: build_model(a, p, s),
                loss=loss,
                # the hybrids are self-contained (own branches): no role must score first
                depends_on=(),
                required=det.required,
            )
        )
    return specs
