"""Demo pipeline step times: where the minutes of ``veracity demo`` / ``veracity pipeline run`` go.

Reads the latest local run summary, ``<pipeline.local_root>/<run_id>/summary.json`` (written
by ``veracity pipeline run`` and ``veracity demo``; the newest file wins), or the summary
named by ``VERACITY_BENCH_RUN_SUMMARY`` (a ``summary.json`` or its run dir). It runs
nothing itself: the figures are those of that run, on the machine and load it ran under.

Reported per task, in start order: seconds, status (``cached`` tasks took no compute), share
of the summed task time and of the whole run (``duration_s``, which also holds compiling,
scheduling and the local runner's own time: ``orchestration_s``), and the same per step
(``train`` = every train task). The baseline is the whole run: shares say which steps to
speed up. A summary without per-task timings (one written by the KFP exit handler on a
cluster) falls back to the ``elapsed_s`` the step records carry, and says so.

When there is no run yet the figures say ``"status": "no_run"`` with what to run; nothing
is measured then. ``--smoke`` changes nothing here (reading one file is already small).
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from veracity.config import Config
from veracity.orchestration.adapters import STEP_NAMES

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
ENV_SUMMARY = "VERACITY_BENCH_RUN_SUMMARY"
SUMMARY_FILE = "summary.json"


def find_summary(cfg: Config, repo: Path = REPO) -> Path | None:
    """The summary to report: ``$VERACITY_BENCH_RUN_SUMMARY`` or the newest local one."""
    named = os.environ.get(ENV_SUMMARY)
    if named:
        path = Path(named)
        path = path / SUMMARY_FILE if path.is_dir() else path
        if not path.is_file():
            raise FileNotFoundError(f"{ENV_SUMMARY}={named}: no {SUMMARY_FILE} there")
        return path
    root = repo / cfg.pipeline.local_root
    found = [p for p in root.glob(f"*/{SUMMARY_FILE}") if p.is_file()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def _step_of(task: str, steps: dict) -> str:
    """The pipeline step of a task (``train-2`` -> ``train``); other tasks keep their name."""
    record = steps.get(task) or {}
    prefix = task.split("-")[0]
    return str(record.get("step") or (prefix if prefix in STEP_NAMES else task))


def _timings(summary: dict) -> tuple[list[dict], bool]:
    """Per-task rows ``{task, name, step, status, seconds}`` and where the times came from."""
    steps = summary.get("steps") or {}
    tasks = summary.get("tasks") or []
    if tasks:
        rows = [
            {
                "task": t["task"],
                "name": t.get("name") or t["task"],
                "step": _step_of(t["task"], steps),
                "status": t.get("status", "?"),
                "seconds": float(t.get("duration_s") or 0.0),
            }
            for t in sorted(tasks, key=lambda t: t.get("started") or 0.0)
        ]
        return rows, True
    rows = []
    for task, record in steps.items():
        elapsed = (record.get("result") or {}).get("elapsed_s")
        if elapsed is not None:
            rows.append(
                {
                    "task": task,
                    "name": task,
                    "step": _step_of(task, steps),
                    "status": record.get("status", "?"),
                    "seconds": float(elapsed),
                }
            )
    return rows, False


def step_figures(summary: dict) -> dict:
    """Step times and shares of one run summary (pure: no files read)."""
    rows, per_task_times = _timings(summary)
    base = {
        "run_id": summary.get("run_id"),
        "modality": summary.get("modality"),
        "run_status": summary.get("status"),
        "source": summary.get("source"),
        "git_commit": summary.get("git_commit"),
        "stopped_at": summary.get("stopped_at"),
    }
    if not rows:
        return {
            "status": "no_timings",
            "message": "this run summary has neither per-task timings nor step elapsed_s; "
            "run `veracity demo` or `veracity pipeline run` locally for step times",
            **base,
        }
    total_tasks = sum(r["seconds"] for r in rows)
    run_s = summary.get("duration_s")
    run_s = float(run_s) if run_s is not None else None

    def share(seconds: float, of: float | None) -> float | None:
        return round(seconds / of, 3) if of else None

    per_task = [
        {
            **r,
            "seconds": round(r["seconds"], 1),
            "share_of_tasks": share(r["seconds"], total_tasks),
            "share_of_run": share(r["seconds"], run_s),
        }
        for r in rows
    ]
    by_step: dict[str, float] = {}
    for r in rows:
        by_step[r["step"]] = by_step.get(r["step"], 0.0) + r["seconds"]
    slowest = max(rows, key=lambda r: r["seconds"])
    return {
        "status": "ok",
        **base,
        "timings_from": "tasks (local runner: wall time per task)"
        if per_task_times
        else "step records' elapsed_s (no per-task timings in this summary; steps without "
        "elapsed_s are missing)",
        "run_s": run_s,
        "run_minutes": round(run_s / 60, 2) if run_s is not None else None,
        "tasks_s": round(total_tasks, 1),
        # the run's time outside its tasks (compile, scheduling, runner); unknown without tasks
        "orchestration_s": round(run_s - total_tasks, 1)
        if run_s is not None and per_task_times
        else None,
        "cached_tasks": [r["task"] for r in rows if r["status"] == "cached"],
        "failed_tasks": [r["task"] for r in rows if r["status"] == "failed"],
        "slowest_task": {"name": slowest["name"], "seconds": round(slowest["seconds"], 1)},
        "tasks": per_task,
        "by_step": {
            k: {
                "seconds": round(v, 1),
                "share_of_tasks": share(v, total_tasks),
                "share_of_run": share(v, run_s),
            }
            for k, v in sorted(by_step.items(), key=lambda kv: -kv[1])
        },
    }


def _is_demo(cfg: Config, source: str | None) -> bool:
    """Whether the run read the demo corpus (``<data.demo_dir>/<modality>``)."""
    if not source:
        return False
    demo = (REPO / cfg.data.demo_dir).resolve()
    return Path(source).resolve().is_relative_to(demo)


def run(cfg: Config, smoke: bool = False) -> dict:
    """Step times and shares of the latest local pipeline run, or ``status: no_run``."""
    path = find_summary(cfg)
    if path is None:
        where = REPO / cfg.pipeline.local_root
        message = (
            f"no pipeline run yet: no {where}/<run_id>/{SUMMARY_FILE}. Run `veracity demo` "
            f"(or `veracity pipeline run`) first, or set {ENV_SUMMARY} to a run's summary; "
            "nothing was measured"
        )
        log.warning("bench_pipeline_steps: %s", message)
        return {"status": "no_run", "message": message, "looked_in": str(where)}
    summary = json.loads(path.read_text())
    figures = step_figures(summary)
    age_h = (time.time() - path.stat().st_mtime) / 3600
    return {
        **figures,
        "demo_corpus": _is_demo(cfg, summary.get("source")),
        "summary": str(path),
        "summary_age_hours": round(age_h, 1),
    }
