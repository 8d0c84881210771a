"""The features store: what the features step writes and training/evaluation read."""

from veracity.features.store import (
    CLIPS_FILE,
    FEATURES_JSON,
    REFERENCE_FILE,
    WINDOWS_DIR,
    SplitData,
    load_split,
    read_clips,
    read_features_json,
    windows_path,
    write_split,
)

__all__ = [
    "CLIPS_FILE",
    "FEATURES_JSON",
    "REFERENCE_FILE",
    "WINDOWS_DIR",
    "SplitData",
    "load_split",
    "read_clips",
    "read_features_json",
    "windows_path",
    "write_split",
]
