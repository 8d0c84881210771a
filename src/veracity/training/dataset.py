"""Training data: segments of the segment store, epoch subsets, class weights.

A :class:`SegmentSet` is what the trainer consumes: segment rows of a source (streamed
from the store's shards, or in memory), their targets (1 = bonafide, 0 = spoof, as in
docs/contracts.md) and the clip each came from.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from veracity.errors import ConfigError, DataError

log = logging.getLogger(__name__)


class InMemorySource:
    """Segment inputs held in memory (tests, small sets): ``{name: Tensor [N, ...]}``."""

    def __init__(self, inputs: dict[str, torch.Tensor]):
        self.inputs = inputs

    def __len__(self) -> int:
        return int(next(iter(self.inputs.values())).shape[0])

    def read(self, rows, names: tuple[str, ...] | None = None) -> dict[str, torch.Tensor]:
        """The rows ``rows`` of the named inputs (all when ``names`` is None), float32."""
        index = torch.as_tensor(np.asarray(rows, dtype=np.int64))
        return {k: self.inputs[k][index].float() for k in names or tuple(self.inputs)}


@dataclass(frozen=True)
class SegmentSet:
    """What the trainer consumes: segment rows of a source, their targets and clips.

    ``source`` is a :class:`~veracity.segment_store.SplitReader` (streamed from shards) or an
    :class:`InMemorySource`; ``rows`` [N] index it; ``targets`` [N] (1 = bonafide, 0 =
    spoof) and ``clip_index`` [N] let dev EER be computed per clip (mean segment log-odds)
    like evaluation does. ``names`` are the inputs the detector reads.
    """

    source: Any
    rows: torch.Tensor
    targets: torch.Tensor
    clip_index: torch.Tensor
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        n = self.rows.shape[0]
        if self.targets.shape != (n,) or self.clip_index.shape != (n,):
            raise DataError(
                f"targets {tuple(self.targets.shape)} and clip_index "
                f"{tuple(self.clip_index.shape)} must both have shape ({n},) like the rows"
            )

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def batch(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        """The inputs of the set's positions ``index`` (read from the source now)."""
        return self.source.read(self.rows[index].numpy(), self.names)

    def subset(self, index: torch.Tensor) -> SegmentSet:
        """The positions ``index`` (in that order) as a new set."""
        return SegmentSet(
            self.source, self.rows[index], self.targets[index], self.clip_index[index], self.names
        )

    def class_counts(self) -> tuple[int, int]:
        """(spoof segments, bonafide segments)."""
        bona = int(self.targets.sum())
        return len(self) - bona, bona


def in_memory_set(
    inputs: dict[str, torch.Tensor], targets: torch.Tensor, clip_index: torch.Tensor
) -> SegmentSet:
    """A :class:`SegmentSet` over tensors already in memory."""
    n = int(next(iter(inputs.values())).shape[0])
    return SegmentSet(
        InMemorySource(inputs), torch.arange(n), targets.long(), clip_index.long(), tuple(inputs)
    )


def segment_set_from_split(reader, names: tuple[str, ...], split_name: str = "?") -> SegmentSet:
    """A :class:`SegmentSet` over a split of the segment store (nothing read yet).

    Targets are looked up through ``clip_row`` in ``clips.target``; a split without
    segments or missing one of ``names`` is a :class:`DataError`.
    """
    clip_row = np.asarray(reader.clip_row, dtype=np.int64)
    if len(clip_row) == 0:
        raise DataError(
            f"split {split_name!r} has no segments; the features step must produce at least "
            "one per split (check the manifest's split column)"
        )
    missing = [n for n in names if n not in reader.input_names]
    if missing:
        raise DataError(
            f"split {split_name!r} holds inputs {list(reader.input_names)}, the detector "
            f"reads {list(names)}; re-run `veracity features` for this modality"
        )
    targets = reader.clips["target"].to_numpy(dtype=np.int64)[clip_row]
    return SegmentSet(
        reader,
        torch.arange(len(clip_row)),
        torch.from_numpy(targets),
        torch.from_numpy(clip_row),
        tuple(names),
    )


def balanced_subset(targets: torch.Tensor, cap: int, generator: torch.Generator) -> torch.Tensor:
    """Random, shuffled indices of at most ``cap`` rows, half from each class when possible.

    ``cap == 0`` (or a cap at least the number of rows) means every row, shuffled. When a
    class has fewer rows than half the cap, the rest of the cap goes to the other class.
    """
    n = int(targets.shape[0])
    if cap <= 0 or cap >= n:
        return torch.randperm(n, generator=generator)
    pools = [(targets == c).nonzero().squeeze(1) for c in (0, 1)]
    pools = [p[torch.randperm(len(p), generator=generator)] for p in pools]
    take = [min(len(pools[0]), cap // 2), min(len(pools[1]), cap - cap // 2)]
    # Give the unused share of a small class to the other one.
    take[0] = min(len(pools[0]), cap - take[1])
    take[1] = min(len(pools[1]), cap - take[0])
    chosen = torch.cat([pools[0][: take[0]], pools[1][: take[1]]])
    return chosen[torch.randperm(len(chosen), generator=generator)]


def class_weights(targets: torch.Tensor, mode: str) -> torch.Tensor | None:
    """Cross-entropy class weights ``[w_spoof, w_bonafide]`` for ``training.class_weights``.

    ``"auto"``: inverse class frequency, ``N / (2 * n_c)`` (1.0 each when balanced);
    ``"none"``: no weights. A class absent from the training windows is a DataError.
    """
    if mode == "none":
        return None
    if mode != "auto":
        raise ConfigError(
            f"training.class_weights must be 'auto' or 'none', got {mode!r}; fix params.yaml"
        )
    counts = torch.bincount(targets, minlength=2).double()
    if (counts[:2] == 0).any():
        raise DataError(
            f"training windows hold {int(counts[0])} spoof and {int(counts[1])} bonafide "
            "windows; both classes are needed to train a detector"
        )
    return (counts.sum() / (2.0 * counts[:2])).float()
