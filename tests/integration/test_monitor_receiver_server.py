"""`veracity monitor collect` as a real process on loopback, fed KServe-logger events."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import pytest
from monitor_helpers import kserve_headers, verdict

from veracity.monitoring.receiver import CE_REQUEST, CE_RESPONSE
from veracity.monitoring.sinks import read_payloads
from veracity.serving.process import find_free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def receiver(tmp_path, repo_root):
    port = find_free_port()
    sink = tmp_path / "payloads"
    log_path = tmp_path / "receiver.log"
    cmd = [
        sys.executable,
        "-m",
        "veracity",
        "--params",
        str(repo_root / "params.yaml"),
        "--set",
        f"monitoring.sink={sink}",
        "--set",
        "monitoring.flush_interval_s=0.2",
        "monitor",
        "collect",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, log_path.read_text()
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail(f"receiver did not start: {log_path.read_text()[-2000:]}")
    yield url, proc, sink
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)


def test_receiver_process_logs_rows_and_rejects_malformed(cfg, receiver):
    url, proc, sink = receiver
    for i in range(5):
        rid = f"req-{i}"
        r = httpx.post(
            url, content=b"OggS fake upload", headers=kserve_headers(rid, CE_REQUEST, "audio/ogg")
        )
        assert r.status_code == 200, r.text
        r = httpx.post(
            url,
            content=json.dumps(verdict("INCONCLUSIVE" if i % 2 else "AI", 10.0 + i)),
            headers=kserve_headers(rid, CE_RESPONSE),
        )
        assert r.status_code == 200, r.text
    bad = kserve_headers("x", CE_RESPONSE)
    del bad["ce-source"]
    r = httpx.post(url, content=b"{}", headers=bad)
    assert r.status_code == 400 and "ce-source" in r.json()["error"]
    r = httpx.post(url, content=b"\x00\x01 not json", headers=kserve_headers("y", CE_RESPONSE))
    assert r.status_code == 400 and "JSON" in r.json()["error"]
    stats = httpx.get(f"{url}/stats").json()
    assert stats["accepted"] == 10 and stats["rejected"] == 2 and stats["pairing"]["paired"] == 5
    proc.terminate()  # graceful stop flushes the payload log
    # uvicorn shuts down gracefully (lifespan closes the logger), then re-raises SIGTERM
    assert proc.wait(timeout=60) in (0, -15)
    rows = read_payloads(sink, cfg.storage)
    assert sorted(rows["request_id"]) == [f"req-{i}" for i in range(5)]
    assert rows["paired"].all() and set(rows["request_content_type"]) == {"audio/ogg"}
    assert sorted(rows["label"]) == ["AI", "AI", "AI", "INCONCLUSIVE", "INCONCLUSIVE"]
