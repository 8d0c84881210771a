"""Run the ``retrain`` pipeline on this machine with the KFP local runner.

``kfp.local`` (SubprocessRunner, no venv) executes the same compiled pipeline a cluster
runs: the same components, conditions (``dsl.If``/``dsl.Else``) and exit handler, with
the local cache. What differs from a cluster is documented in docs/pipeline.md: tasks run
one at a time, accelerators/resources are ignored, and cached tasks leave no record in the
new job's directory, so this module adds their records (from the cache entries) and the
per-task timing to the summary the exit handler wrote.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import json
import logging
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from veracity.config import Config
from veracity.orchestration.client import canonical_params, split_overrides
from veracity.orchestration.progress import ProgressTracker
from veracity.orchestration.summary import (
    build_summary,
    format_summary,
    read_records,
    save_summary,
)
from veracity.storage import is_s3_uri

log = logging.getLogger(__name__)


def fingerprint_source(source: str) -> str:
    """A data version for a local corpus dir: hash of its files' paths, sizes and mtimes.

    Passed as the ``data_version`` run parameter so the ingest step's cache key changes
    when the corpus changes. s3:// sources get '' (pass a DVC tag or revision instead).
    """
    if is_s3_uri(source):
        return ""
    root = Path(source)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return f"local-{digest.hexdigest()[:16]}"


def ensure_demo_corpus(cfg: Config, root: Path, modality: str | None = None) -> Path:
    """The demo corpus dir of a modality (``<data.demo_dir>/<m>``), generated when absent."""
    from veracity.modalities import load_modality

    name = modality or cfg.modality
    out = (root / cfg.data.demo_dir / name).resolve()
    if out.is_dir() and any(out.iterdir()):
        return out
    log.info("generating the %s %s demo corpus into %s", cfg.data.demo_size, name, out)
    mod = load_modality(name, cfg.modality_packages)
    return Path(mod.generate_demo(out, cfg.data.demo_size, cfg.seed, cfg.modality_params(name)))


def _display_names(pipeline_spec) -> dict[str, str]:
    """kfp task key (``train-2``) -> display name (``train-aasist``), over nested DAGs."""
    names: dict[str, str] = {}
    dags = [pipeline_spec.root.dag] + [
        c.dag for c in pipeline_spec.components.values() if c.HasField("dag")
    ]
    for dag in dags:
        for key, task in dag.tasks.items():
            names[key] = task.task_info.name or key
    return names


def _is_step_task(task: str) -> bool:
    """Tasks the progress display shows: not the DAG wrappers of conditions/exit handler."""
    return not task.startswith(("condition-", "exit-handler-"))


def _cached_records(task: str, cache_root: Path, key_prefix: str) -> dict[str, dict]:
    """Records of a task served from the cache: read from the artifacts its entry names."""
    entries = sorted(cache_root.glob(f"{key_prefix}*.json"))
    if not entries:
        return {}
    outputs = json.loads(entries[0].read_text())
    for value in outputs.values():
        if isinstance(value, dict) and value.get("uri"):
            task_dir = Path(value["uri"]).parent  # <pipeline_root>/<old job>/<task>/<output>
            found = read_records(task_dir.parent).get(task_dir.name)
            if found:
                return {task: {**found, "status": "cached"}}
    return {}


def ensure_workspace_dvc(local_root: Path) -> None:
    """Make the local runs directory its own DVC repository (no git).

    Local runs live under a git-ignored folder; DVC inside the project's git repository
    refuses to track data there, so the ingest step of a local run versions its corpus in
    this workspace repository instead (remote from params.yaml ``ingest``).
    """
    from dvc.repo import Repo

    if not (local_root / ".dvc").is_dir():
        local_root.mkdir(parents=True, exist_ok=True)
        # DVC announces the init on stdout through its own handler, in the middle of the
        # run's progress display; one line of ours in the log says it instead
        dvc_init = logging.getLogger("dvc.repo.init")
        level = dvc_init.level
        dvc_init.setLevel(logging.WARNING)
        try:
            Repo.init(str(local_root), no_scm=True)
        finally:
            dvc_init.setLevel(level)
        log.info("initialised the DVC repository of local runs in %s", local_root)


def _drop_handlers_on(stream) -> None:
    """Remove logging handlers a library attached while stdout was the task log: once the
    log closes they raise "I/O operation on closed file" on every later record (seen
    after the demo's pipeline run, on the approval and drift lines)."""
    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    for logger in loggers:
        for handler in list(logger.handlers):
            if getattr(handler, "stream", None) is stream:
                logger.removeHandler(handler)


@contextlib.contextmanager
def print_restored():
    """Give ``builtins.print`` back as it was when the block began.

    kfp.local indents a task's output by swapping ``builtins.print`` for the length of the
    task (``logging_utils.indented_print``). Two tasks of a ParallelFor run on threads, so
    each restores the print the other swapped in, and the later one leaves print indented
    for the rest of the process (seen: every line the demo printed after its pipeline began
    with 12 spaces).
    """
    saved = builtins.print
    try:
        yield
    finally:
        builtins.print = saved


def task_starts(cfg: Config, modality: str):
    """How local tasks start: forks of one warm process (``pipeline.local_warm_start``,
    :mod:`veracity.orchestration.warm`) or kfp's fresh interpreter per task. Callers that
    prepare data first (the demo's corpus) open it early so the imports overlap."""
    if not cfg.pipeline.local_warm_start:
        return contextlib.nullcontext()
    from veracity.modalities import load_modality
    from veracity.orchestration.warm import PLATFORM_IMPORTS, warm_task_starts

    mod = load_modality(modality, cfg.modality_packages)
    return warm_task_starts([*PLATFORM_IMPORTS, *mod.warm_imports])


def run_local(
    cfg: Config,
    params_yaml: str,
    overrides: list[str],
    *,
    source: str | None = None,
    fmt: str = "",
    data_version: str = "",
    model_name: str = "",
    repo_root: Path | None = None,
    progress_stream=None,
    quiet: bool = True,
    modality: str | None = None,
) -> dict[str, Any]:
    """Run a modality's compiled pipeline (pipelines/retrain-<m>.yaml) locally; returns the
    run summary (also in runs/<run_id>/summary.json)."""
    from veracity.orchestration.compile import find_repo_root

    root = repo_root or find_repo_root()
    modality = modality or cfg.modality
    with task_starts(cfg, modality):  # the warm process imports while the corpus is prepared
        return _run_pipeline(
            cfg, params_yaml, overrides, root, modality, source=source, fmt=fmt,
            data_version=data_version, model_name=model_name, progress_stream=progress_stream,
            quiet=quiet,
        )  # fmt: skip


def _run_pipeline(
    cfg: Config,
    params_yaml: str,
    overrides: list[str],
    root: Path,
    modality: str,
    *,
    source: str | None,
    fmt: str,
    data_version: str,
    model_name: str,
    progress_stream,
    quiet: bool,
) -> dict[str, Any]:
    from kfp import components, local

    from veracity.orchestration.compile import compiled_path

    params_yaml = canonical_params(params_yaml)
    if not source:
        source = str(ensure_demo_corpus(cfg, root, modality))
    elif not is_s3_uri(source):
        source = str(Path(source).resolve())
    data_version = data_version or fingerprint_source(source)
    local_root = (root / cfg.pipeline.local_root).resolve()
    pipeline_root = local_root / "kfp"
    pipeline_root.mkdir(parents=True, exist_ok=True)
    ensure_workspace_dvc(local_root)
    # MLflow migrates a new SQLite store when it is first opened: the role loop's train
    # tasks open it at the same moment and one loses that race, so open it once here
    from veracity.registry.tracking import configure_tracking

    configure_tracking(cfg)
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(pipeline_root),
        raise_on_error=False,
        enable_caching=cfg.pipeline.enable_caching,
    )
    # the checked-in compiled pipeline: what a cluster runs (a test keeps it current)
    pipeline = components.load_component_from_file(str(compiled_path(root, modality)))
    stream = progress_stream or sys.stdout
    before = set(os.listdir(pipeline_root))
    tracker = ProgressTracker(
        _display_names(pipeline.pipeline_spec), stream=stream, quiet_kfp=quiet
    )
    log_path = local_root / "last-run.log"
    started = time.monotonic()
    stream.write(f"retrain-{modality}: source {source} (data version {data_version})\n")
    # task output goes to a log file; the terminal shows one line per task
    with open(log_path, "w") as task_log, tracker, warnings.catch_warnings():
        # the images are ours and hold exactly what the subprocess runner uses here
        warnings.filterwarnings("ignore", message="You may be attemping", category=RuntimeWarning)
        # accelerators/limits are for the cluster; docs/pipeline.md lists what local ignores
        warnings.filterwarnings("ignore", message=".*have no effect in the current local runner")
        redirect = contextlib.redirect_stdout(task_log) if quiet else contextlib.nullcontext()
        with redirect, print_restored():
            pipeline(
                params_yaml=params_yaml,
                **split_overrides(list(overrides)),
                source=source,
                fmt=fmt,
                data_version=data_version,
                model_name=model_name,
                summary_root=str(local_root),
            )
        _drop_handlers_on(task_log)
    jobs = sorted(set(os.listdir(pipeline_root)) - before - {".kfp_cache"})
    run_id = jobs[-1] if jobs else "unknown"
    tasks = [t for t in tracker.results() if _is_step_task(t["task"])]
    records = read_records(pipeline_root / run_id)
    for item in tasks:
        if item["status"] == "cached" and item["cache_key"]:
            records.update(
                _cached_records(item["task"], pipeline_root / ".kfp_cache", item["cache_key"])
            )
    failed = [t["task"] for t in tasks if t["status"] == "failed" and t["task"] != "summarize-run"]
    summary = build_summary(
        state="FAILED" if failed else "SUCCEEDED",
        error=(
            f"failed tasks: {', '.join(tracker.display.get(t, t) for t in failed)}; "
            f"their output is in {log_path}"
            if failed
            else ""
        ),
        params_yaml=params_yaml,
        overrides=list(overrides),
        source=source,
        data_version=data_version,
        model_name=model_name,
        records_uri=str(pipeline_root / run_id),
        run_id=run_id,
        records=records,
        failed_tasks=failed,
        modality=modality,
    )
    summary["tasks"] = tasks
    summary["duration_s"] = round(time.monotonic() - started, 1)
    summary["task_log"] = str(log_path)
    summary["pipeline_root"] = str(pipeline_root / run_id)
    text = format_summary(summary)
    summary["summary_path"] = save_summary(summary, text, str(local_root / run_id), params_yaml)
    return summary
