"""A toy modality defined only under tests/: sine tones (human) vs square waves (AI).

It has the same files as every modality package and plugs into the platform through
params.yaml alone (``modality_packages: {toy: toy_modality}`` + ``modalities.toy``), which
proves the seam generic: no library code knows it exists.
"""

from __future__ import annotations

from toy_modality.demo import generate
from toy_modality.descriptors import descriptor_columns
from toy_modality.detectors import detector_specs, rebuild
from toy_modality.params import ToyParams
from toy_modality.policy import decide, plan
from toy_modality.readers import READERS
from toy_modality.segments import decode, prepare
from veracity.modalities.base import ModalityPackage

MODALITY = ModalityPackage(
    name="toy",
    params_model=ToyParams,
    readers=READERS,
    detectors_fn=detector_specs,
    rebuild_fn=rebuild,
    decode_fn=decode,
    prepare_fn=prepare,
    plan_fn=plan,
    decide_fn=decide,
    descriptor_columns_fn=descriptor_columns,
    demo_fn=generate,
)
