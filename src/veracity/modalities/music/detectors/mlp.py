"""Seed 001's MLP classifiers on cached features, and the AE-latent detector.

``LatentMLP``: 256 -> 128 -> 64 -> 2; ``EmbeddingMLP``: 512 -> 256 -> 128 -> 2; BatchNorm
after each hidden layer, ReLU, Dropout 0.4. They read a feature vector (``latent`` /
``embedding`` key) so they also train on exported features; :class:`AEMLPDetector` puts
the conv encoder in front of the latent MLP so it trains from ``logmel`` in the unified
loop like every other role.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from veracity.modalities.music.detectors.cnn import ConvEncoder


def mlp_layers(in_dim: int, hidden: tuple[int, ...], dropout: float) -> nn.Sequential:
    """Linear -> BatchNorm -> ReLU -> Dropout per hidden size (no output layer)."""
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [
            nn.Linear(in_dim, h),
            nn.BatchNorm1d(h),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
        ]
        in_dim = h
    return nn.Sequential(*layers)


class FeatureMLP(nn.Module):
    """MLP classifier on a feature vector ``batch[key]`` [B, in_dim]."""

    architecture = "feature_mlp"

    def __init__(self, in_dim: int, hidden: tuple[int, ...], dropout: float, key: str) -> None:
        super().__init__()
        self.model_config: dict[str, Any] = {
            "in_dim": in_dim,
            "hidden": list(hidden),
            "dropout": dropout,
            "key": key,
        }
        self.key = key
        self.body = mlp_layers(in_dim, tuple(hidden), dropout)
        self.out = nn.Linear(hidden[-1] if hidden else in_dim, 2)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> FeatureMLP:
        return cls(config["in_dim"], tuple(config["hidden"]), config["dropout"], config["key"])

    def classify(self, features: Tensor) -> dict[str, Tensor]:
        h = self.body(features)
        return {"logits": self.out(h), "embedding": h}

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        return self.classify(batch[self.key])


def LatentMLP(in_dim: int = 256, hidden=(128, 64), dropout: float = 0.4) -> FeatureMLP:  # noqa: N802
    """AE-latent classifier 256 -> 128 -> 64 -> 2."""
    return FeatureMLP(in_dim, tuple(hidden), dropout, "latent")


def EmbeddingMLP(in_dim: int = 512, hidden=(256, 128), dropout: float = 0.4) -> FeatureMLP:  # noqa: N802
    """Transformer-embedding classifier 512 -> 256 -> 128 -> 2."""
    return FeatureMLP(in_dim, tuple(hidden), dropout, "embedding")


class AEMLPDetector(nn.Module):
    """Conv encoder (the AE's, 256-d latent) + latent MLP, trained from ``logmel``."""

    architecture = "ae_mlp"

    def __init__(
        self,
        channels: tuple[int, ...] = (32, 64, 128, 256),
        dropouts: tuple[float, ...] = (0.25, 0.25, 0.3, 0.3),
        hidden: tuple[int, ...] = (128, 64),
        dropout: float = 0.4,
    ) -> None:
        super().__init__()
        self.model_config: dict[str, Any] = {
            "channels": list(channels),
            "dropouts": list(dropouts),
            "hidden": list(hidden),
            "dropout": dropout,
        }
        self.encoder = ConvEncoder(tuple(channels), tuple(dropouts))
        self.mlp = LatentMLP(self.encoder.out_dim, tuple(hidden), dropout)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> AEMLPDetector:
        return cls(
            tuple(config["channels"]),
            tuple(config["dropouts"]),
            tuple(config["hidden"]),
            config["dropout"],
        )

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        _, latent = self.encoder(batch["logmel"])
        out = self.mlp.classify(latent)
        return {"logits": out["logits"], "embedding": latent, "latent": latent}
