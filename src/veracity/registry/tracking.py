"""MLflow experiment tracking: where runs go, and what every run records.

``configure_tracking`` points MLflow at ``tracking.uri`` (a tracking server such as
``http://mlflow:5000``) or, when that is empty, at a local SQLite store
``sqlite:///<cwd>/mlruns.db`` whose artifacts live under ``./mlartifacts``. The helpers
log a resolved config as flat params, the reproducibility tags (git commit, dataset
version) and metric dicts. Models are logged as plain artifact directories
(safetensors + JSON), never through ``mlflow.pytorch.log_model`` (which pickles or
torch-exports with frozen input shapes).
"""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlflow
from mlflow.tracking import MlflowClient

from veracity.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_DB = "mlruns.db"
DEFAULT_ARTIFACT_ROOT = "mlartifacts"
TAG_GIT_COMMIT = "git_commit"
TAG_DATASET_VERSION = "dataset_version"
# MLflow shows this standard tag as the run's source version in its UI.
TAG_MLFLOW_COMMIT = "mlflow.source.git.commit"


def resolve_tracking_uri(uri: str, base_dir: Path | None = None) -> str:
    """``uri`` as given, or the local default ``sqlite:///<abs base_dir>/mlruns.db``."""
    if uri:
        return uri
    base = (base_dir or Path.cwd()).resolve()
    return f"sqlite:///{base / DEFAULT_DB}"


def configure_tracking(
    cfg,
    tracking_uri: str | None = None,
    artifact_root: str | Path | None = None,
) -> str:
    """Point MLflow at the configured store and select the experiment; returns the URI.

    ``tracking_uri``/``artifact_root`` override ``cfg.tracking.uri``/``artifact_root``
    (tests pass a tmp dir). For a local store the experiment is created with its
    artifacts under ``artifact_root`` (default ``./mlartifacts``); a tracking server
    decides its own artifact location. (Telemetry is turned off by every entry point:
    :func:`veracity.logs.configure_logging`.)
    """
    uri = resolve_tracking_uri(tracking_uri if tracking_uri is not None else cfg.tracking.uri)
    mlflow.set_tracking_uri(uri)
    name = cfg.tracking.experiment
    if not name:
        raise ConfigError("tracking.experiment is empty; name the MLflow experiment in params.yaml")
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        location = None
        if not uri.startswith(("http://", "https://", "databricks")):
            root = artifact_root if artifact_root is not None else cfg.tracking.artifact_root
            root_path = Path(root or DEFAULT_ARTIFACT_ROOT).resolve()
            root_path.mkdir(parents=True, exist_ok=True)
            location = root_path.as_uri()
        experiment_id = client.create_experiment(name, artifact_location=location)
        log.info("created MLflow experiment %r (artifacts: %s)", name, location or "server")
    else:
        experiment_id = experiment.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return uri


def flatten_params(tree: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten a nested mapping to ``{"a.b.c": "value"}``; lists become JSON strings."""
    flat: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_params(value, f"{name}."))
        elif isinstance(value, list | tuple):
            flat[name] = json.dumps(value)
        else:
            flat[name] = str(value)
    return flat


def current_git_commit(repo_dir: Path | None = None) -> str:
    """``git rev-parse HEAD`` of ``repo_dir`` (default: cwd), or ``"unknown"`` outside git."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=repo_dir,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else "unknown"


def log_config_params(config: Mapping[str, Any]) -> None:
    """Log a resolved config (nested dict) to the active run as flat params."""
    mlflow.log_params(flatten_params(config))


def log_run_tags(git_commit: str, dataset_version: str, extra: Mapping[str, str] | None = None):
    """Tag the active run with its code and data versions (and any extra tags)."""
    tags = {
        TAG_GIT_COMMIT: git_commit,
        TAG_MLFLOW_COMMIT: git_commit,
        TAG_DATASET_VERSION: dataset_version,
    }
    tags.update(extra or {})
    mlflow.set_tags(tags)


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    """Log the finite numeric entries of ``metrics`` (MLflow rejects NaN from some stores)."""
    clean = {
        k: float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float) and v == v and abs(v) != float("inf")
    }
    skipped = sorted(set(metrics) - set(clean))
    if skipped:
        log.warning("not logging non-finite or non-numeric metrics: %s", skipped)
    mlflow.log_metrics(clean, step=step)
