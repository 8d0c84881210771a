"""The ``modalities.music`` section of the repository's params.yaml, for music tests.

Music params have no defaults in code (params.yaml is the one source of every number);
tests take this section and change what they need with :func:`replace`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from veracity.config import load_config

REPO = Path(__file__).resolve().parents[1]


@lru_cache(maxsize=1)
def music_params():
    """The typed ``modalities.music`` section of params.yaml."""
    return load_config(REPO / "params.yaml").modality_params("music")


def replace(section, **updates):
    """``section`` with fields replaced; a dict value updates that sub-section's fields."""
    changed = {}
    for key, value in updates.items():
        current = getattr(section, key)
        if isinstance(value, dict) and hasattr(current, "model_copy"):
            value = current.model_copy(update=value)
        changed[key] = value
    return section.model_copy(update=changed)
