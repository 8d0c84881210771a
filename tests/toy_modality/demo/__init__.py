"""Toy demo corpus: sine tones (bonafide) and square waves (spoof) with a corpus.csv."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import soundfile as sf

SPLITS = ("train", "dev", "eval")


def generate(out: Path, size: str, seed: int, params) -> Path:
    out = Path(out)
    rng = np.random.default_rng(seed)
    sr = params.segments.sample_rate
    n = params.demo.sizes[size]
    rows = []
    for split in SPLITS:
        for i in range(n):
            for label in ("bonafide", "spoof"):
                f0 = rng.uniform(150, 600)
                t = np.arange(int(params.demo.seconds * sr)) / sr
                wave = np.sin(2 * np.pi * f0 * t + rng.uniform(0, 6.28))
                if label == "spoof":
                    wave = np.sign(wave)
                wave = (rng.uniform(0.1, 0.5) * wave).astype(np.float32)
                rel = f"{split}/{label}_{i:03d}.wav"
                (out / split).mkdir(parents=True, exist_ok=True)
                sf.write(out / rel, wave, sr)
                rows.append({
                    "path": rel, "label": label, "group": f"{split}-g{i}",
                    "attack": "-" if label == "bonafide" else "SQ", "split": split,
                    "utt_id": f"{split}_{label}_{i:03d}", "modality": "toy",
                })  # fmt: skip
    with open(out / "corpus.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out
