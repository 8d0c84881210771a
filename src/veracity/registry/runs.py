"""Log calibration and evaluation results into a model's existing MLflow run.

The train step records its run id in the artifact's ``config.json`` (``mlflow_run_id``);
calibrate and evaluate add their metrics and files to that same run, so one run tells the
whole story of a model. A model without a run id (e.g. an imported published checkpoint)
is simply not logged, and the step says so in its result.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from veracity.errors import RegistryError

log = logging.getLogger(__name__)


def flat_metrics(tree: Mapping, prefix: str = "") -> dict[str, float]:
    """Flatten nested numeric metrics to MLflow names ``a.b``; skip None/non-numeric."""
    out: dict[str, float] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flat_metrics(value, f"{name}."))
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int | float):
            out[_clean_name(name)] = float(value)
    return out


def _clean_name(name: str) -> str:
    # MLflow metric names allow alphanumerics, _ - . space : /; bucket names carry others.
    return "".join(c if c.isalnum() or c in "_-. :/" else "_" for c in name)


def log_to_model_run(
    cfg, run_id: str | None, metrics: Mapping, files: list[Path], artifact_path: str
) -> bool:
    """Log ``metrics`` (nested dict) and ``files`` into run ``run_id``; False when not logged.

    Returns False (with a warning) when the model has no run id or its run is not in the
    configured tracking store; any other MLflow failure raises :class:`RegistryError`.
    """
    if not run_id:
        log.info("model has no mlflow_run_id; %s results are not tracked", artifact_path)
        return False
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from veracity.registry.tracking import configure_tracking, log_metrics

    uri = configure_tracking(cfg)
    client = MlflowClient(uri)
    try:
        client.get_run(run_id)
    except MlflowException:
        log.warning(
            "MLflow run %s is not in the store %s; %s results are not tracked",
            run_id,
            uri,
            artifact_path,
        )
        return False
    try:
        with mlflow.start_run(run_id=run_id):
            log_metrics(flat_metrics(metrics))
            for path in files:
                mlflow.log_artifact(str(path), artifact_path=artifact_path)
    except MlflowException as exc:
        raise RegistryError(
            f"logging {artifact_path} results to MLflow run {run_id} at {uri} failed: {exc}; "
            "check tracking.uri and that the store is reachable"
        ) from exc
    return True
