"""The features dir on disk: clips table, per-split window tensors, monitoring reference.

Layout (docs/features.md)::

    features.json               step result: dataset version, cache key, counts, shapes
    clips.parquet               one row per clip (all splits), hand-crafted columns
    windows/<split>.safetensors waveform [Nw, L], clip_row [Nw], start_sample [Nw], logmel
    reference_profile.parquet   MONITORING_COLUMNS of the train and eval clips

Tensors are safetensors (never pickle); ``clip_row`` on disk is the row in clips.parquet.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from veracity.errors import DataError, InputError

log = logging.getLogger(__name__)

FEATURES_JSON = "features.json"
CLIPS_FILE = "clips.parquet"
WINDOWS_DIR = "windows"
REFERENCE_FILE = "reference_profile.parquet"
_SPLIT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass
class SplitData:
    """One split of a features dir, ready for training or scoring.

    ``clips`` holds only this split's rows (index reset to 0..n-1) and ``clip_row[i]`` is
    the position in ``clips`` of window ``i``, so ``clips.iloc[clip_row]`` gives each
    window's clip. ``waveforms`` [Nw, L] and ``logmel`` [Nw, n_mels, frames] are float32;
    ``start_sample`` [Nw] is each window's first sample in its (16 kHz) clip.
    """

    clips: pd.DataFrame
    waveforms: torch.Tensor
    clip_row: np.ndarray
    logmel: torch.Tensor
    start_sample: np.ndarray

    @property
    def targets(self) -> np.ndarray:
        """Per-window target (1 bonafide, 0 spoof)."""
        return self.clips["target"].to_numpy()[self.clip_row]


def _check_split(split: str) -> str:
    if not isinstance(split, str) or not _SPLIT_NAME.match(split):
        raise InputError(
            f"expected a split name of letters, digits, '_' or '-' (e.g. train), got {split!r}"
        )
    return split


def windows_path(features_dir: Path, split: str) -> Path:
    """Path of a split's window tensors inside ``features_dir``."""
    return Path(features_dir) / WINDOWS_DIR / f"{_check_split(split)}.safetensors"


def write_split(
    features_dir: Path,
    split: str,
    waveforms: torch.Tensor,
    clip_row: np.ndarray,
    start_sample: np.ndarray,
    logmel: torch.Tensor,
) -> Path:
    """Write one split's window tensors (dtype as given) and return the file path."""
    path = windows_path(features_dir, split)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {
        "waveform": waveforms.contiguous(),
        "clip_row": torch.as_tensor(clip_row, dtype=torch.int64),
        "start_sample": torch.as_tensor(start_sample, dtype=torch.int64),
        "logmel": logmel.contiguous(),
    }
    save_file(tensors, str(path), metadata={"split": split})
    return path


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


def load_split(features_dir: Path, split: str) -> SplitData:
    """Load one split's clips and window tensors (waveforms and log-mel as float32)."""
    clips = read_clips(features_dir)
    path = windows_path(features_dir, split)
    if not path.is_file():
        present = sorted(p.stem for p in (Path(features_dir) / WINDOWS_DIR).glob("*.safetensors"))
        raise DataError(
            f"expected split {split!r} in the features dir {features_dir}, found only "
            f"{present}; check the split name or the manifest's split column"
        )
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise DataError(
            f"{path} is not a readable safetensors file ({exc}); re-run features"
        ) from exc
    global_rows = tensors["clip_row"].numpy()
    rows = np.flatnonzero(clips["split"].to_numpy() == split)
    # Map rows of clips.parquet to positions within this split's table.
    position = np.full(len(clips), -1, dtype=np.int64)
    position[rows] = np.arange(rows.shape[0])
    local = position[global_rows]
    if (local < 0).any():
        raise DataError(f"{path} refers to clips outside split {split!r}; re-run features")
    return SplitData(
        clips=clips.iloc[rows].reset_index(drop=True),
        waveforms=tensors["waveform"].to(torch.float32),
        clip_row=local,
        logmel=tensors["logmel"].to(torch.float32),
        start_sample=tensors["start_sample"].numpy(),
    )
