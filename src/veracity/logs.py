"""Logging set-up, done once per entry point (CLI, component, server)."""

from __future__ import annotations

import logging
import os

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure_logging(verbose: bool = False) -> None:
    """Set up an entry point (CLI, server, KFP component, worker) once: the root logger, the
    chattiest third-party loggers quieted, and the process defaults that keep third-party
    libraries from phoning home. Only entry points call this; library code never touches
    the environment."""
    level = logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=level, format=_FORMAT, datefmt="%H:%M:%S")
    for noisy in (
        "botocore",
        "urllib3",
        "git",
        "alembic",
        "matplotlib",
        "numba",
        "PIL",
        "great_expectations",
        "httpx",
        "filelock",
        "fsspec",
        "asyncio",
        "mlflow.store.db.utils",  # "Creating initial MLflow database tables..." on a new store
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # MLflow sends usage telemetry by default; Veracity never does.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    # one download of a bundle is not "long work": MLflow's bar was the demo's only noise
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
