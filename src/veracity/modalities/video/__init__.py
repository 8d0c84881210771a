"""Video: audio-visual deepfakes (seed 002's Model Contract v1), the third modality.

Segments are 1 s windows (50 % overlap) of MTCNN-aligned face crops sampled at 5 FPS (10
for high resolution) with their audio second; the detector is a frame encoder + wav2vec2
audio encoder fused by cross-modal attention; the verdict has seed 002's reject option.
Only ``params`` and ``readers`` load with the package (no torch): the rest is imported on
first use.
"""

from __future__ import annotations

from veracity.modalities.base import ModalityPackage, lazy
from veracity.modalities.video.params import VideoParams
from veracity.modalities.video.readers import READERS

_PKG = "veracity.modalities.video"

MODALITY = ModalityPackage(
    name="video",
    params_model=VideoParams,
    readers=READERS,
    detectors_fn=lazy(f"{_PKG}.detectors", "detector_specs"),
    rebuild_fn=lazy(f"{_PKG}.detectors", "rebuild"),
    decode_fn=lazy(f"{_PKG}.segments", "decode"),
    prepare_fn=lazy(f"{_PKG}.segments", "prepare"),
    plan_fn=lazy(f"{_PKG}.policy", "plan"),
    decide_fn=lazy(f"{_PKG}.policy", "decide"),
    descriptor_columns_fn=lazy(f"{_PKG}.descriptors", "descriptor_columns"),
    demo_fn=lazy(f"{_PKG}.demo", "generate"),
    shift_fn=lazy(f"{_PKG}.shifts", "shift"),
    probe_fn=lazy(f"{_PKG}.readers", "probe"),
    report_fn=lazy(f"{_PKG}.report", "report"),
    check_fn=lazy(f"{_PKG}.readers", "check"),
    explain_rows_fn=lazy(f"{_PKG}.saliency", "explain_rows"),
    explain_fn=lazy(f"{_PKG}.saliency", "explain"),
    warm_imports=(f"{_PKG}.detectors", f"{_PKG}.segments", f"{_PKG}.policy", "timm"),
)
