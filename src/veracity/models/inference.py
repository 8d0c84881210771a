"""Batched, gradient-free logits of a detector over a dict of segment inputs."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from veracity.errors import InputError


def predict_logits(model: nn.Module, inputs: dict[str, Tensor], batch_size: int) -> np.ndarray:
    """Logits ``[N, 2]`` (float32, index 1 = bonafide) of segment ``inputs`` ``{name: [N, ...]}``."""
    return predict_outputs(model, inputs, batch_size)[0]


def predict_outputs(
    model: nn.Module, inputs: dict[str, Tensor], batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Logits ``[N, 2]`` and embeddings ``[N, D]`` (float32) of segment ``inputs``.

    Runs in eval mode under ``torch.inference_mode`` on the model's device, ``batch_size``
    segments at a time (the detector contract: ``model(dict) -> {"logits", "embedding"}``);
    the model's train/eval state is restored afterwards.
    """
    if not inputs:
        raise InputError("expected at least one named input, got none")
    sizes = {k: int(v.shape[0]) for k, v in inputs.items()}
    if len(set(sizes.values())) != 1:
        raise InputError(f"expected inputs with one segment count, got {sizes}")
    if batch_size < 1:
        raise InputError(f"expected batch_size >= 1, got {batch_size}")
    n = next(iter(sizes.values()))
    if n == 0:
        return np.zeros((0, 2), dtype=np.float32), np.zeros((0, 0), dtype=np.float32)
    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    was_training = model.training
    model.eval()
    logits, embeddings = [], []
    try:
        with torch.inference_mode():
            for start in range(0, n, batch_size):
                batch = {
                    k: v[start : start + batch_size].to(device, torch.float32)
                    for k, v in inputs.items()
                }
                out = model(batch)
                logits.append(out["logits"].float().cpu())
                embeddings.append(out["embedding"].float().cpu().flatten(1))
    finally:
        model.train(was_training)
    return torch.cat(logits).numpy(), torch.cat(embeddings).numpy()
