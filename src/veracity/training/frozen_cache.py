"""Exports of frozen model parts, cached on disk and shared by the roles of a run.

A role built on trained models (``DetectorSpec.trains_on``) trains its head on what the
frozen part outputs (``DetectorSpec.precompute``), exported once per segment. Two roles on
the same frozen weights export the same features: music's ``hybrid`` and ``hybrid_concat``
both read the CNN's conv encoder and ast_mlp's AST. Every pipeline task is its own process,
so the export is kept on disk under ``training.frozen_cache_dir``, keyed by

* the hook (module and name), so another export of the same weights never matches;
* the sha256 of the frozen weights, the state-dict entries under the spec's
  ``frozen_parts`` prefixes (the head that trains is not part of the key);
* the segments: the features dir's ``cache_key`` (manifest content + feature params),
  the split and the exported rows.

Two tasks that miss together (the roles of a loop run side by side) are serialised by an
exclusive ``flock`` on the entry: the second waits and reads what the first wrote. Entries
are float32 safetensors, so a hit gives the same tensors as a fresh export.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import logging
import os
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

log = logging.getLogger(__name__)

CACHE_VERSION = "1"  # bump when what an entry holds changes


def weights_digest(model: nn.Module, prefixes: tuple[str, ...]) -> str:
    """sha256 of ``model``'s state-dict entries under ``prefixes`` (names, dtypes, shapes,
    bytes); a :class:`ValueError` when no entry matches (a wrong prefix would key nothing)."""
    h = hashlib.sha256()
    matched = 0
    for name, tensor in sorted(model.state_dict().items()):
        if not name.startswith(prefixes):
            continue
        t = tensor.detach().cpu().contiguous().reshape(-1)
        h.update(f"{name}\0{t.dtype}\0{tuple(tensor.shape)}\0".encode())
        h.update(t.view(torch.uint8).numpy().tobytes())
        matched += 1
    if not matched:
        raise ValueError(f"no state-dict entry of the model starts with any of {prefixes}")
    return h.hexdigest()


def hook_name(hook: Callable) -> str:
    """A stable name of an export hook (a ``functools.partial`` names its arguments too)."""
    if isinstance(hook, functools.partial):
        return f"{hook_name(hook.func)}{hook.args!r}{sorted(hook.keywords.items())!r}"
    return f"{getattr(hook, '__module__', '?')}.{getattr(hook, '__qualname__', repr(hook))}"


def segments_identity(data) -> str | None:
    """``cache_key/split/sha256(rows)`` of a :class:`~veracity.training.dataset.SegmentSet`
    read from a segment store; ``None`` (not cacheable) for sets held only in memory."""
    source = data.source
    features_dir, split = getattr(source, "features_dir", None), getattr(source, "split", None)
    if features_dir is None or split is None:
        return None
    from veracity.segment_store import read_features_json

    cache_key = read_features_json(features_dir).get("cache_key")
    if not cache_key:
        return None
    rows = hashlib.sha256(data.rows.numpy().astype("int64").tobytes()).hexdigest()[:16]
    return f"{cache_key}/{split}/{rows}"


def entry_key(hook: Callable, digest: str, segments: str) -> str:
    """The file stem of one cache entry."""
    blob = "\n".join((CACHE_VERSION, hook_name(hook), digest, segments)).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cached_export(
    cache_dir: Path, key: str, compute: Callable[[], dict[str, Tensor]]
) -> tuple[dict[str, Tensor], bool]:
    """``(tensors, hit)``: the entry ``key`` under ``cache_dir``, or ``compute()`` stored
    there (atomically, under the entry's lock)."""
    cache_dir = Path(cache_dir)
    path = cache_dir / f"{key}.safetensors"
    with _locked(cache_dir / f"{key}.lock"):
        if path.is_file():
            try:
                return load_file(str(path)), True
            except (SafetensorError, OSError) as exc:  # a damaged entry: export again
                log.warning("ignoring a damaged frozen-export cache entry %s: %s", path, exc)
        tensors = {k: v.detach().cpu().float().contiguous() for k, v in compute().items()}
        tmp = cache_dir / f".{key}.{os.getpid()}.safetensors"
        save_file(tensors, str(tmp))
        os.replace(tmp, path)
        return tensors, False


def export_once(
    spec, model: nn.Module, data, cache_dir: Path | None, export: Callable[[], dict[str, Tensor]]
) -> dict[str, Tensor]:
    """``export()`` of ``spec``'s frozen part on ``data``, through the cache under
    ``cache_dir`` when the spec names its ``frozen_parts`` and ``data`` comes from a
    segment store; an unusable cache dir (e.g. read-only) falls back to exporting."""
    segments = segments_identity(data) if cache_dir and spec.frozen_parts else None
    if segments is None:
        return export()
    key = entry_key(spec.precompute, weights_digest(model, tuple(spec.frozen_parts)), segments)
    try:
        tensors, hit = cached_export(Path(cache_dir), key, export)
    except OSError as exc:
        log.warning("frozen-export cache %s unusable (%s); exporting in memory", cache_dir, exc)
        return export()
    log.info("%s: frozen export %s (%s)", spec.role, "reused" if hit else "stored", key)
    return tensors
