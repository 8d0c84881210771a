"""The features dir on disk: clips table, per-split segment shards, monitoring reference.

Layout (docs/features.md)::

    features.json                           step result: modality, dataset version, cache key
    clips.parquet                           one row per clip (all splits), descriptor columns
    segments/<split>/shard-00000.safetensors  the modality's inputs [n, ...], clip_row [n],
                                            start_s [n], end_s [n]; at most
                                            ``features.shard_segments`` segments per shard
    reference_profile.parquet               descriptor columns of the train and eval clips

A split is written and read shard by shard: :class:`SplitReader` memory-maps the shards and
reads only the rows asked for, so neither training nor scoring needs a whole split in
memory. Tensors are safetensors (never pickle); ``clip_row`` is the row in clips.parquet.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from veracity.errors import DataError, InputError

log = logging.getLogger(__name__)

FEATURES_JSON = "features.json"
CLIPS_FILE = "clips.parquet"
SEGMENTS_DIR = "segments"
REFERENCE_FILE = "reference_profile.parquet"
DESCRIPTORS_FILE = "descriptors.parquet"  # a shifted eval split's own descriptors (robustness)
INDEX_KEYS = ("clip_row", "start_s", "end_s")
_SPLIT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _check_split(split: str) -> str:
    if not isinstance(split, str) or not _SPLIT_NAME.match(split):
        raise InputError(
            f"expected a split name of letters, digits, '_' or '-' (e.g. train), got {split!r}"
        )
    return split


def split_dir(features_dir: Path, split: str) -> Path:
    """Folder of a split's shards inside ``features_dir``."""
    return Path(features_dir) / SEGMENTS_DIR / _check_split(split)


@dataclass
class ShardWriter:
    """Accumulates one split's segments and writes a shard every ``shard_segments`` rows."""

    features_dir: Path
    split: str
    shard_segments: int
    dtype: torch.dtype
    _parts: dict[str, list[np.ndarray]] = field(default_factory=dict)
    _pending: int = 0
    shards: int = 0
    segments: int = 0

    def add(self, clip_row: int, inputs: dict[str, np.ndarray], starts, ends) -> None:
        """Queue one clip's segments (``inputs`` arrays share their first axis)."""
        n = len(starts)
        rows = {
            **inputs,
            "clip_row": np.full(n, clip_row, dtype=np.int64),
            "start_s": np.asarray(starts, dtype=np.float64),
            "end_s": np.asarray(ends, dtype=np.float64),
        }
        for key, value in rows.items():
            self._parts.setdefault(key, []).append(value)
        self._pending += n
        while self._pending >= self.shard_segments:
            self._write(self.shard_segments)

    def close(self) -> int:
        """Write what is left; return the number of segments written."""
        if self._pending:
            self._write(self._pending)
        return self.segments

    def _write(self, n: int) -> None:
        path = split_dir(self.features_dir, self.split) / f"shard-{self.shards:05d}.safetensors"
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {}
        for key, parts in self._parts.items():
            joined = np.concatenate(parts)
            head, rest = joined[:n], joined[n:]
            self._parts[key] = [rest] if len(rest) else []
            tensor = torch.from_numpy(np.ascontiguousarray(head))
            tensors[key] = tensor if key in INDEX_KEYS else tensor.to(self.dtype)
        save_file(tensors, str(path), metadata={"split": self.split})
        self._pending -= n
        self.shards += 1
        self.segments += n


