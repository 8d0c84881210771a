"""Outputs of one frozen part shared by the models of a scoring pass (the evaluate step).

Music's ``ast_mlp``, ``hybrid`` and ``hybrid_concat`` hold copies of one trained AST branch,
the most expensive part of the music models on a CPU. The evaluate step scores the eval
split, each robustness shift and the report's outputs with every model, so the same AST
ran on the same segment up to nine times. Inside ``with shared_outputs():`` a module that
opts in (its forward calls :func:`memoized`) computes each input row once per weights:
rows are keyed by the sha256 of the module's state dict and the row's bytes, so a copy of
the branch in another model finds them. Only in eval mode without gradients; outside a
scope nothing is kept, so training and serving are unchanged. Rows missing from the memo are
computed together in one batch, which may differ from a full batch in the last float bits.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from veracity.training.frozen_cache import weights_digest

_state = threading.local()


@contextmanager
def shared_outputs() -> Iterator[dict]:
    """Keep opted-in modules' outputs for the duration of the block (nested: the outer
    scope's memo); yields the memo (row key -> outputs) for inspection."""
    outer = getattr(_state, "memo", None)
    _state.memo = {} if outer is None else outer
    try:
        yield _state.memo
    finally:
        _state.memo = outer


def _row_key(digest: str, row: Tensor) -> str:
    data = row.detach().cpu().contiguous()
    h = hashlib.sha256(f"{digest}\0{data.dtype}\0{tuple(data.shape)}\0".encode())
    h.update(data.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def memoized(
    module: nn.Module, x: Tensor, compute: Callable[[Tensor], dict[str, Tensor]]
) -> dict[str, Tensor]:
    """``compute(x)`` (a dict of ``[B, ...]`` tensors), its rows taken from the active
    scope's memo when the same weights saw the same row before."""
    memo = getattr(_state, "memo", None)
    if memo is None or module.training or torch.is_grad_enabled() or x.shape[0] == 0:
        return compute(x)
    digest = weights_digest(module, ("",))
    keys = [_row_key(digest, row) for row in x]
    missing = [key for key in dict.fromkeys(keys) if key not in memo]
    if missing:
        out = compute(x[[keys.index(key) for key in missing]])
        for j, key in enumerate(missing):
            memo[key] = {name: value[j] for name, value in out.items()}
    names = memo[keys[0]].keys()
    return {name: torch.stack([memo[key][name] for key in keys]) for name in names}
