"""The music detector roles (seed 001), one architecture per file.

``detector_specs(params)`` lists the roles of ``modalities.music.detectors``. Seed 001's
order is the default: cnn, autoencoder and ast_mlp train on the segments; ae_mlp
(``trains_on: [autoencoder]``) and the hybrids (``trains_on: [autoencoder, ast_mlp]``)
take those trained encoders frozen and train their heads on the exported latents and
embeddings. Without ``trains_on`` they train end to end. No role reads another's scores
(``depends_on`` is empty); the policy asks for the hybrid first. Every model's forward
takes a dict batch of its ``inputs`` and returns at least ``logits`` [B, 2] (index 1 =
human) and ``embedding``; ``rebuild(architecture, model_config)`` makes the same
structure again.
"""

from __future__ import annotations

import copy
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
from veracity.modalities.music.detectors.hybrid import (
    HybridAttention,
    HybridConcat,
    hybrid_config,
    precompute_branches,
)
from veracity.modalities.music.detectors.mlp import AEMLPDetector, precompute_latent
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


# what a role of each architecture may be built on: sets of trained roles' architectures.
# The hybrids' conv branch is seed 001's AE encoder, or the CNN's (same ConvEncoder) when
# the AE's latent does not separate the classes (docs/music.md)
UPSTREAM: dict[str, tuple[tuple[str, ...], ...]] = {
    "ae_mlp": (("autoencoder",),),
    "hybrid_attention": (("ast_mlp", "autoencoder"), ("ast_mlp", "cnn")),
    "hybrid_concat": (("ast_mlp", "autoencoder"), ("ast_mlp", "cnn")),
}


# the state-dict prefixes each export hook reads: its cache key (hybrid and hybrid_concat on
# the same trained encoders share one export, training.frozen_cache_dir)
FROZEN_PARTS: dict[str, tuple[str, ...]] = {
    "ae_mlp": ("encoder.",),
    "hybrid_attention": ("ae_encoder.", "trans_encoder."),
    "hybrid_concat": ("ae_encoder.", "trans_encoder."),
}


def build_on(architecture: str, params: MusicParams, upstream: dict[str, nn.Module]) -> nn.Module:
    """``architecture`` on trained upstream models (``{role: module}``), their encoders
    copied and frozen (seed 001: MLPs and the hybrid read the AE latents and AST embeddings)."""
    m = params.model
    found = {params.detectors[r].architecture: model for r, model in upstream.items()}
    allowed = UPSTREAM.get(architecture, ())
    if tuple(sorted(found)) not in allowed:
        raise ConfigError(
            f"expected trained models of one of {[list(a) for a in allowed]} for a "
            f"{architecture} built on others, got {sorted(found)}; set its trains_on to the "
            "roles of those architectures, or to [] to train it end to end"
        )
    if architecture == "ae_mlp":
        return AEMLPDetector.on_autoencoder(
            found["autoencoder"], tuple(m.latent_mlp_hidden), m.mlp_dropout
        )
    encoder = copy.deepcopy(found["ast_mlp"].encoder)
    model = CLASSES[architecture](hybrid_config(m, encoder, frozen_branches=True), encoder)
    return model.init_from(autoencoder=found.get("autoencoder") or found["cnn"])


def build_model(
    architecture: str,
    params: MusicParams,
    storage_cfg: Any = None,
    upstream: dict[str, nn.Module] | None = None,
) -> nn.Module:
    """A fresh model of ``architecture`` from ``modalities.music`` params (on ``upstream``
    trained models when given, see :func:`build_on`)."""
    if upstream:
        return build_on(architecture, params, upstream)
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
        upstream_archs = tuple(sorted(params.detectors[r].architecture for r in det.trains_on))
        if det.trains_on and upstream_archs not in UPSTREAM.get(arch, ()):
            raise ConfigError(
                f"modalities.music.detectors.{role}.trains_on: a {arch} is built on roles of "
                f"architectures {[list(a) for a in UPSTREAM.get(arch, ())]}, got "
                f"{list(det.trains_on)} ({list(upstream_archs)}); name those roles, or [] to "
                "train it end to end"
            )
        precompute, frozen = None, ()
        if det.trains_on:
            precompute = precompute_latent if arch == "ae_mlp" else precompute_branches
            frozen = FROZEN_PARTS[arch]
        specs.append(
            DetectorSpec(
                role=role,
                inputs=INPUTS[arch],
                build=lambda p, s, upstream=None, a=arch: build_model(a, p, s, upstream),
                loss=loss,
                depends_on=(),  # the policy reads the hybrid alone
                required=det.required,
                trains_on=tuple(det.trains_on),
                precompute=precompute,
                frozen_parts=frozen,
            )
        )
    return specs
