"""Seed 001's hybrid: autoencoder latent + AST embedding, fused by attention (phase 4).

The hybrid holds both branches, an AE-style conv encoder (``logmel`` -> 256-d latent) and
an AST branch (``waveform`` -> 512-d embedding), so one artifact serves from the
segments. Seed 001's design (and the default, ``trains_on: [autoencoder, ast_mlp]``):
the branches are copied from the trained ``autoencoder`` and ``ast_mlp`` detectors and
frozen, and only the fusion and classifier train, on features exported once per segment
(:func:`precompute_branches`). Without ``trains_on`` it trains end to end (seed 001's
"advanced: end-to-end fine-tuning").

AttentionFusion: ``ae_proj`` Linear(256, 256), ``trans_proj`` Linear(512, 256), one shared
scoring MLP 256 -> 128 (Tanh) -> 1, softmax over the two scores -> ``attention [B, 2]``;
the original features are weighted and concatenated (768). Classifier 768 -> 512 -> 256
-> 128 -> 2 with BatchNorm, ReLU, Dropout 0.5/0.4/0.3. The naive-concatenation hybrid is
the same without the attention, to answer the seed's question whether attention helps.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from veracity.modalities.music.detectors.ast import ASTEncoder
from veracity.modalities.music.detectors.cnn import ConvEncoder


class AttentionFusion(nn.Module):
    """Weights the two feature sources per sample; returns ``(fused [B, 768], attention)``."""

    def __init__(self, ae_dim: int = 256, trans_dim: int = 512, dim: int = 256, hidden: int = 128):
        super().__init__()
        self.ae_proj = nn.Linear(ae_dim, dim)
        self.trans_proj = nn.Linear(trans_dim, dim)
        self.attention_mlp = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, ae: Tensor, trans: Tensor) -> tuple[Tensor, Tensor]:
        scores = torch.cat(
            [self.attention_mlp(self.ae_proj(ae)), self.attention_mlp(self.trans_proj(trans))],
            dim=1,
        )
        weights = torch.softmax(scores, dim=1)
        fused = torch.cat([ae * weights[:, 0:1], trans * weights[:, 1:2]], dim=1)
        return fused, weights


def classifier(in_dim: int, hidden: tuple[int, ...], dropouts: tuple[float, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for h, p in zip(hidden, dropouts, strict=True):
        layers += [nn.Linear(in_dim, h), nn.BatchNorm1d(h), nn.ReLU(inplace=True), nn.Dropout(p)]
        in_dim = h
    layers.append(nn.Linear(in_dim, 2))
    return nn.Sequential(*layers)


class HybridBase(nn.Module):
    """Both branches and the classifier; subclasses decide how the features are fused."""

    architecture = "hybrid"

    def __init__(self, config: dict[str, Any], encoder: ASTEncoder | None = None) -> None:
        super().__init__()
        self.model_config = dict(config)
        self.ae_encoder = ConvEncoder(tuple(config["channels"]), tuple(config["dropouts"]))
        # a loaded (pretrained) AST branch is passed in; rebuilds make the same structure
        self.trans_encoder = encoder if encoder is not None else ASTEncoder(config["encoder"])
        self.ae_dim = self.ae_encoder.out_dim
        self.trans_dim = config["encoder"]["embed_dim"]
        self.classifier = classifier(
            self.ae_dim + self.trans_dim, tuple(config["hidden"]), tuple(config["dropouts_head"])
        )
        self.frozen_branches = bool(config.get("frozen_branches", False))
        if self.frozen_branches:
            self.ae_encoder.requires_grad_(False)
            self.trans_encoder.requires_grad_(False)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> HybridBase:
        return cls(config)

    def init_from(self, autoencoder: nn.Module | None = None, ast: nn.Module | None = None):
        """Copy a trained conv encoder (the autoencoder's, or the CNN's) and ast_mlp's AST branch."""
        if autoencoder is not None:
            self.ae_encoder.load_state_dict(autoencoder.encoder.state_dict())
        if ast is not None:
            self.trans_encoder.load_state_dict(ast.encoder.state_dict())
        return self

    def train(self, mode: bool = True) -> HybridBase:
        super().train(mode)
        if self.frozen_branches:
            self.ae_encoder.eval()  # exported features: no dropout or batch statistics
            self.trans_encoder.eval()
        return self

    def features(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """(AE latent [B, 256], transformer embedding [B, 512]); exported ones when given."""
        if "ae_features" in batch and "trans_features" in batch:
            return batch["ae_features"], batch["trans_features"]
        _, ae = self.ae_encoder(batch["logmel"])
        trans = self.trans_encoder(batch["waveform"])["embedding"]
        return ae, trans


class HybridAttention(HybridBase):
    """Attention-fusion hybrid; outputs ``attention [B, 2]`` (AE, transformer; rows sum
    to 1) and the weighted features as ``embedding [B, 768]``."""

    architecture = "hybrid_attention"

    def __init__(self, config: dict[str, Any], encoder: ASTEncoder | None = None) -> None:
        super().__init__(config, encoder)
        self.fusion = AttentionFusion(
            self.ae_dim, self.trans_dim, config["fusion_dim"], config["fusion_hidden"]
        )

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        ae, trans = self.features(batch)
        fused, weights = self.fusion(ae, trans)
        return {
            "logits": self.classifier(fused),
            "embedding": fused,
            "attention": weights,
            "ae_features": ae,
            "trans_features": trans,
        }


class HybridConcat(HybridBase):
    """Naive concatenation ``[ae; trans]`` (768) -> the same classifier."""

    architecture = "hybrid_concat"

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        ae, trans = self.features(batch)
        fused = torch.cat([ae, trans], dim=1)
        return {
            "logits": self.classifier(fused),
            "embedding": fused,
            "ae_features": ae,
            "trans_features": trans,
        }


def hybrid_config(
    model_params: Any, encoder: ASTEncoder, frozen_branches: bool = False
) -> dict[str, Any]:
    """The JSON-safe config of a hybrid from ``modalities.music.model`` and an AST branch."""
    m = model_params
    return {
        "channels": list(m.channels),
        "dropouts": list(m.dropouts),
        "encoder": encoder.model_config,
        "fusion_dim": m.fusion_dim,
        "fusion_hidden": m.fusion_hidden,
        "hidden": list(m.hybrid_hidden),
        "dropouts_head": list(m.hybrid_dropouts),
        "frozen_branches": frozen_branches,
    }


def precompute_branches(model: HybridBase, batch: dict[str, Tensor]) -> dict[str, Tensor]:
    """The frozen branches' features of a ``logmel`` + ``waveform`` batch (the train step
    calls it in eval mode without gradients)."""
    ae, trans = model.features(batch)
    return {"ae_features": ae, "trans_features": trans}
