"""Batched, gradient-free logits for a stack of fixed-length windows."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from veracity.errors import InputError


def predict_logits(model: nn.Module, windows: Tensor, batch_size: int) -> np.ndarray:
    """Logits ``[N, 2]`` (float32, index 1 = bonafide) of ``windows`` ``[N, L]``.

    Runs in eval mode under ``torch.inference_mode`` on the model's device, ``batch_size``
    windows at a time; the model's train/eval state is restored afterwards.
    """
    if windows.ndim != 2:
        raise InputError(
            f"expected windows shaped [N, samples], got {tuple(windows.shape)}; "
            "cut clips with veracity.media.make_windows"
        )
    if batch_size < 1:
        raise InputError(f"expected batch_size >= 1, got {batch_size}")
    if windows.shape[0] == 0:
        return np.zeros((0, 2), dtype=np.float32)
    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    was_training = model.training
    model.eval()
    outputs = []
    try:
        with torch.inference_mode():
            for start in range(0, windows.shape[0], batch_size):
                batch = windows[start : start + batch_size].to(device, torch.float32)
                outputs.append(model(batch).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(outputs).numpy()
