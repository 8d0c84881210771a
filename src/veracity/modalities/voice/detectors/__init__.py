"""Voice detectors: the wav2vec2 stage 1 and AASIST / AASIST-L, as DetectorSpecs.

One architecture per file (``stage1.py``, ``aasist.py``; ``aasist_fast.py`` is AASIST's
serving form). Roles come from ``modalities.voice.detectors`` in params.yaml, in the order
the policy consults them.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import torch
from torch import nn

from veracity.errors import ConfigError
from veracity.modalities.base import DetectorSpec
from veracity.modalities.voice.params import ARCHITECTURES, VoiceParams
from veracity.modalities.voice.segments import WAVEFORM
from veracity.training.augment import augment_batch, random_crop

log = logging.getLogger(__name__)


def build_architecture(architecture: str, params: VoiceParams, storage_cfg=None) -> nn.Module:
    """A freshly initialised ``stage1``, ``aasist`` or ``aasist-l`` from the voice params."""
    # imported per branch: stage 1 pulls in transformers (tens of seconds on a busy CPU)
    if architecture in ("aasist", "aasist-l"):
        from veracity.modalities.voice.detectors.aasist import AASIST
        from veracity.modalities.voice.detectors.aasist_pretrained import load_pretrained

        section = params.architecture_config(architecture)
        # the input length is the window length, stated once (segments.window_samples)
        model = AASIST.from_config(
            {**section.model_dump(mode="json"), "nb_samp": params.segments.window_samples}
        )
        if section.pretrained:
            load_pretrained(model, section.pretrained, section.variant, storage_cfg)
        elif section.freeze_frontend:
            log.warning(
                "%s: freeze_frontend without pretrained weights: a random front end", architecture
            )
        return model
    if architecture == "stage1":
        from veracity.modalities.voice.detectors.stage1 import Stage1Detector

        return Stage1Detector.from_params(params.models.stage1, storage_cfg)
    raise ConfigError(
        f"unknown voice architecture {architecture!r}; expected one of {ARCHITECTURES}"
    )


def rebuild(architecture: str, model_config: dict[str, Any]) -> nn.Module:
    """The structure (random weights) of a saved voice detector from its ``model_config``."""
    from veracity.modalities.voice.detectors.aasist import AASIST
    from veracity.modalities.voice.detectors.stage1 import Stage1Detector

    if architecture in ("aasist", "aasist-l"):
        return AASIST.from_config(model_config)
    if architecture == "stage1":
        return Stage1Detector(model_config)
    raise ConfigError(
        f"unknown voice architecture {architecture!r}; expected one of {ARCHITECTURES}"
    )


def _augment(
    batch: dict[str, torch.Tensor], generator: torch.Generator, *, crop: int, params: VoiceParams
) -> dict[str, torch.Tensor]:
    """Random excerpts (``training.crop_samples``), then noise / gain / band-limiting."""
    waves = random_crop(batch[WAVEFORM], crop, generator)
    waves = augment_batch(waves, params.augment, generator, params.segments.sample_rate)
    return {**batch, WAVEFORM: waves}


def _optimize(model: nn.Module, params: VoiceParams) -> nn.Module:
    """AASIST's fused serving forward, with the allocator setting it was measured with."""
    from veracity.allocator import tune_allocator
    from veracity.modalities.voice.detectors.aasist_fast import optimize_for_inference

    # benchmarks/bench_aasist.py: keep large activations in the heap between forwards
    tune_allocator(params.fastpath.malloc_trim_threshold)
    return optimize_for_inference(model, params.fastpath)


def detector_specs(params: VoiceParams) -> list[DetectorSpec]:
    """One spec per role of ``modalities.voice.detectors``, in the policy's order."""
    specs = []
    first = next(iter(params.detectors))
    for role, det in params.detectors.items():
        if det.architecture not in ARCHITECTURES:
            raise ConfigError(
                f"modalities.voice.detectors.{role}.architecture is {det.architecture!r}; "
                f"expected one of {ARCHITECTURES}"
            )
        augment, precompute = _training_hooks(det, params)
        specs.append(
            DetectorSpec(
                role=role,
                inputs=(WAVEFORM,),
                build=partial(_build_role, det.architecture),
                augment=augment,
                optimize=_optimize,
                depends_on=() if role == first else (first,),
                required=det.required,
                precompute=precompute,
            )
        )
    return specs


def _training_hooks(det, params: VoiceParams):
    """``(augment, precompute)`` of a role: waveform crops + noise, or, for an AASIST with a
    frozen front end, its maps computed once and cropped in time (aasist_pretrained.py)."""
    crop = det.training.crop_samples
    if (
        det.architecture == "stage1"
        or not params.architecture_config(det.architecture).freeze_frontend
    ):
        return partial(_augment, crop=crop, params=params), None
    from veracity.modalities.voice.detectors.aasist_pretrained import (
        augment_frontend,
        precompute_frontend,
    )

    fraction = crop / params.segments.window_samples if crop else 0.0
    return (
        partial(augment_frontend, crop_fraction=fraction),
        partial(precompute_frontend, tile_columns=params.fastpath.tile_columns),
    )


def _build_role(architecture: str, params: VoiceParams, storage_cfg=None) -> nn.Module:
    return build_architecture(architecture, params, storage_cfg)
