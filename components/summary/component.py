"""KFP exit-handler component ``summarize_run``: the run summary, even when a step failed.

Runs after every other task (``dsl.ExitHandler``). It reads the records the steps wrote
under this job's outputs (their ``<step>.json`` and ``<step>.error.json``), adds the
run's status, dataset version, params fingerprint and registry facts, and writes
``summary.json`` + ``summary.md`` to ``<summary_root>/<job>/`` (local dir or s3://).
"""

# no `from __future__ import annotations`: KFP reads the real type annotations
from kfp import dsl
from kfp.dsl import Markdown, Output, PipelineTaskFinalStatus


def summarize_run(
    status: PipelineTaskFinalStatus,
    params_yaml: str,
    overrides: list,
    modality: str,
    validate_overrides: list,
    gate_overrides: list,
    source: str,
    data_version: str,
    model_name: str,
    summary_root: str,
    pipeline_root: str,
    job_name: str,
    summary: Output[Markdown],
):
    """Write the run summary of ``job_name``."""
    from veracity.orchestration.summary import build_summary, format_summary, save_summary

    data = build_summary(
        state=status.state,
        error=status.error_message or "",
        params_yaml=params_yaml,
        overrides=list(overrides) + list(validate_overrides) + list(gate_overrides),
        source=source,
        data_version=data_version,
        model_name=model_name,
        records_uri=f"{pipeline_root.rstrip('/')}/{job_name}",
        run_id=job_name,
        modality=modality,
    )
    text = format_summary(data)
    with open(summary.path, "w") as fh:
        fh.write(text)
    if summary_root:
        save_summary(data, text, f"{summary_root.rstrip('/')}/{job_name}", params_yaml)


def build(image: str):
    """The exit-handler component, to run in ``image`` on a cluster."""
    return dsl.component(summarize_run, base_image=image, install_kfp_package=False)
