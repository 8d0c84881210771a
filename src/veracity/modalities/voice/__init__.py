"""Voice: cloned and synthesized speech (ASVspoof-style corpora, seed 000 and seed 003).

Segments are 4.04 s waveform windows; detectors are a wav2vec2 stage 1 and AASIST; the
verdict is seed 003's cascade with seed 002's reject option.
"""

from __future__ import annotations

from pathlib import Path

from veracity.modalities.base import ModalityPackage
from veracity.modalities.voice.descriptors import DESCRIPTOR_COLUMNS
from veracity.modalities.voice.detectors import detector_specs, rebuild
from veracity.modalities.voice.human_features import fit_human_features, human_feature_diagnostics
from veracity.modalities.voice.params import VoiceParams
from veracity.modalities.voice.policy import decide, plan
from veracity.modalities.voice.readers import READERS
from veracity.modalities.voice.segments import decode, prepare
from veracity.modalities.voice.shifts import shift


def _descriptor_columns(params: VoiceParams) -> tuple[str, ...]:
    return DESCRIPTOR_COLUMNS


def _generate_demo(out: Path, size: str, seed: int, params: VoiceParams) -> Path:
    from veracity.modalities.voice.demo import generate_demo_corpus

    return generate_demo_corpus(out, size, seed, params.demo, params.segments.sample_rate)


MODALITY = ModalityPackage(
    name="voice",
    params_model=VoiceParams,
    readers=READERS,
    detectors_fn=detector_specs,
    rebuild_fn=rebuild,
    decode_fn=decode,
    prepare_fn=prepare,
    plan_fn=plan,
    decide_fn=decide,
    descriptor_columns_fn=_descriptor_columns,
    demo_fn=_generate_demo,
    fit_policy_fn=fit_human_features,
    policy_diagnostics_fn=human_feature_diagnostics,
    shift_fn=shift,
)