class SplitReader:
    """One split of a features dir, read lazily shard by shard.

    ``clips`` holds this split's rows (index reset) and ``clip_row[i]`` is the position in
    ``clips`` of segment ``i``; ``targets`` are per segment (1 bonafide, 0 spoof).
    :meth:`read` returns the named inputs of any rows as float32 tensors.
    """

    def __init__(self, features_dir: Path, split: str, clips_split: str | None = None):
        """``clips_split``: the split whose clips the shards hold (``eval`` for the shifted
        copies ``eval-<shift>`` of the robustness report); only clips with segments count."""
        self.features_dir, self.split = Path(features_dir), split
        all_clips = read_clips(features_dir)
        folder = split_dir(features_dir, split)
        self.paths = sorted(folder.glob("shard-*.safetensors"))
        if not self.paths:
            present = sorted(p.name for p in (Path(features_dir) / SEGMENTS_DIR).glob("*"))
            raise DataError(
                f"expected split {split!r} in the features dir {features_dir}, found only "
                f"{present}; check the split name or the manifest's split column"
            )
        self._handles = []
        index: dict[str, list[np.ndarray]] = {k: [] for k in INDEX_KEYS}
        sizes = []
        for path in self.paths:
            try:
                handle = safe_open(str(path), framework="pt")
            except (SafetensorError, OSError) as exc:
                raise DataError(
                    f"{path} is not a readable safetensors file ({exc}); re-run features"
                ) from exc
            self._handles.append(handle)
            for key in INDEX_KEYS:
                index[key].append(handle.get_tensor(key).numpy())
            sizes.append(len(index["clip_row"][-1]))
        self.input_names = tuple(k for k in self._handles[0].keys() if k not in INDEX_KEYS)
        self._offsets = np.concatenate([[0], np.cumsum(sizes)])
        global_rows = np.concatenate(index["clip_row"])
        rows = np.flatnonzero(all_clips["split"].to_numpy() == (clips_split or split))
        if clips_split is not None:
            rows = np.intersect1d(rows, global_rows)
        position = np.full(len(all_clips), -1, dtype=np.int64)
        position[rows] = np.arange(rows.shape[0])
        local = position[global_rows]
        if (local < 0).any():
            raise DataError(f"{folder} refers to clips outside split {split!r}; re-run features")
        self.clips = all_clips.iloc[rows].reset_index(drop=True)
        self.clip_row = local
        self.start_s = np.concatenate(index["start_s"])
        self.end_s = np.concatenate(index["end_s"])

    def __len__(self) -> int:
        return int(self._offsets[-1])

    @property
    def targets(self) -> np.ndarray:
        """Per-segment target (1 bonafide, 0 spoof)."""
        return self.clips["target"].to_numpy()[self.clip_row]

    def read(self, rows, names: tuple[str, ...] | None = None) -> dict[str, torch.Tensor]:
        """The inputs ``names`` (default: all) of segment ``rows``, in that order, float32."""
        rows = np.asarray(rows, dtype=np.int64)
        names = names or self.input_names
        if rows.size and (rows.min() < 0 or rows.max() >= len(self)):
            raise InputError(f"rows must lie in [0, {len(self)}), got {rows.min()}..{rows.max()}")
        shard = np.searchsorted(self._offsets, rows, side="right") - 1
        out = {}
        for name in names:
            parts = [None] * len(rows)
            for s in np.unique(shard):
                picks = np.flatnonzero(shard == s)
                local = rows[picks] - self._offsets[s]
                view = self._handles[s].get_slice(name)
                lo, hi = int(local.min()), int(local.max()) + 1
                if hi - lo <= 2 * len(picks):  # dense (scoring in order): one read
                    block = view[lo:hi]
                    for j, p in zip(local - lo, picks, strict=True):
                        parts[p] = block[j]
                else:  # sparse (a shuffled training batch): only the rows asked for
                    for j, p in zip(local, picks, strict=True):
                        parts[p] = view[int(j) : int(j) + 1][0]
            out[name] = torch.stack(parts).to(torch.float32) if parts else torch.empty(0)
        return out

    def chunks(self, size: int, names: tuple[str, ...] | None = None):
        """Yield ``(first_row, inputs)`` over the split in order, ``size`` rows at a time."""
        for start in range(0, len(self), size):
            yield start, self.read(np.arange(start, min(start + size, len(self))), names)


def read_features_json(features_dir: Path) -> dict:
    """The features dir's ``features.json`` (a clear error when it is absent)."""
    path = Path(features_dir) / FEATURES_JSON
    if not path.is_file():
        raise DataError(
            f"expected a features dir with {FEATURES_JSON} at {features_dir}, found none; "
            "run `veracity features --manifest ... --out DIR` first"
        )
    return json.loads(path.read_text())


def read_clips(features_dir: Path) -> pd.DataFrame:
    """All clips of a features dir (one row per clip, every split)."""
    path = Path(features_dir) / CLIPS_FILE
    if not path.is_file():
        raise DataError(
            f"expected {CLIPS_FILE} in the features dir {features_dir}, found none; "
            "run `veracity features --manifest ... --out DIR` first"
        )
    return pd.read_parquet(path)


def load_split(features_dir: Path, split: str, clips_split: str | None = None) -> SplitReader:
    """The lazy reader of one split (see :class:`SplitReader`)."""
    return SplitReader(features_dir, split, clips_split)


def robustness_split(shift: str) -> str:
    """Split name of the eval clips under a deployment shift (``eval-telephone``)."""
    return f"eval-{shift}"
