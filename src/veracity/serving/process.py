"""Start, wait for and stop the model servers as local processes (CLI, tests, demo, bench).

Each server is ``python -m veracity.serving KIND`` in its own process on the loopback
address, with its own HTTP and gRPC ports; readiness is KServe's ``/v2/health/ready``;
stopping is SIGTERM to the process id, then SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from veracity.allocator import ALLOCATOR_ENV
from veracity.config import Config
from veracity.errors import ServingError

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


@dataclass
class ServerProcess:
    """One running model server."""

    kind: str
    url: str
    grpc_port: int
    proc: subprocess.Popen
    log_path: Path
    extra: dict = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid


def find_free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def server_env(kind: str) -> dict[str, str]:
    """The environment a ``kind`` server process runs with: this one's, plus the allocator
    tuning for the predictor (unless already set), minus it for any other kind."""
    env = {**os.environ, **{k: v for k, v in ALLOCATOR_ENV.items() if k not in os.environ}}
    if kind != "predictor":  # the allocator tuning is the predictor's; a transformer that
        for key in ALLOCATOR_ENV:  # keeps every decode's memory would never give it back
            env.pop(key, None)
    env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    return env


def start_server(
    kind: str,
    *,
    params: str | Path,
    overrides: list[str],
    host: str,
    http_port: int,
    grpc_port: int,
    log_path: Path,
    extra_args: list[str],
) -> ServerProcess:
    """Launch ``python -m veracity.serving KIND`` in the background, output to ``log_path``."""
    cmd = [sys.executable, "-m", "veracity.serving", kind, "--params", str(params)]
    for item in overrides:
        cmd += ["--set", item]
    cmd += ["--host", host, "--http_port", str(http_port), "--grpc_port", str(grpc_port)]
    cmd += extra_args
    env = server_env(kind)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen(
            cmd, stdout=log_file, stderr=subprocess.STDOUT, env=env, preexec_fn=die_with_parent
        )
    return ServerProcess(kind, f"http://{host}:{http_port}", grpc_port, proc, log_path)


def wait_ready(server: ServerProcess, timeout_s: float) -> None:
    """Poll ``/v2/health/ready`` until it answers 200; raise with the log tail otherwise."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise ServingError(
                f"the {server.kind} exited with code {server.proc.returncode} before it was "
                f"ready; its log ends with:\n{_tail(server.log_path)}"
            )
        try:
            if httpx.get(f"{server.url}/v2/health/ready", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise ServingError(
        f"the {server.kind} at {server.url} was not ready within {timeout_s:g} s; "
        f"its log ends with:\n{_tail(server.log_path)}"
    )


def stop_server(*servers: ServerProcess, grace_s: float = 10.0) -> None:
    """SIGTERM every server's pid, then SIGKILL those still running ``grace_s`` seconds
    later. All are signalled before any is waited for, so a stack shuts down in the time
    of its slowest server, not the sum."""
    running = [s for s in servers if s.proc.poll() is None]
    for server in running:
        server.proc.terminate()
    deadline = time.monotonic() + grace_s
    for server in running:
        try:
            server.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(timeout=grace_s)


def start_stack(
    cfg: Config,
    *,
    model: str,
    params: str | Path,
    overrides: list[str],
    log_dir: Path,
    modality: str | None = None,
    ports: dict[str, int] | None = None,
) -> tuple[ServerProcess, ServerProcess]:
    """Start predictor then transformer of one bundle on loopback, wait until both are ready.

    Both servers read the bundle ``model`` (its contract decides what they serve);
    ``modality`` (default: params) is checked against it.

    ``ports`` (keys ``predictor``, ``predictor_grpc``, ``transformer``, ``transformer_grpc``)
    defaults to params.yaml ``serving``; on any failure both processes are stopped.
    """
    s = cfg.serving
    ports = ports or {
        "predictor": s.predictor_port,
        "predictor_grpc": s.predictor_grpc_port,
        "transformer": s.transformer_port,
        "transformer_grpc": s.transformer_grpc_port,
    }
    common = {"params": params, "overrides": overrides, "host": s.host}
    bundle_args = ["--storage_uri", model, "--modality", modality or cfg.modality]
    predictor = start_server(
        "predictor",
        **common,
        http_port=ports["predictor"],
        grpc_port=ports["predictor_grpc"],
        log_path=log_dir / "predictor.log",
        extra_args=bundle_args,
    )
    transformer = None
    try:
        transformer = start_server(
            "transformer",
            **common,
            http_port=ports["transformer"],
            grpc_port=ports["transformer_grpc"],
            log_path=log_dir / "transformer.log",
            extra_args=[*bundle_args, "--predictor_host", f"{s.host}:{ports['predictor']}"],
        )
        wait_ready(predictor, s.ready_timeout_s)
        wait_ready(transformer, s.ready_timeout_s)
    except BaseException:
        stop_server(*(srv for srv in (transformer, predictor) if srv is not None))
        raise
    return predictor, transformer


class Terminated(Exception):
    """SIGTERM arrived (raised in the main thread so ``finally`` blocks stop the servers)."""


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` instead of killing the process
    outright, so the caller's cleanup (stopping both servers by pid) runs."""

    def handler(signum, frame):
        raise Terminated(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def die_with_parent() -> None:
    """Make the calling process get SIGTERM when its parent dies, even by SIGKILL (Linux).

    Meant as ``subprocess.Popen(..., preexec_fn=die_with_parent)``: it runs in the child
    before exec, so a server, worker or Redis started for a parent that is killed does not
    outlive it. Elsewhere than Linux it does nothing (the parent's own SIGTERM handling
    still stops its children).
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # not Linux: SIGTERM handling in the parent still stops the servers
        pass


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
