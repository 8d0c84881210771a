"""File names of the ASVspoof 2019 LA layout (shared by the reader and the demo writer)."""

from __future__ import annotations

SPLIT_LETTER = {"train": "T", "dev": "D", "eval": "E"}
PROTOCOL_DIR = "ASVspoof2019_LA_cm_protocols"
PROTOCOL_FILES = {
    "train": "ASVspoof2019.LA.cm.train.trn.txt",
    "dev": "ASVspoof2019.LA.cm.dev.trl.txt",
    "eval": "ASVspoof2019.LA.cm.eval.trl.txt",
}


def audio_dir(split: str) -> str:
    """Relative folder of a split's flac files: ``ASVspoof2019_LA_<split>/flac``."""
    return f"ASVspoof2019_LA_{split}/flac"
