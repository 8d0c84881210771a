"""Seed 001's CNN baseline and the conv encoder the autoencoder and hybrid reuse.

Four blocks Conv3x3 -> BatchNorm -> ReLU -> MaxPool(2,2) -> Dropout (0.25, 0.25, 0.3, 0.3)
with 32 -> 64 -> 128 -> 256 channels, global average pooling (any time length), then the
MLP 256 -> 128 -> 2. Input ``logmel [B, n_mels, T]``; logit index 1 = human.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

# channels-last: on CPU, oneDNN's convolutions and above all its max-pooling run much faster
# on it than on NCHW (`make bench`: music_conv measures both in one run); saved weights
# are contiguous either way (models/artifact.py), so artifacts do not depend on it
MEMORY_FORMAT = torch.channels_last


def use_memory_format(model: nn.Module, memory_format: torch.memory_format) -> nn.Module:
    """Run every conv stack of ``model`` (encoders, the AE decoder) in ``memory_format``."""
    for module in model.modules():
        if hasattr(module, "memory_format"):
            module.memory_format = memory_format
            module.to(memory_format=memory_format)
    return model


class ConvEncoder(nn.Module):
    """The 4-block conv encoder: ``[B, M, T]`` -> (feature map ``[B, C, M/16, T/16]``,
    pooled latent ``[B, C]``)."""

    def __init__(self, channels: tuple[int, ...], dropouts: tuple[float, ...]) -> None:
        super().__init__()
        blocks = []
        c_in = 1
        for c_out, p in zip(channels, dropouts, strict=True):
            blocks.append(
                nn.Sequential(
                    nn.Conv2d(c_in, c_out, kernel_size=3, padding=1),
                    nn.BatchNorm2d(c_out),
                    nn.ReLU(inplace=True),
                    nn.MaxPool2d(kernel_size=2, stride=2),
                    nn.Dropout(p),
                )
            )
            c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.out_dim = c_in
        self.memory_format = MEMORY_FORMAT
        self.blocks.to(memory_format=self.memory_format)

    def forward(self, logmel: Tensor) -> tuple[Tensor, Tensor]:
        x = logmel.unsqueeze(1) if logmel.ndim == 3 else logmel
        fmap = self.blocks(x.contiguous(memory_format=self.memory_format))
        return fmap, fmap.mean(dim=(2, 3))


class CNNDetector(nn.Module):
    """CNN baseline: conv encoder, global average pooling, MLP 256 -> 128 -> 2."""

    architecture = "cnn"

    def __init__(
        self,
        channels: tuple[int, ...] = (32, 64, 128, 256),
        dropouts: tuple[float, ...] = (0.25, 0.25, 0.3, 0.3),
        hidden: int = 128,
        head_dropout: float = 0.3,
    ) -> None:
        super().__init__()
        self.model_config: dict[str, Any] = {
            "channels": list(channels),
            "dropouts": list(dropouts),
            "hidden": hidden,
            "head_dropout": head_dropout,
        }
        self.encoder = ConvEncoder(tuple(channels), tuple(dropouts))
        self.head = nn.Sequential(
            nn.Linear(self.encoder.out_dim, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(head_dropout),
            nn.Linear(hidden, 2),
        )

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> CNNDetector:
        return cls(
            tuple(config["channels"]),
            tuple(config["dropouts"]),
            config["hidden"],
            config["head_dropout"],
        )

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        _, pooled = self.encoder(batch["logmel"])
        return {"logits": self.head(pooled), "embedding": pooled}


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = [
    "MEMORY_FORMAT",
    "CNNDetector",
    "ConvEncoder",
    "count_parameters",
    "torch",
    "use_memory_format",
]
