"""KFP component ``calibrate``: fit temperature scaling and the operating threshold on dev.

Thin adapter over :func:`veracity.stages.calibrate.run_calibrate`. ``collect`` and
``extend`` gather the calibrated models of a role loop into one detector set (a
directory ``<role>/``): the next loop's roles train on it, evaluate and the gate read it.
"""

# no `from __future__ import annotations`: KFP reads the real type annotations
from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output


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


def collect(models: Input[list[Model]], detectors: Output[Artifact]) -> str:
    """The calibrated ``models`` of a role loop as one detector set; returns its roles."""
    from veracity.models.detector_set import collect_detectors

    roles = collect_detectors([m.path for m in models], detectors.path)
    detectors.metadata["roles"] = roles
    return ",".join(roles)


def extend(base: Input[Artifact], models: Input[list[Model]], detectors: Output[Artifact]) -> str:
    """The detector set ``base`` plus the calibrated ``models`` of a later role loop."""
    from veracity.models.detector_set import collect_detectors

    roles = collect_detectors([base.path] + [m.path for m in models], detectors.path)
    detectors.metadata["roles"] = roles
    return ",".join(roles)


def build(image: str):
    """The component, to run in ``image`` on a cluster (kfp is baked into the image)."""
    return dsl.component(calibrate, base_image=image, install_kfp_package=False)


def build_collect(image: str):
    """``collect`` (same image as calibrate)."""
    return dsl.component(collect, base_image=image, install_kfp_package=False)


def build_extend(image: str):
    """``extend`` (same image as calibrate)."""
    return dsl.component(extend, base_image=image, install_kfp_package=False)
