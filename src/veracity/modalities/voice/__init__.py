"""Voice: cloned and synthesized speech (ASVspoof-style corpora, seed 000 and seed 003).

Segments are 4.04 s waveform windows; detectors are a wav2vec2 stage 1 and AASIST; the
verdict is seed 003's cascade with seed 002's reject option. Only ``params`` and
``readers`` load with the package (no torch): the rest is imported on first use.
"""

from __future__ import annotations

from veracity.modalities.base import ModalityPackage, lazy
from veracity.modalities.voice.params import VoiceParams
from veracity.modalities.voice.readers import READERS

_PKG = "veracity.modalities.voice"

MODALITY = ModalityPackage(
    name="voice",
    params_model=VoiceParams,
    readers=READERS,
    detectors_fn=lazy(f"{_PKG}.detectors", "detector_specs"),
    rebuild_fn=lazy(f"{_PKG}.detectors", "rebuild"),
    decode_fn=lazy(f"{_PKG}.segments", "decode"),
    prepare_fn=lazy(f"{_PKG}.segments", "prepare"),
    plan_fn=lazy(f"{_PKG}.policy", "plan"),
    decide_fn=lazy(f"{_PKG}.policy", "decide"),
    descriptor_columns_fn=lazy(f"{_PKG}.descriptors", "descriptor_columns"),
    demo_fn=lazy(f"{_PKG}.demo", "generate"),
    fit_policy_fn=lazy(f"{_PKG}.human_features", "fit_human_features"),
    policy_diagnostics_fn=lazy(f"{_PKG}.human_features", "human_feature_diagnostics"),
    shift_fn=lazy(f"{_PKG}.shifts", "shift"),
    warm_imports=(f"{_PKG}.detectors", f"{_PKG}.segments", f"{_PKG}.policy"),
)
