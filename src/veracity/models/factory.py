"""Build a detector by architecture name from the ``models`` section of params.yaml."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from torch import nn

from veracity.config import ModelsConfig, StorageConfig
from veracity.errors import ConfigError
from veracity.modalities.voice.detectors.aasist import AASIST
from veracity.modalities.voice.detectors.stage1 import Stage1Detector

log = logging.getLogger(__name__)

ARCHITECTURES = ("aasist", "aasist-l", "stage1")


def build_model(
    architecture: str, models_cfg: ModelsConfig, storage_cfg: StorageConfig | None = None
) -> nn.Module:
    """A freshly initialised detector: ``aasist``, ``aasist-l`` or ``stage1``.

    For ``stage1`` with ``models.stage1.pretrained`` set, the encoder weights are read
    from that local directory, or fetched from its s3:// URI with ``storage_cfg``
    (required then). The returned module carries ``model_config`` (a JSON-safe dict)
    from which :func:`build_from_config` rebuilds the same structure.
    """
    if architecture in ("aasist", "aasist-l"):
        section = models_cfg.aasist if architecture == "aasist" else models_cfg.aasist_l
        return build_from_config(architecture, section.model_dump(mode="json"))
    if architecture == "stage1":
        return _build_stage1(models_cfg, storage_cfg)
    raise ConfigError(f"unknown architecture {architecture!r}; expected one of {ARCHITECTURES}")


def build_from_config(architecture: str, model_config: dict[str, Any]) -> nn.Module:
    """Rebuild a detector's structure (random weights) from a saved ``model_config``."""
    if architecture in ("aasist", "aasist-l"):
        return AASIST.from_config(model_config)
    if architecture == "stage1":
        return Stage1Detector(model_config)
    raise ConfigError(f"unknown architecture {architecture!r}; expected one of {ARCHITECTURES}")


def _build_stage1(models_cfg: ModelsConfig, storage_cfg: StorageConfig | None) -> Stage1Detector:
    stage1_cfg = models_cfg.stage1
    uri = stage1_cfg.pretrained
    if not uri:
        log.info("stage1: no pretrained encoder configured, training a small one from scratch")
        return Stage1Detector.from_params(stage1_cfg)
    # the I/O of resolving the URI stays here, at the factory edge; the model sees a dir
    from veracity.storage import fetch_to_local, is_s3_uri

    if is_s3_uri(uri):
        if storage_cfg is None:
            raise ConfigError(
                f"models.stage1.pretrained is {uri!r} but no storage settings were given; "
                "pass cfg.storage to build_model"
            )
        # from_pretrained reads everything into memory, so the download can go afterwards
        with tempfile.TemporaryDirectory(prefix="veracity-w2v2-") as tmp:
            local = fetch_to_local(uri, Path(tmp), storage_cfg)
            return Stage1Detector.from_params(stage1_cfg, pretrained_dir=local)
    return Stage1Detector.from_params(stage1_cfg, pretrained_dir=Path(uri))
