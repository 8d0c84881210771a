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
With a ``cache_dir`` (``training.frozen_cache_dir``/``rows``) the rows are shared by the
step processes of a run too: ast_mlp's calibrate, the hybrids' export and calibrates, and
evaluate's domain guard read the AST of a dev or train segment computed once.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from veracity.training.frozen_cache import weights_digest

log = logging.getLogger(__name__)
_state = threading.local()


@contextmanager
def shared_outputs(cache_dir: Path | None = None) -> Iterator[dict]:
    """Keep opted-in modules' outputs for the duration of the block (nested: the outer
    scope's memo); yields the memo (row key -> outputs) for inspection.

    With ``cache_dir`` the rows also outlive the process: a digest's rows stored there by
    earlier steps are read on its first use, and the rows this scope computed are written
    there when it closes (one new file per scope, so concurrent steps never collide).
    """
    if getattr(_state, "memo", None) is not None:
        yield _state.memo
        return
    _state.memo, _state.disk, _state.loaded, _state.new = {}, cache_dir, set(), {}
    try:
        yield _state.memo
    finally:
        new, disk = _state.new, _state.disk
        _state.memo = _state.disk = _state.loaded = _state.new = None
        if disk is not None:
            _store(Path(disk), new)


def rows_dir(cfg) -> Path | None:
    """Where the steps of a run share rows: ``training.frozen_cache_dir``/rows ("" = not)."""
    root = cfg.training.frozen_cache_dir
    return Path(root) / "rows" if root else None


def _load(cache_dir: Path, digest: str, memo: dict) -> None:
    for path in sorted((cache_dir / digest).glob("*.safetensors")):
        try:
            tensors = load_file(str(path))
        except (SafetensorError, OSError) as exc:  # a damaged file: compute those rows again
            log.warning("ignoring a damaged shared-output file %s: %s", path, exc)
            continue
        for name, value in tensors.items():
            key, _, output = name.partition("/")
            memo.setdefault(key, {})[output] = value


def _store(cache_dir: Path, new: dict[str, dict[str, dict[str, Tensor]]]) -> None:
    for digest, rows in new.items():
        tensors = {
            f"{key}/{name}": value.detach().cpu().clone().contiguous()
            for key, outputs in rows.items()
            for name, value in outputs.items()
        }
        folder = cache_dir / digest
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".{os.getpid()}-{uuid.uuid4().hex}.tmp"
            save_file(tensors, str(tmp))
            os.replace(tmp, folder / f"{tmp.stem[1:]}.safetensors")
        except OSError as exc:  # e.g. read-only: the rows are only lost for later steps
            log.warning("could not keep %d shared rows in %s: %s", len(rows), folder, exc)


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
    if _state.disk is not None and digest not in _state.loaded:
        _state.loaded.add(digest)
        _load(Path(_state.disk), digest, memo)
    keys = [_row_key(digest, row) for row in x]
    missing = [key for key in dict.fromkeys(keys) if key not in memo]
    if missing:
        out = compute(x[[keys.index(key) for key in missing]])
        for j, key in enumerate(missing):
            memo[key] = {name: value[j] for name, value in out.items()}
            _state.new.setdefault(digest, {})[key] = memo[key]
    names = memo[keys[0]].keys()
    return {name: torch.stack([memo[key][name] for key in keys]) for name in names}
