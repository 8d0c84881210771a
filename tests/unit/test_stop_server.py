"""Stopping a local stack: every server is signalled before any is waited for."""

import subprocess
import sys
import time
from pathlib import Path

from veracity.serving.process import ServerProcess, stop_server

# a stand-in server: on SIGTERM it notes the moment, takes ``linger`` seconds to shut down
# (a model server draining), notes its exit; with linger < 0 it ignores SIGTERM
SERVER = """
import signal, sys, time
name, linger, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
def note(what):
    with open(out, "a") as f:
        f.write(f"{name} {what} {time.monotonic()}\\n")
def on_term(*_):
    if linger < 0:
        return
    note("term")
    time.sleep(linger)
    note("exit")
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
note("ready")
while True:
    time.sleep(0.05)
"""


def _server(name: str, linger: float, out: Path) -> ServerProcess:
    proc = subprocess.Popen([sys.executable, "-c", SERVER, name, str(linger), str(out)])
    while name not in (out.read_text() if out.exists() else ""):
        time.sleep(0.02)
    return ServerProcess(name, "", 0, proc, out)


def _events(out: Path) -> dict[str, float]:
    rows = [line.split() for line in out.read_text().splitlines()]
    return {f"{name} {what}": float(t) for name, what, t in rows}


def test_both_servers_are_signalled_before_either_is_waited_for(tmp_path):
    out = tmp_path / "events"
    first, second = _server("first", 0.5, out), _server("second", 0.5, out)
    stop_server(first, second)
    seen = _events(out)
    assert first.proc.returncode == 0 and second.proc.returncode == 0
    # one after the other, the second would hear SIGTERM only after the first had exited
    assert seen["second term"] < seen["first exit"]


def test_a_server_that_ignores_sigterm_is_killed_after_the_grace(tmp_path):
    out = tmp_path / "events"
    stubborn, polite = _server("stubborn", -1, out), _server("polite", 0.0, out)
    stop_server(stubborn, polite, grace_s=0.5)
    assert stubborn.proc.returncode == -9  # SIGKILL
    assert polite.proc.returncode == 0
    stop_server(stubborn)  # already stopped: nothing to do
