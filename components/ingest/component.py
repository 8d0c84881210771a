"""KFP component ``ingest``: copy a corpus into a versioned corpus dir and write its manifest.

Thin adapter over :func:`veracity.stages.ingest.run_ingest`; the body imports veracity
inside because a lightweight component is executed from its source.
"""

# no `from __future__ import annotations`: KFP reads the real type annotations
from kfp import dsl
from kfp.dsl import Dataset, Markdown, Output


def ingest(
    params_yaml: str,
    overrides: list,
    modality: str,
    source: str,
    fmt: str,
    data_version: str,
    corpus: Output[Dataset],
    report: Output[Markdown],
) -> str:
    """Ingest ``source`` (local dir or s3://); returns the dataset version it recorded."""
    from pathlib import Path

    from veracity.errors import ConfigError
    from veracity.orchestration.adapters import find_value, load_step_config, run_step, write_report
    from veracity.stages.ingest import run_ingest

    cfg = load_step_config(params_yaml, overrides)
    source = source or cfg.pipeline.source_uri
    if not source:
        raise ConfigError(
            "no corpus to ingest: the pipeline parameter source and params pipeline.source_uri "
            "are both empty; pass --source DIR|s3://... or set pipeline.source_uri"
        )
    out = Path(corpus.path)
    result = run_step(
        "ingest", out, lambda: run_ingest(cfg, source, fmt or None, out, modality=modality)
    )
    version = str(find_value(result, "dataset_version") or data_version)
    corpus.metadata["dataset_version"] = version
    corpus.metadata["requested_data_version"] = data_version
    corpus.metadata["source"] = source
    write_report(report, out, "Ingest report", result)
    return version


def build(image: str):
    """The component, to run in ``image`` on a cluster (kfp is baked into the image)."""
    return dsl.component(ingest, base_image=image, install_kfp_package=False)
