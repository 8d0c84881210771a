"""PayloadLogger against a real S3 server (SeaweedFS) that is stopped mid-run.

The test starts its own SeaweedFS (the shared ``s3_server`` fixture must stay up for other
tests), logs rows, stops the server by pid, keeps logging, and checks that no call failed
or blocked, that the failed flushes and lost rows are counted, and that the rows written
before the outage can be read back by the drift job's reader.
"""

from __future__ import annotations

import os
import signal

import pytest
from fixtures_data import start_seaweedfs

from veracity.monitoring.payload import PayloadLogger
from veracity.monitoring.sinks import read_payloads

pytestmark = pytest.mark.integration


@pytest.fixture
def own_s3(tmp_path, monkeypatch):
    """A SeaweedFS S3 server for this test only; yields (server, proc)."""
    server, proc = start_seaweedfs(tmp_path, user="monitor-test")
    try:
        for key, value in server.env.items():
            monkeypatch.setenv(key, value)
        yield server, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _row(i: int) -> dict:
    return {"snr_db": 20.0 + i, "label": "AI", "s1_score": 0.8, "seq": i}


def test_s3_sink_outage_is_counted_and_never_fails_logging(cfg, own_s3, tmp_path):
    server, proc = own_s3
    bucket = server.make_bucket()
    uri = f"s3://{bucket}/payloads"
    mcfg = cfg.monitoring.model_copy(
        update={
            "sink": uri,
            "flush_interval_s": 0.1,
            "buffer_rows": 5,
            "max_flush_retries": 1,
            "spill_dir": str(tmp_path / "spill"),
        }
    )
    storage = server.storage_cfg()
    logger = PayloadLogger(mcfg, storage)
    for i in range(10):
        assert logger.log(_row(i))
    assert logger.flush(timeout=60)
    assert logger.stats()["written"] == 10
    before = read_payloads(uri, storage)
    assert sorted(before["seq"]) == list(range(10))

    os.killpg(proc.pid, signal.SIGKILL)  # the storage crashes mid-run
    proc.wait(timeout=30)
    for i in range(10, 20):
        assert logger.log(_row(i)) is True  # accepted, never raises (the writer thread retries)
    assert logger.stats()["logged"] == 20
    logger.flush(timeout=120)
    stats = logger.close(timeout=120)
    assert stats["written"] == 10
    assert stats["failures"] >= 2  # first attempt + one retry (max_flush_retries=1)
    # the rows are kept on local disk, not lost
    assert stats["spilled"] == 10 and stats["lost"] == 0 and stats["dropped"] == 0
    assert sorted(read_payloads(tmp_path / "spill", storage)["seq"]) == list(range(10, 20))
    assert bucket in stats["last_error"] and "failed" in stats["last_error"]
