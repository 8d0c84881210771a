"""Training data: windows of the features store as tensors, epoch subsets, class weights.

A :class:`WindowSet` is what the trainer consumes: one row per 4.04 s window, its
target (1 = bonafide, 0 = spoof, as in docs/contracts.md) and the clip it came from, so
that dev EER can be computed per clip (mean window log-odds) like evaluation does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from veracity.errors import ConfigError, DataError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WindowSet:
    """Windows ``[N, L]`` float32, targets ``[N]`` int64 and clip indices ``[N]`` int64."""

    waveforms: torch.Tensor
    targets: torch.Tensor
    clip_index: torch.Tensor

    def __post_init__(self) -> None:
        n = self.waveforms.shape[0]
        if self.waveforms.dim() != 2:
            raise DataError(
                f"windows must be a 2-D tensor [N, samples], got shape "
                f"{tuple(self.waveforms.shape)}; rebuild the features with `veracity features`"
            )
        if self.targets.shape != (n,) or self.clip_index.shape != (n,):
            raise DataError(
                f"targets {tuple(self.targets.shape)} and clip_index "
                f"{tuple(self.clip_index.shape)} must both have shape ({n},) like the windows"
            )

    def __len__(self) -> int:
        return int(self.waveforms.shape[0])

    def subset(self, index: torch.Tensor) -> WindowSet:
        """The rows ``index`` (in that order) as a new set."""
        return WindowSet(self.waveforms[index], self.targets[index], self.clip_index[index])

    def class_counts(self) -> tuple[int, int]:
        """(spoof windows, bonafide windows)."""
        bona = int(self.targets.sum())
        return len(self) - bona, bona


def window_set_from_split(split, split_name: str = "?") -> WindowSet:
    """Build a :class:`WindowSet` from a features-store ``SplitData``.

    Targets are looked up through ``clip_row`` in ``clips.target``; a split without
    windows or with a clip_row outside the clips table is a :class:`DataError`.
    """
    clips = split.clips
    clip_row = np.asarray(split.clip_row, dtype=np.int64)
    if len(clip_row) == 0:
        raise DataError(
            f"split {split_name!r} has no windows; the features step must produce at least "
            "one window per split (check the manifest's split column)"
        )
    if clip_row.min() < 0 or clip_row.max() >= len(clips):
        raise DataError(
            f"split {split_name!r}: clip_row spans [{clip_row.min()}, {clip_row.max()}] but "
            f"clips.parquet has {len(clips)} rows; re-run `veracity features`"
        )
    targets = clips["target"].to_numpy(dtype=np.int64)[clip_row]
    return WindowSet(
        waveforms=split.waveforms.float(),
        targets=torch.from_numpy(targets),
        clip_index=torch.from_numpy(clip_row),
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
