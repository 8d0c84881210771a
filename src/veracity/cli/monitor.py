"""CLI commands: ``veracity monitor collect`` (CloudEvents receiver) and ``veracity monitor
drift`` (the drift report, with exit status 0 = no drift, 10 = drift, 11 = not enough data)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from veracity.cli.options import add_modality, modality_of
from veracity.errors import ConfigError, InputError, NotEnoughDataError

log = logging.getLogger(__name__)

EXIT_NO_DRIFT = 0
EXIT_DRIFT = 10
EXIT_NOT_ENOUGH_DATA = 11
TOKEN_ENV = "VERACITY_RECEIVER_TOKEN"


def _collect(args, cfg) -> int:
    import uvicorn

    from veracity.monitoring.receiver import create_receiver_app

    host = args.host or cfg.monitoring.receiver.host
    port = args.port or cfg.monitoring.receiver.port
    # The one place the token is read: the k8s Secret veracity-monitor-token sets it.
    token = os.environ.get(TOKEN_ENV, "")
    if not token and host not in ("127.0.0.1", "localhost", "::1"):
        raise ConfigError(
            f"expected a shared receiver token in ${TOKEN_ENV} when binding {host}, got none; "
            "set it from the veracity-monitor-token Secret, or bind 127.0.0.1"
        )
    from veracity.monitoring.admission import allowed_columns

    app = create_receiver_app(
        cfg.monitoring, cfg.storage, token=token or None, allowed=allowed_columns(cfg)
    )
    print(f"receiving KServe logger events on http://{host}:{port}/ -> {cfg.monitoring.sink}")
    uvicorn.run(app, host=host, port=port, log_level="warning")
    return 0


def _format_summary(summary) -> str:
    mix = summary.verdict_mix["share"]
    lines = [
        f"drift report ({summary.status}): {summary.n_rows} rows in {summary.window['start'][:19]}"
        f" .. {summary.window['end'][:19]} vs {summary.n_reference} reference rows",
        f"  drifted features: {len(summary.drifted_features)}/{len(summary.features)} "
        f"(share {summary.drift_share:.2f}, threshold {summary.drift_share_threshold:.2f}, "
        f"{summary.stattest} < {summary.stattest_threshold})"
        + (f": {', '.join(summary.drifted_features)}" if summary.drifted_features else ""),
    ]
    scores = summary.score_drift["columns"]
    if scores:
        lines.append(
            "  score drift: "
            + ", ".join(
                f"{c} {'DRIFT' if v['drifted'] else 'ok'} ({v['score']:.3g})"
                for c, v in scores.items()
            )
        )
    else:
        lines.append("  score drift: not compared (the reference has no model scores)")
    lines.append("  verdict mix: " + ", ".join(f"{k} {v:.0%}" for k, v in mix.items() if v))
    return "\n".join(lines)


def _drift(args, cfg) -> int:
    from veracity.monitoring.job import REPORT_HTML, REPORT_JSON, run_drift_job

    if args.retrain_on_drift and not args.host:
        raise InputError("--retrain-on-drift needs --host URL of the Kubeflow Pipelines API")
    out = Path(args.out)
    try:
        summary = run_drift_job(
            cfg,
            out,
            model=args.model,
            since=args.since,
            payloads=args.payloads,
            reference=args.reference,
            mlflow_log=not args.no_mlflow,
            modality=modality_of(args, cfg),
        )
    except NotEnoughDataError as exc:
        print(f"not enough data: {exc}", file=sys.stderr)
        return EXIT_NOT_ENOUGH_DATA
    print(_format_summary(summary))
    print(f"  report: {out / REPORT_HTML}\n  summary: {out / REPORT_JSON}")
    if not summary.dataset_drift:
        return EXIT_NO_DRIFT
    if args.retrain_on_drift:
        from veracity.orchestration import submit_run

        run = submit_run(cfg, args.host)
        print(f"  drift detected: submitted retraining run {run}")
    return EXIT_DRIFT


def register(sub) -> None:
    """Add ``monitor collect`` and ``monitor drift``."""
    p = sub.add_parser("monitor", help="payload receiver and drift reports")
    msub = p.add_subparsers(dest="monitor_command", metavar="SUBCOMMAND")
    msub.required = True

    c = msub.add_parser("collect", help="receive KServe logger CloudEvents into the payload log")
    c.add_argument("--host", default=None, help="bind address (default: monitoring.receiver.host)")
    c.add_argument(
        "--port", type=int, default=None, help="port (default: monitoring.receiver.port)"
    )
    c.set_defaults(func=_collect)

    d = msub.add_parser(
        "drift",
        help="drift report of the logged window vs the model's reference profile",
        description="Exit status: 0 no drift, 10 drift detected, 11 not enough data.",
    )
    d.add_argument(
        "--model",
        default=None,
        help="registered model, e.g. veracity-voice@champion (its bundle holds the reference)",
    )
    d.add_argument(
        "--since",
        default=None,
        help="window length, e.g. 7d, 24h (default: monitoring.drift.window)",
    )
    d.add_argument("--out", required=True, help="directory for drift_report.{html,json}")
    d.add_argument(
        "--payloads",
        default=None,
        help="payload log: local dir/file or s3:// prefix (default: monitoring.sink)",
    )
    d.add_argument(
        "--reference",
        default=None,
        help="reference_profile.parquet or a bundle dir/s3:// URI (default: from --model)",
    )
    d.add_argument("--no-mlflow", action="store_true", help="do not log the report to MLflow")
    d.add_argument(
        "--retrain-on-drift",
        action="store_true",
        help="on drift, submit a retraining pipeline run to --host",
    )
    d.add_argument("--host", default=None, help="Kubeflow Pipelines API URL for --retrain-on-drift")
    add_modality(d)
    d.set_defaults(func=_drift)
