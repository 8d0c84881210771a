"""KFP component ``train``: train the detector of one role of a modality and track it.

Thin adapter over :func:`veracity.stages.train.run_train`; the pipeline runs one per role
and gives them a GPU on the cluster.
"""

# no `from __future__ import annotations`: KFP reads the real type annotations
from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output


def train(
    params_yaml: str,
    overrides: list,
    modality: str,
    features: Input[Dataset],
    role: str,
    model: Output[Model],
    metrics: Output[Metrics],
) -> str:
    """Train the ``role`` detector of ``modality`` on ``features``; returns the MLflow run id."""
    from pathlib import Path

    from veracity.orchestration.adapters import (
        find_value,
        load_step_config,
        run_step,
        write_metrics,
    )
    from veracity.stages.train import run_train

    cfg = load_step_config(params_yaml, overrides)
    out = Path(model.path)
    result = run_step(
        "train", out, lambda: run_train(cfg, Path(features.path), role, out, modality)
    )
    run_id = str(find_value(result, "mlflow_run_id") or "")
    model.metadata["modality"] = modality
    model.metadata["role"] = role
    model.metadata["architecture"] = str(find_value(result, "architecture") or "")
    model.metadata["mlflow_run_id"] = run_id
    model.metadata["dataset_version"] = features.metadata.get("dataset_version", "")
    write_metrics(metrics, result.get("metrics") or result)
    return run_id


def build(image: str):
    """The component, to run in ``image`` on a cluster (kfp is baked into the image)."""
    return dsl.component(train, base_image=image, install_kfp_package=False)
