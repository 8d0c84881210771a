"""Where the job service's store and broker are, the embedded Redis, and the jobs params."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from veracity.config import parse_config
from veracity.errors import ConfigError
from veracity.jobs.intake import check_limits_agree
from veracity.jobs.services import (
    ENV_BROKER,
    ENV_DATABASE,
    redis_answers,
    resolve_urls,
    start_redis,
    stop_process,
)
from veracity.serving.process import find_free_port


def _jobs(cfg, tmp_path, **overrides):
    values = {"jobs.data_dir": str(tmp_path), **{f"jobs.{k}": v for k, v in overrides.items()}}
    return parse_config(cfg.to_dict(), values).jobs


def test_embedded_defaults_then_params_then_environment(cfg, tmp_path):
    urls = resolve_urls(_jobs(cfg, tmp_path), {})
    assert urls.database == f"sqlite:///{tmp_path.resolve() / 'jobs.db'}"
    assert (
        urls.embedded_broker
        and urls.broker == f"redis://127.0.0.1:{cfg.jobs.embedded_redis_port}/0"
    )
    jobs = _jobs(
        cfg, tmp_path, database_url="postgresql+psycopg://db/j", broker_url="redis://r:1/0"
    )
    urls = resolve_urls(jobs, {})
    assert (urls.database, urls.broker, urls.embedded_broker) == (
        "postgresql+psycopg://db/j", "redis://r:1/0", False)  # fmt: skip
    env = {ENV_DATABASE: "postgresql+psycopg://env/j", ENV_BROKER: "rediss://env:6380/1"}
    urls = resolve_urls(jobs, env)
    assert (urls.database, urls.broker) == tuple(env.values())


def test_a_broker_that_is_not_redis_is_refused(cfg, tmp_path):
    with pytest.raises(ConfigError, match="redis://"):
        resolve_urls(_jobs(cfg, tmp_path), {ENV_BROKER: "amqp://guest@rabbit//"})


def test_params_refuse_redelivery_of_running_jobs_and_limits_above_serving(cfg, tmp_path):
    with pytest.raises(ConfigError, match="visibility_timeout_s"):
        _jobs(cfg, tmp_path, visibility_timeout_s=100, time_limit_s=100)
    with pytest.raises(ConfigError, match="republish_after_s"):  # it would duplicate messages
        _jobs(cfg, tmp_path, republish_after_s=cfg.jobs.visibility_timeout_s)
    too_long = parse_config(cfg.to_dict(), {"jobs.max_media_seconds": 1e4})
    with pytest.raises(ConfigError, match="serving.max_audio_seconds"):
        check_limits_agree(too_long)
    check_limits_agree(cfg)


def test_embedded_redis_starts_answers_and_stops(tmp_path):
    port = find_free_port()
    proc = start_redis(tmp_path / "redis", port, timeout_s=10)
    try:
        assert redis_answers("127.0.0.1", port)
    finally:
        stop_process(proc)
    assert proc.returncode is not None and not redis_answers("127.0.0.1", port)
    assert (tmp_path / "redis" / "redis.log").is_file()


def test_a_child_started_with_die_with_parent_goes_with_its_parent():
    script = (
        "import subprocess, time\n"
        "from veracity.serving.process import die_with_parent\n"
        "child = subprocess.Popen(['sleep', '60'], preexec_fn=die_with_parent)\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    try:
        parent.kill()  # SIGKILL: the parent cleans up nothing itself
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child)
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:  # a zombie is dead: only its parent (now init) has yet to reap it
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_the_job_service_imports_no_private_name_of_another_module():
    src = Path(__file__).resolve().parents[2] / "src"
    files = [*sorted((src / "veracity" / "jobs").rglob("*.py")), src / "veracity/cli/jobs.py"]
    private = [
        f"{path.relative_to(src)}:{node.lineno} {node.module}.{alias.name}"
        for path in files
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("veracity")
        for alias in node.names
        if alias.name.startswith("_") and not alias.name.startswith("__")
    ]
    assert private == []
