"""The segment store: round trip of sharded segment tensors and clear errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from veracity.errors import DataError, InputError
from veracity.segment_store import (
    CLIPS_FILE,
    FEATURES_JSON,
    ShardWriter,
    load_split,
    read_clips,
    split_dir,
)


@pytest.fixture
def store(tmp_path):
    clips = pd.DataFrame({
        "utt_id": ["a", "b", "c", "d"], "split": ["train", "eval", "train", "eval"],
        "target": [1, 0, 0, 1],
    })  # fmt: skip
    clips.to_parquet(tmp_path / CLIPS_FILE, index=False)
    (tmp_path / FEATURES_JSON).write_text(json.dumps({"counts": {}}))
    wave = torch.arange(3 * 8, dtype=torch.float32).reshape(3, 8) / 100
    logmel = np.ones((3, 2, 5), dtype=np.float32)
    # two segments per shard: clip a's two segments fill shard 0, clip c's one goes to shard 1
    writer = ShardWriter(tmp_path, "train", shard_segments=2, dtype=torch.float16)
    writer.add(0, {"waveform": wave[:2].numpy(), "logmel": logmel[:2]}, [0.0, 0.25], [0.5, 0.75])
    writer.add(2, {"waveform": wave[2:].numpy(), "logmel": logmel[2:]}, [0.0], [0.5])
    assert writer.close() == 3 and writer.shards == 2
    return tmp_path, wave


def test_load_split_maps_windows_to_the_split_rows(store):
    path, wave = store
    data = load_split(path, "train")
    assert data.clips["utt_id"].tolist() == ["a", "c"]
    assert data.clip_row.tolist() == [0, 0, 1]
    assert data.targets.tolist() == [1, 1, 0]
    assert len(data) == 3 and set(data.input_names) == {"waveform", "logmel"}
    assert len(list(split_dir(path, "train").glob("shard-*.safetensors"))) == 2
    inputs = data.read(np.arange(3))
    assert inputs["waveform"].dtype == torch.float32 and inputs["logmel"].dtype == torch.float32
    assert inputs["logmel"].shape == (3, 2, 5)
    torch.testing.assert_close(inputs["waveform"], wave.half().float())
    # rows across shards, in the order asked, and only the inputs named
    picked = data.read([2, 0], ("waveform",))
    assert set(picked) == {"waveform"}
    torch.testing.assert_close(picked["waveform"], wave.half().float()[[2, 0]])
    chunks = list(data.chunks(2, ("waveform",)))
    assert [start for start, _ in chunks] == [0, 2]
    torch.testing.assert_close(torch.cat([c["waveform"] for _, c in chunks]), wave.half().float())
    assert data.start_s.tolist() == [0.0, 0.25, 0.0]
    assert data.end_s.tolist() == [0.5, 0.75, 0.5]
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


def test_rows_outside_the_split_are_an_input_error(store):
    path, _ = store
    with pytest.raises(InputError, match=r"\[0, 3\)"):
        load_split(path, "train").read([3])


def test_missing_features_dir_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="veracity features"):
        read_clips(tmp_path / "nope")
