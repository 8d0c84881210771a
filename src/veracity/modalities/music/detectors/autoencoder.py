"""Seed 001's multi-task autoencoder: reconstruction + classification from one latent.

Encoder = the CNN's 4 conv blocks (1 -> 32 -> 64 -> 128 -> 256) with global average
pooling: the 256-d latent is the bottleneck. The decoder maps the latent to a seed grid
(256 x n_mels/16 x ``decoder_time``) and upsamples it with 4 transposed convolutions
256 -> 128 -> 64 -> 32 -> 1 (kernel 4, stride 2), resized to the input's shape. The head
256 -> 128 -> 2 (BatchNorm, ReLU, Dropout 0.4) classifies from the latent. Trained on both
classes with ``loss = recon_weight * MSE + cls_weight * CE`` (1.0 and 0.5 in seed 001).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from veracity.modalities.music.detectors.cnn import MEMORY_FORMAT, ConvEncoder


class ConvDecoder(nn.Module):
    """Latent ``[B, C]`` -> reconstruction ``[B, M, T]`` through 4 transposed convs."""

    def __init__(self, channels: tuple[int, ...], n_mels: int, decoder_time: int) -> None:
        super().__init__()
        self.grid = (max(1, n_mels // 2 ** len(channels)), decoder_time)
        top = channels[-1]
        self.seed = nn.Linear(top, top * self.grid[0] * self.grid[1])
        outs = [*reversed(channels[:-1]), 1]  # 128, 64, 32, 1
        layers: list[nn.Module] = []
        c_in = top
        for i, c_out in enumerate(outs):
            layers.append(nn.ConvTranspose2d(c_in, c_out, kernel_size=4, stride=2, padding=1))
            if i < len(outs) - 1:
                layers += [nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
            c_in = c_out
        self.deconv = nn.Sequential(*layers)
        self.memory_format = MEMORY_FORMAT  # like the encoder's (cnn.py)
        self.deconv.to(memory_format=self.memory_format)

    def forward(self, latent: Tensor, shape: tuple[int, int]) -> Tensor:
        x = self.seed(latent).view(latent.shape[0], -1, *self.grid)
        x = self.deconv(x.contiguous(memory_format=self.memory_format))
        if tuple(x.shape[-2:]) != tuple(shape):
            x = F.interpolate(x, size=shape, mode="bilinear", align_corners=False)
        return x.squeeze(1)


class MultiTaskAutoencoder(nn.Module):
    """Outputs ``logits``, ``embedding`` (= ``latent`` [B, 256]), ``reconstruction``
    [B, M, T] and ``recon_loss`` [B] (per-sample MSE, also an anomaly score)."""

    architecture = "autoencoder"

    def __init__(
        self,
        channels: tuple[int, ...] = (32, 64, 128, 256),
        dropouts: tuple[float, ...] = (0.25, 0.25, 0.3, 0.3),
        n_mels: int = 128,
        decoder_time: int = 4,
        head_hidden: int = 128,
        head_dropout: float = 0.4,
    ) -> None:
        super().__init__()
        self.model_config: dict[str, Any] = {
            "channels": list(channels),
            "dropouts": list(dropouts),
            "n_mels": n_mels,
            "decoder_time": decoder_time,
            "head_hidden": head_hidden,
            "head_dropout": head_dropout,
        }
        self.encoder = ConvEncoder(tuple(channels), tuple(dropouts))
        self.decoder = ConvDecoder(tuple(channels), n_mels, decoder_time)
        self.head = nn.Sequential(
            nn.Linear(self.encoder.out_dim, head_hidden),
            nn.BatchNorm1d(head_hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(head_dropout),
            nn.Linear(head_hidden, 2),
        )

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> MultiTaskAutoencoder:
        c = dict(config)
        return cls(tuple(c.pop("channels")), tuple(c.pop("dropouts")), **c)

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        x = batch["logmel"]
        _, latent = self.encoder(x)
        recon = self.decoder(latent, (x.shape[-2], x.shape[-1]))
        recon_loss = ((recon - x) ** 2).flatten(1).mean(dim=1)
        return {
            "logits": self.head(latent),
            "embedding": latent,
            "latent": latent,
            "reconstruction": recon,
            "recon_loss": recon_loss,
        }


def multitask_loss(recon_weight: float = 1.0, cls_weight: float = 0.5):
    """The DetectorSpec loss hook: ``recon_weight * MSE + cls_weight * CE``."""

    def loss(outputs: Mapping[str, Tensor], targets: Tensor, criterion: nn.Module) -> Tensor:
        return recon_weight * outputs["recon_loss"].mean() + cls_weight * criterion(
            outputs["logits"], targets
        )

    loss.weights = (recon_weight, cls_weight)  # type: ignore[attr-defined]
    return loss
