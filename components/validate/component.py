"""KFP component ``validate``: run the data-validation suite over the ingested manifest.

Thin adapter over :func:`veracity.stages.validate.run_validate`. A failed expectation
raises ``ValidationFailedError``: the task fails and the run stops here.
"""

# no `from __future__ import annotations`: KFP reads the real type annotations
from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Output


def validate(
    params_yaml: str,
    overrides: list,
    modality: str,
    step_overrides: list,
    corpus: Input[Dataset],
    validation: Output[Artifact],
    report: Output[HTML],
):
    """Validate ``corpus``'s manifest; the report becomes an HTML artifact.

    ``step_overrides`` (``validate.*``) reach only this step, so changing them re-runs
    validation without invalidating the cache of the other steps.
    """
    from pathlib import Path

    from veracity.orchestration.adapters import load_step_config, run_step, write_report
    from veracity.stages.validate import run_validate

    cfg = load_step_config(params_yaml, list(overrides) + list(step_overrides))
    out = Path(validation.path)
    manifest = Path(corpus.path) / "manifest.parquet"
    result = run_step("validate", out, lambda: run_validate(cfg, manifest, out, modality))
    validation.metadata["dataset_version"] = corpus.metadata.get("dataset_version", "")
    write_report(report, out, "Data validation", result)


def build(image: str):
    """The component, to run in ``image`` on a cluster (kfp is baked into the image)."""
    return dsl.component(validate, base_image=image, install_kfp_package=False)
