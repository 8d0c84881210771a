"""Media processing shared by every modality: decode, mono/resample, VAD, windows, log-mel.

Pure functions on arrays; what a modality makes of them lives in its own package. The
names below load on first use (PEP 562), so the light step images (ingest: decoding
only) import ``veracity.media.decode`` without the torch-based signal functions.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "compute_logmel": "veracity.media.spectral",
    "decode_audio": "veracity.media.decode",
    "load_waveform": "veracity.media.decode",
    "make_windows": "veracity.media.signal",
    "prepare_waveform": "veracity.media.signal",
    "trim_silence": "veracity.media.signal",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'veracity.media' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
