"""Seed 001's MLP classifiers on cached features, and the AE-latent detector.

``LatentMLP``: 256 -> 128 -> 64 -> 2; ``EmbeddingMLP``: 512 -> 256 -> 128 -> 2; BatchNorm
after each hidden layer, ReLU, Dropout 0.4. They read a feature vector (``latent`` /
``embedding`` key) so they also train on exported features; :class:`AEMLPDetector` puts
the conv encoder in front of the latent MLP so it serves from ``logmel`` like every other
role. Built on a trained autoencoder (``trains_on``, seed 001's design) it takes that
encoder frozen and trains the MLP on the exported latents (:func:`precompute_latent`);
without one it trains end to end.
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
        frozen_encoder: bool = False,
    ) -> None:
        super().__init__()
        self.model_config: dict[str, Any] = {
            "channels": list(channels),
            "dropouts": list(dropouts),
            "hidden": list(hidden),
            "dropout": dropout,
            "frozen_encoder": frozen_encoder,
        }
        self.encoder = ConvEncoder(tuple(channels), tuple(dropouts))
        self.mlp = LatentMLP(self.encoder.out_dim, tuple(hidden), dropout)
        self.frozen_encoder = frozen_encoder
        if frozen_encoder:
            self.encoder.requires_grad_(False)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> AEMLPDetector:
        return cls(
            tuple(config["channels"]),
            tuple(config["dropouts"]),
            tuple(config["hidden"]),
            config["dropout"],
            bool(config.get("frozen_encoder", False)),
        )

    @classmethod
    def on_autoencoder(
        cls, autoencoder: nn.Module, hidden: tuple[int, ...], dropout: float
    ) -> AEMLPDetector:
        """The latent MLP on a trained autoencoder's encoder (copied, frozen)."""
        channels = autoencoder.model_config["channels"]
        dropouts = autoencoder.model_config["dropouts"]
        model = cls(tuple(channels), tuple(dropouts), hidden, dropout, frozen_encoder=True)
        model.encoder.load_state_dict(autoencoder.encoder.state_dict())
        return model

    def train(self, mode: bool = True) -> AEMLPDetector:
        super().train(mode)
        if self.frozen_encoder:
            self.encoder.eval()  # exported latents: no dropout or batch statistics
        return self

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        latent = batch["latent"] if "latent" in batch else self.encoder(batch["logmel"])[1]
        out = self.mlp.classify(latent)
        return {"logits": out["logits"], "embedding": latent, "latent": latent}


def precompute_latent(model: AEMLPDetector, batch: dict[str, Tensor]) -> dict[str, Tensor]:
    """The frozen encoder's latents of a ``logmel`` batch (the MLP's training input; the
    train step calls it in eval mode without gradients)."""
    latent = model.encoder(batch["logmel"])[1]
    return {"latent": latent}
