"""The music modality: AI-generated vs human-composed music (seed 001, issue 12).

``MODALITY`` assembles this package's files behind the contract of
:mod:`veracity.modalities.base`: ``params`` (``modalities.music``), ``segments``
(decode + prepare: 16 kHz, 5 s segments, log-mel + waveform), ``detectors`` (CNN,
multi-task AE, AST + MLP, attention/concat hybrids), ``policy`` (song-level verdict),
``readers`` (seed 001 layout, CSV, SONICS), ``descriptors``, ``shifts``, ``report``
(seed 001's Phase-5 evaluation) and ``demo``. Only ``params`` and ``readers`` load with
the package (no torch): the rest is imported on first use.
"""

from __future__ import annotations

from veracity.modalities.base import ModalityPackage, lazy
from veracity.modalities.music.params import MusicParams
from veracity.modalities.music.readers import READERS

_PKG = "veracity.modalities.music"

MODALITY = ModalityPackage(
    name="music",
    params_model=MusicParams,
    readers=READERS,
    detectors_fn=lazy(f"{_PKG}.detectors", "detector_specs"),
    rebuild_fn=lazy(f"{_PKG}.detectors", "rebuild_model"),
    decode_fn=lazy(f"{_PKG}.segments", "decode"),
    prepare_fn=lazy(f"{_PKG}.segments", "prepare"),
    plan_fn=lazy(f"{_PKG}.policy", "plan"),
    decide_fn=lazy(f"{_PKG}.policy", "decide"),
    descriptor_columns_fn=lazy(f"{_PKG}.descriptors", "descriptor_columns"),
    demo_fn=lazy(f"{_PKG}.demo", "generate"),
    fit_policy_fn=lazy(f"{_PKG}.policy", "fit_policy"),
    shift_fn=lazy(f"{_PKG}.shifts", "shift"),
    report_fn=lazy(f"{_PKG}.report_inputs", "report"),
    warm_imports=(
        f"{_PKG}.detectors",
        f"{_PKG}.segments",
        f"{_PKG}.policy",
        f"{_PKG}.report_inputs",
        # the AST branch imports transformers on first use (~6 s here)
        "transformers.models.audio_spectrogram_transformer.modeling_audio_spectrogram_transformer",
    ),
)

__all__ = ["MODALITY"]
