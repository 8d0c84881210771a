"""The features store: round trip of window tensors and clear errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from veracity.errors import DataError, InputError
from veracity.segment_store import CLIPS_FILE, FEATURES_JSON, load_split, read_clips, write_split


@pytest.fixture
def store(tmp_path):
    clips = pd.DataFrame({
        "utt_id": ["a", "b", "c", "d"], "split": ["train", "eval", "train", "eval"],
        "target": [1, 0, 0, 1],
    })  # fmt: skip
    clips.to_parquet(tmp_path / CLIPS_FILE, index=False)
    (tmp_path / FEATURES_JSON).write_text(json.dumps({"counts": {}}))
    wave = torch.arange(3 * 8, dtype=torch.float32).reshape(3, 8) / 100
    write_split(tmp_path, "train", wave.half(), np.array([0, 0, 2]), np.array([0, 4, 0]),
                torch.ones(3, 2, 5).half())  # fmt: skip
    return tmp_path, wave


def test_load_split_maps_windows_to_the_split_rows(store):
    path, wave = store
    data = load_split(path, "train")
    assert data.clips["utt_id"].tolist() == ["a", "c"]
    assert data.clip_row.tolist() == [0, 0, 1]
    assert data.targets.tolist() == [1, 1, 0]
    assert data.waveforms.dtype == torch.float32 and data.logmel.dtype == torch.float32
    torch.testing.assert_close(data.waveforms, wave.half().float())
    assert data.start_sample.tolist() == [0, 4, 0]
    assert len(read_clips(path)) == 4


def test_missing_split_names_the_present_ones(store):
    path, _ = store
    with pytest.raises(DataError, match=r"\['train'\]"):
        load_split(path, "dev")


@pytest.mark.parametrize("split", ["../train", "a/b", ""])
def test_split_names_cannot_escape_the_dir(store, split):
    path, _ = store
    with pytest.raises(InputError):
        load_split(path, split)


def test_missing_features_dir_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="veracity features"):
        read_clips(tmp_path / "nope")
