"""Test helpers of the job service: a real PostgreSQL on 127.0.0.1, a latency proxy, SSE.

``start_postgres`` runs the PostgreSQL 16 that the pgserver wheel ships (else Debian's) with
initdb into a fresh temporary directory, listening on 127.0.0.1 only; as root it runs as
``nobody`` (PostgreSQL refuses root). Stop it with ``stop_postgres`` (by pid). ``SlowProxy``
forwards requests to a real transformer after an adjustable delay: the worker-kill test
needs a job that is still running when its worker is killed.
"""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from veracity.serving.process import find_free_port


def postgres_bin() -> Path | None:
    """The bin directory of pgserver's PostgreSQL, else Debian's, else None."""
    spec = importlib.util.find_spec("pgserver")  # not imported: it sets up lock files
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
        if (path / "postgres").is_file():
            return path
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    return Path(found[-1]).parent if found else None


@dataclass
class Postgres:
    proc: subprocess.Popen
    url: str
    data_dir: Path


def start_postgres(timeout_s: float = 30.0) -> Postgres:
    """A PostgreSQL server on 127.0.0.1:<free port> with database ``postgres`` (trust auth)."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("no PostgreSQL binaries: pip install pgserver or apt-get install postgresql")
    root = Path(tempfile.mkdtemp(prefix="veracity-pg-"))
    user = "nobody" if os.geteuid() == 0 else None
    if user:
        shutil.chown(root, user)
    data = root / "data"
    subprocess.run(
        [str(bin_dir / "initdb"), "-D", str(data), "--auth=trust", "-U", "postgres",
         "--encoding=utf8", "-N"],
        check=True, capture_output=True, user=user, timeout=120,
    )  # fmt: skip
    port = find_free_port()
    log = open(root / "postgres.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [str(bin_dir / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port),
         "-k", "", "-c", "fsync=off"],
        stdout=log, stderr=subprocess.STDOUT, user=user,
    )  # fmt: skip
    log.close()
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    deadline = time.monotonic() + timeout_s
    import psycopg

    while time.monotonic() < deadline:
        assert proc.poll() is None, (root / "postgres.log").read_text()
        try:
            psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres").close()
            return Postgres(proc, url, root)
        except psycopg.OperationalError:
            time.sleep(0.1)
    stop_postgres(Postgres(proc, url, root))
    raise AssertionError("PostgreSQL did not accept connections")


def stop_postgres(pg: Postgres) -> None:
    """Fast shutdown (SIGINT) by pid, SIGKILL after a grace period; remove its files."""
    if pg.proc.poll() is None:
        pg.proc.send_signal(signal.SIGINT)
        try:
            pg.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pg.proc.kill()
            pg.proc.wait(timeout=15)
    shutil.rmtree(pg.data_dir, ignore_errors=True)


class SlowProxy:
    """An HTTP server on loopback that forwards POSTs to ``target`` after ``delay_s``."""

    def __init__(self, target: str):
        self.target, self.delay_s, self.requests = target.rstrip("/"), 0.0, 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                proxy.requests += 1
                time.sleep(proxy.delay_s)
                headers = {"content-type": self.headers.get("content-type", "")}
                reply = httpx.post(proxy.target + self.path, content=body, headers=headers,
                                   timeout=120)  # fmt: skip
                try:
                    self.send_response(reply.status_code)
                    self.send_header("content-type", reply.headers.get("content-type", ""))
                    self.send_header("content-length", str(len(reply.content)))
                    self.end_headers()
                    self.wfile.write(reply.content)
                except OSError:  # the worker that asked is gone (killed on purpose)
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", find_free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def read_sse(url: str, timeout_s: float) -> list[tuple[str, dict]]:
    """Every ``(event, data)`` of an SSE stream until the server ends it."""
    events, name = [], None
    with httpx.stream("GET", url, timeout=timeout_s) as reply:
        assert reply.status_code == 200, reply.read()
        assert reply.headers["content-type"].startswith("text/event-stream")
        for line in reply.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name, json.loads(line.removeprefix("data: "))))
    return events


def wait_for(predicate, timeout_s: float, what: str, interval_s: float = 0.2):
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` if not."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")


class VerdictServer:
    """A loopback HTTP server answering every POST with ``status`` and the JSON ``body`` (a
    Verdict by default): the worker's transformer where a test needs no model."""

    def __init__(self, body: dict, status: int = 200):
        self.body, self.status, self.paths = body, status, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                self.rfile.read(int(self.headers.get("content-length", 0)))
                outer.paths.append(self.path)
                data = json.dumps(outer.body).encode()
                self.send_response(outer.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
