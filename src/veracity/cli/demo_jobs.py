"""The demo's eval videos through the job API (seed 002's asynchronous path).

After the video champion is served, ``veracity demo`` starts the job service the way
``veracity jobs serve --with-worker`` does (embedded Redis + SQLite under the demo's run
directory, free loopback ports, jobs sent to the served transformer), submits every eval
clip to ``POST /analyze-video``, polls ``GET /jobs/{id}`` and returns the verdict matrix of
the completed results (failed jobs are counted and listed, never dropped). The service is
stopped by pid whatever happens.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)

ENV_PREFIX = "VERACITY_JOBS_"  # the demo's service uses its own embedded stores


def start_job_service(params: str | Path, overrides: list[str], run_dir: Path,
                      transformer_url: str) -> tuple[subprocess.Popen, str]:  # fmt: skip
    """``veracity jobs serve --with-worker`` on free ports under ``run_dir``; (process, URL)."""
    from veracity.serving.process import find_free_port

    port, redis_port = find_free_port(), find_free_port()
    cmd = [sys.executable, "-m", "veracity", "--params", str(params)]
    for item in [*overrides, f"jobs.data_dir={run_dir / 'jobs'}", f"jobs.port={port}",
                 f"jobs.embedded_redis_port={redis_port}",
                 f"jobs.inference_urls.video={transformer_url}"]:  # fmt: skip
        cmd += ["--set", item]
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    log_file = open(run_dir / "jobs.log", "ab")  # noqa: SIM115 (the child keeps it open)
    proc = subprocess.Popen([*cmd, "jobs", "serve", "--with-worker"], stdout=log_file,
                            stderr=subprocess.STDOUT, env=env)  # fmt: skip
    log_file.close()
    return proc, f"http://127.0.0.1:{port}"


def wait_until_up(proc: subprocess.Popen, url: str, timeout_s: float, log_path: Path) -> None:
    import httpx

    from veracity.errors import ServingError

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServingError(
                f"expected the job service to start, it exited ({proc.returncode}); see {log_path}"
            )
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise ServingError(f"expected the job API at {url} within {timeout_s:g} s; see {log_path}")


def submit_and_poll(url: str, items: list[tuple[Path, int]], cfg) -> tuple[list, list, list]:
    """Submit every ``(clip, target)``; ``(targets, decisions, failed)`` once all ended."""
    import httpx

    from veracity.modalities.base import Decision

    jobs, failed = {}, []
    for path, target in items:
        while True:
            with path.open("rb") as fh:
                reply = httpx.post(url + "/analyze-video", timeout=cfg.jobs.inference_timeout_s,
                                   files={"file": (path.name, fh, "video/mp4")})  # fmt: skip
            if reply.status_code != 503 or "Retry-After" not in reply.headers:
                break
            time.sleep(float(reply.headers["Retry-After"]))  # queue full: wait, as a client
        if reply.status_code != 202:
            failed.append(f"{path.name}: refused ({reply.status_code}) {reply.text[:200]}")
            continue
        jobs[reply.json()["job_id"]] = (path, target)
    targets, decisions = [], []
    deadline = time.monotonic() + cfg.jobs.time_limit_s * max(1, len(jobs))
    pending = dict(jobs)
    while pending and time.monotonic() < deadline:
        for job_id, (path, target) in list(pending.items()):
            status = httpx.get(f"{url}/jobs/{job_id}", timeout=30).json()
            if status["status"] == "failed":
                failed.append(f"{path.name}: {status.get('error')}")
            elif status["status"] == "completed":
                v = status["result"]["verdict"]
                targets.append(target)
                decisions.append(Decision(v["label"], v["score"], v["confidence"], v["reason"],
                                          v["label"], v.get("rule", v["reason"])))  # fmt: skip
            else:
                continue
            del pending[job_id]
        time.sleep(cfg.jobs.sse_poll_interval_s)
    failed += [f"{p.name}: not finished in time" for p, _ in pending.values()]
    return targets, decisions, failed


def run_jobs_demo(cfg, params: str | Path, overrides: list[str], clips: dict, run_dir: Path,
                  transformer_url: str) -> dict:  # fmt: skip
    """The eval clips of ``clips`` (split -> label -> paths) through the job API; metrics."""
    import numpy as np

    from veracity.evaluation.verdicts import verdict_metrics
    from veracity.jobs.services import stop_process

    run_dir.mkdir(parents=True, exist_ok=True)
    items = [(p, 1 if label == "bonafide" else 0)
             for label, ps in clips["eval"].items() for p in ps]  # fmt: skip
    started = time.monotonic()
    proc, url = start_job_service(params, overrides, run_dir, transformer_url)
    try:
        wait_until_up(proc, url, cfg.serving.ready_timeout_s, run_dir / "jobs.log")
        print(f"  job API on {url}: {len(items)} eval clip(s) -> POST /analyze-video", flush=True)
        targets, decisions, failed = submit_and_poll(url, items, cfg)
    finally:
        stop_process(proc)
    metrics = verdict_metrics(np.array(targets), decisions) if decisions else {}
    metrics.update(failed=failed, seconds=round(time.monotonic() - started, 1))
    return metrics
