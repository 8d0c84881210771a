"""The train step's export of a frozen part (``DetectorSpec.precompute``): eval mode,
no gradients, the model's mode restored, every row once, in order."""

from __future__ import annotations

import torch
from torch import nn

from veracity.modalities.base import DetectorSpec
from veracity.stages.train import precomputed_set
from veracity.training.dataset import InMemorySource, SegmentSet


class Frozen(nn.Module):
    def __init__(self):
        super().__init__()
        self.part = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.9))
        self.seen: list[tuple[bool, bool]] = []


def _hook(model: Frozen, batch):
    model.seen.append((model.training, torch.is_grad_enabled()))
    return {"latent": model.part(batch["x"])}


def test_precompute_runs_in_eval_without_grad_and_restores_the_mode():
    torch.manual_seed(0)
    model = Frozen().train()
    x = torch.randn(5, 3)
    data = SegmentSet(InMemorySource({"x": x}), torch.tensor([4, 0, 2, 1, 3]),
                      torch.tensor([1, 0, 1, 0, 1]), torch.arange(5), ("x",))  # fmt: skip
    spec = DetectorSpec(role="head", inputs=("latent",), build=lambda *a: model, precompute=_hook)
    out = precomputed_set(spec, model, data, batch_size=2)
    assert model.seen == [(False, False)] * 3  # 5 rows in batches of 2, eval, no grad
    assert model.training  # restored
    latent = out.batch(torch.arange(5))["latent"]
    model.eval()
    assert torch.allclose(latent, model.part(x[[4, 0, 2, 1, 3]]))  # no dropout, rows in order
    assert not latent.requires_grad and out.names == ("latent",)
    assert torch.equal(out.targets, data.targets)
