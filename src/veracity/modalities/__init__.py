"""The modalities Veracity detects, listed in one explicit dict (no import-time registry).

``MODALITIES`` maps a modality name to its package; a package is imported only when that
modality is used. Out-of-tree modalities (a plug-in, or the toy modality of the tests) are
named in params.yaml ``modality_packages: {name: dotted.module}`` and passed in as
``extra``; a name is never resolved from a model bundle, only from these two places.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from veracity.errors import ConfigError
from veracity.modalities.base import Modality

MODALITIES: dict[str, str] = {
    "voice": "veracity.modalities.voice",
    "music": "veracity.modalities.music",
    "video": "veracity.modalities.video",
}


def load_modality(name: str, extra: Mapping[str, str] | None = None) -> Modality:
    """The ``MODALITY`` object of modality ``name`` (built-in or from ``extra``)."""
    packages = {**MODALITIES, **(extra or {})}
    if name not in packages:
        raise ConfigError(
            f"expected a modality in {sorted(packages)}, got {name!r}; set --modality or "
            "`modality:` in params.yaml (out-of-tree modalities go in modality_packages)"
        )
    try:
        module = importlib.import_module(packages[name])
    except ImportError as exc:
        raise ConfigError(
            f"modality {name!r}: cannot import its package {packages[name]!r} ({exc}); "
            "check modality_packages in params.yaml and that the package is installed"
        ) from exc
    modality = getattr(module, "MODALITY", None)
    if modality is None or getattr(modality, "name", None) != name:
        raise ConfigError(
            f"modality package {packages[name]!r} must define MODALITY with name {name!r}"
        )
    return modality
