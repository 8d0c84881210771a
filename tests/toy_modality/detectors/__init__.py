"""The toy's one detector role: a spectral MLP."""

from __future__ import annotations

from toy_modality.detectors.spectral_mlp import SpectralMLP
from veracity.modalities.base import DetectorSpec


def _build(params, storage_cfg=None):
    return SpectralMLP({"samples": params.segments.segment_samples, "hidden": params.hidden})


def rebuild(architecture: str, model_config: dict):
    return SpectralMLP(model_config)


def detector_specs(params) -> list[DetectorSpec]:
    return [DetectorSpec(role="tone", inputs=("wave",), build=_build)]
