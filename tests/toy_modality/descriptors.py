"""Toy descriptors (monitoring columns)."""

from __future__ import annotations

import numpy as np

COLUMNS = ("rms_db", "zero_cross_rate", "duration_s", "sample_rate")


def descriptor_columns(params) -> tuple[str, ...]:
    return COLUMNS


def describe(mono: np.ndarray, sr: int, source_sr: int) -> dict[str, float]:
    rms = float(np.sqrt(np.mean(mono**2)) + 1e-12)
    zcr = float(np.mean(np.abs(np.diff(np.sign(mono))) > 0))
    return {
        "rms_db": 20 * np.log10(rms),
        "zero_cross_rate": zcr,
        "duration_s": len(mono) / sr,
        "sample_rate": float(source_sr),
    }
