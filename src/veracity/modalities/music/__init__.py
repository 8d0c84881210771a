"""The music modality: AI-generated vs human-composed music (seed 001, issue 12).

Built, not yet wired: it is not in ``veracity.modalities.MODALITIES`` until its params move
into params.yaml as a ``ModalityParams`` section and its pipeline, serving and demo are run
end to end (issue 12). ``load_modality("music", {"music": "veracity.modalities.music"})``
loads it for tests.

``MODALITY`` assembles this package's files behind the contract of
:mod:`veracity.modalities.base`: ``params`` (``modalities.music``), ``segments``
(decode + prepare: 16 kHz, 5 s segments, log-mel + waveform), ``detectors`` (CNN,
multi-task AE, AST + MLP, attention/concat hybrids), ``policy`` (song-level verdict),
``readers`` (seed 001 layout, CSV, SONICS), ``descriptors``, ``shifts`` and ``demo``.
"""

from veracity.modalities.base import ModalityPackage
from veracity.modalities.music.demo import generate
from veracity.modalities.music.descriptors import descriptor_columns
from veracity.modalities.music.detectors import detector_specs, rebuild_model
from veracity.modalities.music.params import MusicParams
from veracity.modalities.music.policy import decide, plan
from veracity.modalities.music.readers import READERS
from veracity.modalities.music.segments import decode, prepare

MODALITY = ModalityPackage(
    name="music",
    params_model=MusicParams,
    readers=READERS,
    detectors_fn=detector_specs,
    rebuild_fn=rebuild_model,
    decode_fn=decode,
    prepare_fn=prepare,
    plan_fn=plan,
    decide_fn=decide,
    descriptor_columns_fn=descriptor_columns,
    demo_fn=generate,
)

__all__ = ["MODALITY"]
