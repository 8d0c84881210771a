"""The segment store: what the features step writes and training/evaluation stream back."""

from veracity.segment_store.store import (
    CLIPS_FILE,
    FEATURES_JSON,
    REFERENCE_FILE,
    SEGMENTS_DIR,
    ShardWriter,
    SplitReader,
    load_split,
    read_clips,
    read_features_json,
    robustness_split,
    split_dir,
)

__all__ = [
    "CLIPS_FILE",
    "FEATURES_JSON",
    "REFERENCE_FILE",
    "SEGMENTS_DIR",
    "ShardWriter",
    "SplitReader",
    "load_split",
    "robustness_split",
    "read_clips",
    "read_features_json",
    "split_dir",
]
