"""The drift job (I/O edge of ``veracity.monitoring``): find the reference, read the window,
build the report, write HTML/JSON/PNG, log to MLflow.

``veracity monitor drift``, the Kubernetes CronJob and the demo all call
:func:`run_drift_job`; the pure work is in :mod:`veracity.monitoring.drift`.
"""

from __future__ import annotations

import json
import logging
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from veracity.config import Config
from veracity.errors import InputError, StorageError
from veracity.monitoring.drift import (
    DriftSummary,
    build_drift_report,
    drop_duplicate_requests,
    parse_window,
    select_window,
)
from veracity.monitoring.sinks import read_payloads
from veracity.storage import is_s3_uri, make_s3_client, split_s3_uri

log = logging.getLogger(__name__)

REFERENCE_FILE = "reference_profile.parquet"
OOD_SERIES_PNG = "out_of_domain_rate.png"
REPORT_HTML = "drift_report.html"
REPORT_JSON = "drift_report.json"
SERIES_PNG = "inconclusive_rate.png"


def resolve_reference(cfg: Config, model: str | None, reference: str | None, scratch: Path) -> Path:
    """Local path of the reference profile: ``reference`` (a parquet file, a bundle/artifact
    dir, or an s3:// URI of either) or, without it, the bundle of ``model`` (``NAME@alias``
    or ``NAME/version``) resolved through the MLflow registry."""
    if not reference:
        if not model:
            raise InputError("expected --model NAME@champion or --reference PATH, got neither")
        from veracity.registry.models import resolve_model_uri

        reference = resolve_model_uri(cfg, model)
        log.info("model %s resolves to %s", model, reference)
    ref = str(reference)
    if is_s3_uri(ref):
        key_uri = ref if ref.endswith(".parquet") else ref.rstrip("/") + "/" + REFERENCE_FILE
        bucket, key = split_s3_uri(key_uri)
        target = scratch / REFERENCE_FILE
        try:
            make_s3_client(cfg.storage).download_file(bucket, key, str(target))
        except Exception as exc:
            raise StorageError(
                f"could not download the reference profile {key_uri}: {exc}; the bundle must "
                f"hold {REFERENCE_FILE} (written by the features step)"
            ) from exc
        return target
    path = Path(ref)
    if path.is_dir():
        path = path / REFERENCE_FILE
    if not path.is_file():
        raise InputError(
            f"expected a reference profile at {path}, found nothing; pass --reference with a "
            f"{REFERENCE_FILE} or a bundle directory holding one"
        )
    return path


def plot_inconclusive(
    series: list[dict], path: Path, label: str = "INCONCLUSIVE rate"
) -> Path | None:
    """A small PNG of a verdict rate over time (None when there is no series)."""
    if not series:
        return None
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure state

    # Bars on a categorical axis: readable for one bucket as for sixty.
    labels = [p["period"][:16].replace("T00:00", "").replace("T", " ") for p in series]
    fig = Figure(figsize=(max(4.0, 0.35 * len(series) + 2), 2.8), dpi=100)
    ax = fig.subplots()
    bars = ax.bar(range(len(series)), [p["rate"] for p in series], color="#c77c02")
    ax.bar_label(bars, labels=[f"n={p['n']}" for p in series], fontsize=7)
    ax.set_xticks(range(len(series)), labels, rotation=45, ha="right", fontsize=7)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel(label)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path)
    return path


def _select_experiment(mlflow, cfg: Config) -> None:
    """Use the monitoring experiment, created beside the tracking experiment's artifacts (a
    bare ``set_experiment`` would put a local store's artifacts under ./mlruns)."""
    client = mlflow.MlflowClient()
    name = cfg.monitoring.drift.experiment
    if client.get_experiment_by_name(name) is None:
        training = client.get_experiment_by_name(cfg.tracking.experiment)
        client.create_experiment(
            name, artifact_location=training.artifact_location if training else None
        )
    mlflow.set_experiment(name)


def log_to_mlflow(cfg: Config, summary: DriftSummary, out: Path) -> str | None:
    """Log the report files and headline numbers to MLflow; returns the run id. A missing or
    unreachable tracking server is logged, not fatal: the files on disk are the report."""
    try:
        import mlflow

        from veracity.registry.tracking import configure_tracking

        configure_tracking(cfg)
        _select_experiment(mlflow, cfg)
        with mlflow.start_run(run_name=f"drift-{summary.window.get('end', '')[:19]}") as run:
            mlflow.set_tags(
                {"veracity.kind": "drift", "model": summary.model or "", "status": summary.status}
            )
            mlflow.log_metrics(
                {
                    "drift_share": summary.drift_share,
                    "dataset_drift": float(summary.dataset_drift),
                    "n_rows": float(summary.n_rows),
                    "inconclusive_share": summary.verdict_mix["share"].get("INCONCLUSIVE", 0.0),
                }
            )
            mlflow.log_artifacts(str(out), artifact_path="drift")
            return run.info.run_id
    except Exception as exc:  # monitoring must still produce its files
        log.warning("drift report not logged to MLflow: %s", exc)
        return None


def run_drift_job(
    cfg: Config,
    out: Path,
    *,
    model: str | None = None,
    since: str | None = None,
    payloads: str | None = None,
    reference: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    mlflow_log: bool = True,
    modality: str | None = None,
) -> DriftSummary:
    """Build the drift report for the window ``[start, end)`` (default: the last ``since``,
    ``monitoring.drift.window`` when not given) of the payload log ``payloads`` (default
    ``monitoring.sink``) against the model's reference profile; write
    ``drift_report.{html,json}``, ``inconclusive_rate.png`` and ``out_of_domain_rate.png``
    into ``out``. Only rows of ``modality`` count when the log holds several modalities.

    Raises :class:`NotEnoughDataError` when the window has fewer than ``min_rows`` rows.
    """
    end = end or datetime.now(UTC)
    since = since or cfg.monitoring.drift.window
    start = start or end - parse_window(since)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="veracity-drift-") as scratch:
        ref_path = resolve_reference(cfg, model, reference, Path(scratch))
        ref_df = pd.read_parquet(ref_path)
    source = payloads or cfg.monitoring.sink
    rows = read_payloads(source, cfg.storage, since=start)
    if modality and "modality" in rows:
        rows = rows[rows["modality"].isna() | (rows["modality"] == modality)]
    current = drop_duplicate_requests(select_window(rows, start, end))
    window = {
        "since": since,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "payloads": str(source),
        "reference": str(reference or model),
    }
    log.info("drift window %s .. %s: %d of %d logged rows", start, end, len(current), len(rows))
    summary, snapshot = build_drift_report(
        ref_df, current, cfg.monitoring.drift, window=window, model=model
    )
    snapshot.save_html(str(out / REPORT_HTML))
    plot_inconclusive(summary.inconclusive_rate_series, out / SERIES_PNG)
    plot_inconclusive(summary.out_of_domain_rate_series, out / OOD_SERIES_PNG, "out-of-domain rate")
    (out / REPORT_JSON).write_text(json.dumps(summary.to_dict(), indent=2, sort_keys=True))
    if mlflow_log:
        run_id = log_to_mlflow(cfg, summary, out)
        if run_id:
            log.info("drift report logged to MLflow run %s", run_id)
    return summary
