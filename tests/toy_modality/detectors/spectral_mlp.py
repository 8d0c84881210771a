"""Log-magnitude spectrum -> MLP: square waves have odd harmonics, sines have none."""

from __future__ import annotations

import torch
from torch import nn


class SpectralMLP(nn.Module):
    def __init__(self, model_config: dict):
        super().__init__()
        self.model_config = dict(model_config)
        bins = model_config["samples"] // 2 + 1
        self.body = nn.Sequential(nn.Linear(bins, model_config["hidden"]), nn.ReLU())
        self.head = nn.Linear(model_config["hidden"], 2)

    def forward(self, batch):
        spec = torch.log1p(torch.fft.rfft(batch["wave"]).abs())
        embedding = self.body(spec)
        return {"logits": self.head(embedding), "embedding": embedding}
