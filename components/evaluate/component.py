"""KFP component ``evaluate``: every calibrated detector and the verdict on the eval split.

Thin adapter over :func:`veracity.stages.evaluate.run_evaluate`.
"""

# no `from __future__ import annotations`: KFP reads the real type annotations

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Markdown, Metrics, Output


def evaluate(
    params_yaml: str,
    overrides: list,
    modality: str,
    detectors: Input[Artifact],
    features: Input[Dataset],
    evaluation: Output[Artifact],
    metrics: Output[Metrics],
    report: Output[Markdown],
):
    """Metrics (EER, t-DCF, ECE, per attack) per detector, the verdict matrix, plots, report."""
    from pathlib import Path

    from veracity.orchestration.adapters import (
        load_step_config,
        run_step,
        write_metrics,
        write_report,
    )
    from veracity.stages.evaluate import run_evaluate

    cfg = load_step_config(params_yaml, overrides)
    out = Path(evaluation.path)
    dirs = [Path(detectors.path)]  # a detector set: one artifact dir per role
    result = run_step("evaluate", out, lambda: run_evaluate(cfg, dirs, Path(features.path), out))
    evaluation.metadata["dataset_version"] = features.metadata.get("dataset_version", "")
    write_metrics(metrics, result.get("metrics") or result)
    write_report(report, out, "Evaluation", result)


def build(image: str):
    """The component, to run in ``image`` on a cluster (kfp is baked into the image)."""
    return dsl.component(evaluate, base_image=image, install_kfp_package=False)
