"""Session fixtures: features.

``tiny_features`` runs the real features step once per session on the tiny ingested
corpus (``tiny_ingested`` from fixtures_data.py) and returns the features dir.
``synthetic_corpus`` writes a small corpus of its own (flac files + manifest) for the
features tests that must mutate their input.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

SR = 16000


def harmonic(f0: float, seconds: float, sr: int = SR, n_harmonics: int = 5) -> np.ndarray:
    """A harmonic tone (a crude voiced vowel) at ``f0`` Hz, float32, peak about 0.5."""
    t = np.arange(round(seconds * sr)) / sr
    wave = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, n_harmonics + 1))
    return (0.3 * wave).astype(np.float32)


def write_synthetic_corpus(root: Path, seed: int = 0) -> Path:
    """Write a tiny corpus (flac files + manifest.parquet, DESIGN.md columns); return the manifest.

    Bonafide clips are harmonic tones with pauses, spoof clips noisier tones; durations
    cover short (repeat-padded) and long (several windows) clips, and one clip is 8 kHz
    stereo (resampled and mixed down by the features step).
    """
    rng = np.random.default_rng(seed)
    rows = []
    plan = [("train", 6), ("dev", 2), ("eval", 4)]
    for split, n in plan:
        for i in range(n):
            label = "bonafide" if i % 2 == 0 else "spoof"
            seconds = [1.0, 2.5, 6.0][i % 3]
            wave = harmonic(110 + 20 * i, seconds)
            wave[: SR // 4] = 0.0  # leading silence for the VAD to trim
            if label == "spoof":
                wave = wave + 0.05 * rng.standard_normal(wave.shape).astype(np.float32)
            sr, data = SR, wave
            if split == "train" and i == 1:
                sr = 8000
                mono = wave[::2]
                data = np.stack([mono, 0.5 * mono], axis=1)
            utt = f"{split}_{i:03d}"
            rel = f"audio/{split}/{utt}.flac"
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, data, sr)
            rows.append({
                "utt_id": utt, "path": rel, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                "modality": "voice", "label": label, "group": f"spk{i // 2}_{split}",
                "attack": "-" if label == "bonafide" else "A01", "split": split,
                "duration_s": seconds, "sample_rate": sr, "channels": 1 if data.ndim == 1 else 2,
                "source": "synthetic",
            })  # fmt: skip
    manifest = root / "manifest.parquet"
    pd.DataFrame(rows).to_parquet(manifest, index=False)
    return manifest


def manifest_of(ingested) -> Path:
    """The manifest path of whatever ``tiny_ingested`` returns (dir, file or result)."""
    for attr in ("manifest", "out", "corpus_dir"):
        if hasattr(ingested, attr):
            ingested = getattr(ingested, attr)
            break
    path = Path(ingested)
    return path / "manifest.parquet" if path.is_dir() else path


@pytest.fixture(scope="session")
def tiny_features_manifest(request, tmp_path_factory) -> Path:
    """Manifest featurized by ``tiny_features``: the tiny ingested corpus when available."""
    try:
        return manifest_of(request.getfixturevalue("tiny_ingested"))
    except pytest.FixtureLookupError:
        # fixtures_data.py does not define tiny_ingested yet: use a synthetic corpus.
        return write_synthetic_corpus(tmp_path_factory.mktemp("features-corpus"))


ROBUSTNESS_CLIPS = 8  # eval clips per deployment shift in tiny_features


@pytest.fixture(scope="session")
def tiny_features_cfg(cfg):
    """The config ``tiny_features`` was made with (a features run on it is a cache hit)."""
    from veracity.config import parse_config

    return parse_config(cfg.to_dict(), {"features.robustness_max_clips": ROBUSTNESS_CLIPS})


@pytest.fixture(scope="session")
def tiny_features(tiny_features_cfg, tiny_features_manifest, tmp_path_factory) -> Path:
    """The features dir of the tiny corpus, made by the real features step.

    Its robustness splits hold 8 of the 16 eval clips per shift (params: 24, i.e. all):
    every evaluate on these features scores each detector on all 5 shifted splits.
    """
    from veracity.stages.features import run_features

    out = tmp_path_factory.mktemp("tiny-features") / "features"
    run_features(tiny_features_cfg, tiny_features_manifest, out)
    return out


@pytest.fixture
def synthetic_corpus(tmp_path) -> Path:
    """A fresh synthetic corpus in tmp (for tests that modify their input); the manifest path."""
    return write_synthetic_corpus(tmp_path / "corpus")
