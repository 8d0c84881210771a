"""`veracity serve` stops its predictor and transformer when it gets SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest
from serving_standins import make_bundle

from veracity.serving.process import find_free_port

pytestmark = pytest.mark.integration


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = f"/proc/{pid}/status"
    return not (os.path.exists(status) and "zombie" in open(status).read())


def test_sigterm_stops_both_servers(cfg, repo_root, tmp_path):
    bundle = make_bundle(tmp_path / "bundle", cfg)
    sets = {
        "serving.predictor_port": find_free_port(),
        "serving.predictor_grpc_port": find_free_port(),
        "serving.transformer_port": find_free_port(),
        "serving.transformer_grpc_port": find_free_port(),
        "serving.payload_logging": "false",
        "security.serving.require_approval": "false",  # a stand-in bundle, not a version
    }
    cmd = [sys.executable, "-m", "veracity", "--params", str(repo_root / "params.yaml")]
    for key, value in sets.items():
        cmd += ["--set", f"{key}={value}"]
    cmd += ["serve", "--model", str(bundle), "--log-dir", str(tmp_path / "logs")]
    cli = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    pids, output = {}, []
    try:
        deadline = time.monotonic() + cfg.serving.ready_timeout_s
        while len(pids) < 2 and time.monotonic() < deadline:
            line = cli.stdout.readline()
            if not line:
                break
            output.append(line)
            match = re.match(r"(predictor|transformer)\s.*\(pid (\d+)\)", line)
            if match:
                pids[match[1]] = int(match[2])
        assert len(pids) == 2, "".join(output)
        assert all(_alive(pid) for pid in pids.values())
        cli.send_signal(signal.SIGTERM)
        assert cli.wait(timeout=60) == 0
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(pid) for pid in pids.values()), pids
    finally:
        if cli.poll() is None:
            cli.kill()
        for pid in pids.values():
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
