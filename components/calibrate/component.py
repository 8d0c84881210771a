"""KFP component ``calibrate``: fit temperature scaling and the operating threshold on dev.

Thin adapter over :func:`veracity.stages.calibrate.run_calibrate`.
"""

# no `from __future__ import annotations`: KFP reads the real type annotations
from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output


def calibrate(
    params_yaml: str,
    overrides: list,
    modality: str,
    model: Input[Model],
    features: Input[Dataset],
    calibrated: Output[Model],
    metrics: Output[Metrics],
):
    """Write the calibrated artifact of ``model`` (adds calibration.json)."""
    from pathlib import Path

    from veracity.orchestration.adapters import load_step_config, run_step, write_metrics
    from veracity.stages.calibrate import run_calibrate

    cfg = load_step_config(params_yaml, overrides)
    out = Path(calibrated.path)
    result = run_step(
        "calibrate", out, lambda: run_calibrate(cfg, Path(model.path), Path(features.path), out)
    )
    for key in ("modality", "role", "architecture", "mlflow_run_id", "dataset_version"):
        calibrated.metadata[key] = model.metadata.get(key, "")
    write_metrics(metrics, result)


def build(image: str):
    """The component, to run in ``image`` on a cluster (kfp is baked into the image)."""
    return dsl.component(calibrate, base_image=image, install_kfp_package=False)
