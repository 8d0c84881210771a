"""KFP component ``train``: train the detector of one role of a modality and track it.

Thin adapter over :func:`veracity.stages.train.run_train`; the pipeline runs one per role
and gives them a GPU on the cluster. ``train_on`` trains a role built on others
(``trains_on``) from the detector set of the loop before.
"""

# no `from __future__ import annotations`: KFP reads the real type annotations
from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output


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

    from veracity.orchestration.adapters import load_step_config, record_model, run_step
    from veracity.stages.train import run_train

    cfg = load_step_config(params_yaml, overrides)
    out = Path(model.path)
    result = run_step(
        "train", out, lambda: run_train(cfg, Path(features.path), role, out, modality)
    )
    return record_model(result, model, metrics, features, modality, role)


def train_on(
    params_yaml: str,
    overrides: list,
    modality: str,
    features: Input[Dataset],
    role: str,
    upstream: Input[Artifact],
    model: Output[Model],
    metrics: Output[Metrics],
) -> str:
    """Train ``role``, built on the trained models of the detector set ``upstream``."""
    from pathlib import Path

    from veracity.orchestration.adapters import load_step_config, record_model, run_step
    from veracity.stages.train import run_train

    cfg = load_step_config(params_yaml, overrides)
    out = Path(model.path)
    base = [Path(upstream.path)]
    result = run_step(
        "train", out, lambda: run_train(cfg, Path(features.path), role, out, modality, base)
    )
    return record_model(result, model, metrics, features, modality, role)


def build(image: str):
    """The component, to run in ``image`` on a cluster (kfp is baked into the image)."""
    return dsl.component(train, base_image=image, install_kfp_package=False)


def build_on(image: str):
    """``train_on`` (same image as train)."""
    return dsl.component(train_on, base_image=image, install_kfp_package=False)
