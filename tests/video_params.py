"""The ``modalities.video`` section of the repository's params.yaml, for video tests.

Video params have no defaults in code (params.yaml is the one source of every number);
tests take a fresh copy of the raw section (to change what they need) or the typed one.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


@lru_cache(maxsize=1)
def _raw() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())["modalities"]["video"]


def video_params_raw() -> dict:
    """A fresh copy of the raw ``modalities.video`` mapping of params.yaml."""
    return copy.deepcopy(_raw())
