"""Kubeflow Pipelines API client helpers: submit a one-off run, schedule the monthly run.

Both compile the pipeline from the current params (images from ``pipeline.*``) and pass
the params text as the ``params_yaml`` run parameter, so a cluster run reads the same
numbers as ``veracity pipeline run``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml

from veracity.config import Config
from veracity.errors import ConfigError

log = logging.getLogger(__name__)


def canonical_params(text: str) -> str:
    """params.yaml text without comments or layout, so editing a comment keeps the cache."""
    return yaml.safe_dump(yaml.safe_load(text), sort_keys=True)


def params_text(cfg: Config) -> str:
    """``cfg`` (overrides already applied) as params.yaml text for the ``params_yaml`` parameter."""
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)


#: Params sections read by one step only: their overrides go to that step alone, so
#: changing them keeps the other steps cached (tests/unit/test_pipeline_dvc.py checks
#: that no other step reads them).
STEP_SCOPED_SECTIONS = {"validate": "validate_overrides", "gate": "gate_overrides"}
#: A modality's gate bounds (``modalities.<m>.detectors.<role>.gate``,
#: ``modalities.<m>.verdict_gate``) are read by the gate step only, too: a tightened bound
#: re-runs the gate on the cached evaluation instead of retraining.
GATE_SCOPED_KEYS = re.compile(
    r"^modalities\.[^.=]+\.(?:detectors\.[^.=]+\.gate|verdict_gate)(?:[.=]|$)"
)


def split_overrides(overrides: list[str]) -> dict[str, list[str]]:
    """``{"overrides": [...], "validate_overrides": [...], "gate_overrides": [...]}``."""
    out: dict[str, list[str]] = {"overrides": [], **{v: [] for v in STEP_SCOPED_SECTIONS.values()}}
    for item in overrides:
        key = item.split("=", 1)[0].strip()
        section = "gate" if GATE_SCOPED_KEYS.match(key) else key.split(".", 1)[0]
        out[STEP_SCOPED_SECTIONS.get(section, "overrides")].append(item)
    return out


def run_arguments(
    cfg: Config,
    *,
    params_yaml: str | None = None,
    overrides: list[str] | None = None,
    source: str = "",
    fmt: str = "",
    data_version: str = "",
    model_name: str = "",
    summary_root: str = "",
) -> dict[str, Any]:
    """The pipeline's run parameters; ``params_yaml`` defaults to ``cfg`` itself."""
    return {
        "params_yaml": params_yaml if params_yaml is not None else params_text(cfg),
        **split_overrides(list(overrides or [])),
        "source": source or cfg.pipeline.source_uri,
        "fmt": fmt,
        "data_version": data_version,
        "model_name": model_name,
        "summary_root": summary_root,
    }


def check_cron(cron: str) -> str:
    """KFP wants 6 cron fields, seconds first (``0 0 3 1 * *`` = 03:00 on the 1st)."""
    fields = cron.split()
    if len(fields) != 6:
        raise ConfigError(
            f"cron {cron!r} has {len(fields)} fields; KFP needs 6 with seconds first, "
            "e.g. '0 0 3 1 * *' for 03:00 on the 1st of every month"
        )
    return " ".join(fields)


def _client(host: str, namespace: str | None = None):
    import warnings

    import kfp

    with warnings.catch_warnings():
        # kfp warns on every client that it needs KFP >= 2.0.0-beta.2; we require 2.x anyway
        warnings.filterwarnings("ignore", message="This client only works", category=FutureWarning)
        return kfp.Client(host=host, namespace=namespace or "kubeflow")


@contextlib.contextmanager
def _quiet_links():
    """kfp.Client prints UI links to stdout; log them instead (library code does not print)."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        yield
    for line in buf.getvalue().splitlines():
        log.info("kfp: %s", line)


def _compiled(modality: str, tmp: str) -> Path:
    from veracity.orchestration.compile import compile_pipeline

    return compile_pipeline(modality, Path(tmp) / f"retrain-{modality}.yaml")


def submit_run(
    cfg: Config, host: str, arguments: dict[str, Any] | None = None, modality: str | None = None
) -> str:
    """Start one run of a modality's pipeline on the KFP API at ``host``; returns the run id.

    ``arguments`` are run parameters (see :func:`run_arguments`); missing ones get
    their defaults, ``params_yaml`` the text of ``cfg``.
    """
    args = {**run_arguments(cfg), **(arguments or {})}
    client = _client(host)
    with tempfile.TemporaryDirectory() as tmp, _quiet_links():
        result = client.create_run_from_pipeline_package(
            str(_compiled(modality or cfg.modality, tmp)),
            arguments=args,
            experiment_name=cfg.pipeline.experiment,
            enable_caching=cfg.pipeline.enable_caching,
        )
    log.info("submitted run %s to %s", result.run_id, host)
    return result.run_id


def upload_pipeline(client, package: Path, name: str) -> tuple[str, str]:
    """Upload ``package`` as pipeline ``name`` (or a new version of it); (pipeline, version) ids."""
    digest = hashlib.sha256(package.read_bytes()).hexdigest()[:12]
    with _quiet_links():
        pipeline_id = client.get_pipeline_id(name)
        if pipeline_id is None:
            pipeline_id = client.upload_pipeline(str(package), pipeline_name=name).pipeline_id
            versions = client.list_pipeline_versions(pipeline_id).pipeline_versions or []
            if not versions:
                raise ConfigError(
                    f"KFP created pipeline {name} without a version; retry the upload"
                )
            return pipeline_id, versions[0].pipeline_version_id
        version = client.upload_pipeline_version(
            str(package), pipeline_version_name=f"{name}-{digest}", pipeline_id=pipeline_id
        )
    return pipeline_id, version.pipeline_version_id


def schedule_run(
    cfg: Config,
    host: str,
    cron: str | None = None,
    arguments: dict[str, Any] | None = None,
    modality: str | None = None,
) -> dict[str, str]:
    """Upload a modality's pipeline and create its recurring run (monthly, no catch-up)."""
    cron = check_cron(cron or cfg.pipeline.cron)
    args = {**run_arguments(cfg), **(arguments or {})}
    client = _client(host)
    modality = modality or cfg.modality
    name = f"{cfg.pipeline.name}-{modality}"
    with tempfile.TemporaryDirectory() as tmp:
        pipeline_id, version_id = upload_pipeline(client, _compiled(modality, tmp), name)
    with _quiet_links():
        experiment = client.create_experiment(cfg.pipeline.experiment)
        job = client.create_recurring_run(
            experiment_id=experiment.experiment_id,
            job_name=f"{name}-scheduled",
            description=f"Veracity retraining, cron {cron}",
            cron_expression=cron,
            max_concurrency=cfg.pipeline.max_concurrency,
            no_catchup=True,
            params=args,
            pipeline_id=pipeline_id,
            version_id=version_id,
            enable_caching=cfg.pipeline.enable_caching,
        )
    log.info("scheduled %s (%s) as recurring run %s", name, cron, job.recurring_run_id)
    return {
        "recurring_run_id": job.recurring_run_id,
        "pipeline_id": pipeline_id,
        "version_id": version_id,
        "experiment_id": experiment.experiment_id,
        "cron": cron,
    }
