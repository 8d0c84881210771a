"""PayloadLogger: buffered writes to local sinks, never failing the caller, counting losses."""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest

from veracity.monitoring.payload import PayloadLogger
from veracity.monitoring.schema import PAYLOAD_SCHEMA_VERSION, RAW_AUDIO_KEY, normalize_row
from veracity.monitoring.sinks import LocalSink, read_payloads


def _cfg(cfg, tmp_path, **changes):
    base = {
        "sink": str(tmp_path / "payloads"),
        "spill_dir": str(tmp_path / "spill"),
        "flush_interval_s": 0.05,
        "buffer_rows": 4,
    }
    base.update(changes)
    return cfg.monitoring.model_copy(update=base)


def _row(i: int) -> dict:
    return {"snr_db": np.float32(20.0 + i), "label": "HUMAN", "s1_score": 0.1, "n": np.int64(i)}


def test_normalize_row_is_flat_json_and_strips_raw_audio():
    row = normalize_row(
        {"a": np.float32(1.5), "b": float("nan"), "c": {"x": 1}, RAW_AUDIO_KEY: "UklGRg=="},
        log_raw_audio=False,
    )
    assert row["a"] == 1.5 and row["b"] is None and row["c"] == '{"x": 1}'
    assert RAW_AUDIO_KEY not in row
    assert row["timestamp"] and row["payload_schema"] == PAYLOAD_SCHEMA_VERSION
    kept = normalize_row({RAW_AUDIO_KEY: "UklGRg=="}, log_raw_audio=True)
    assert kept[RAW_AUDIO_KEY] == "UklGRg=="


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_rows_reach_the_local_sink(cfg, tmp_path, fmt):
    mcfg = _cfg(cfg, tmp_path, format=fmt)
    logger = PayloadLogger(mcfg, cfg.storage)
    for i in range(10):
        assert logger.log(_row(i)) is True
    stats = logger.close()
    assert stats["written"] == 10 and stats["dropped"] == 0 and stats["lost"] == 0
    files = list((tmp_path / "payloads").rglob(f"*.{fmt}"))
    assert files and all(f.parent.name.startswith("date=") for f in files)
    rows = read_payloads(tmp_path / "payloads", cfg.storage)
    assert sorted(rows["n"].tolist()) == list(range(10))
    assert rows["snr_db"].min() == pytest.approx(20.0)


def test_invalid_rows_and_closed_logger_are_counted_not_raised(cfg, tmp_path):
    logger = PayloadLogger(_cfg(cfg, tmp_path), cfg.storage)
    assert logger.log(["not", "a", "mapping"]) is False
    assert logger.log({1: "non-string key"}) is False
    logger.close()
    assert logger.log(_row(0)) is False
    stats = logger.stats()
    assert stats["dropped"] == 3 and "closed" in stats["last_error"]


class _BlockingSink(LocalSink):
    """A real local sink whose writes wait until released (a slow or hung storage)."""

    def __init__(self, root, fmt):
        super().__init__(root, fmt)
        self.release = threading.Event()

    def write(self, rows):
        self.release.wait(10)
        return super().write(rows)


def test_full_queue_drops_and_counts(cfg, tmp_path):
    mcfg = _cfg(cfg, tmp_path, max_queue_rows=5, buffer_rows=1)
    sink = _BlockingSink(tmp_path / "payloads", "jsonl")
    logger = PayloadLogger(mcfg, cfg.storage, sink=sink)
    accepted = sum(logger.log(_row(i)) for i in range(50))
    stats = logger.stats()
    assert stats["dropped"] == 50 - accepted and stats["dropped"] >= 40
    assert "queue full" in stats["last_error"]
    sink.release.set()
    final = logger.close()
    assert final["written"] == accepted and final["lost"] == 0


def test_sink_that_becomes_a_file_fails_flushes_without_failing_log(cfg, tmp_path):
    root = tmp_path / "payloads"
    logger = PayloadLogger(_cfg(cfg, tmp_path, max_flush_retries=100), cfg.storage)
    for i in range(4):
        logger.log(_row(i))
    assert logger.flush() and logger.stats()["written"] == 4
    # The sink directory is replaced by a regular file: every write now fails (even as root).
    shutil.rmtree(root)
    root.write_text("not a directory")
    for i in range(4, 10):
        assert logger.log(_row(i)) is True  # the caller never sees the failure
    assert logger.flush()
    stats = logger.stats()
    assert stats["failures"] >= 1 and stats["retrying"] == 6 and stats["written"] == 4
    assert "failed" in stats["last_error"]
    # Storage comes back: the retried rows are written, nothing was lost.
    root.unlink()
    assert logger.flush()
    final = logger.close()
    assert final["written"] == 10 and final["lost"] == 0 and final["retrying"] == 0
    # The first four rows went away with the directory; the six retried ones are there.
    assert sorted(read_payloads(root, cfg.storage)["n"]) == list(range(4, 10))


def test_rows_are_spilled_after_retries_and_resent_when_the_sink_returns(cfg, tmp_path):
    root = tmp_path / "payloads"
    root.write_text("a file where the sink directory should be")
    logger = PayloadLogger(_cfg(cfg, tmp_path, max_flush_retries=1), cfg.storage)
    for i in range(3):
        logger.log(_row(i))
    logger.flush()
    logger.flush()  # second failed attempt exceeds max_flush_retries=1
    stats = logger.stats()
    assert stats["spilled"] == 3 and stats["lost"] == 0 and stats["written"] == 0
    assert sorted(read_payloads(tmp_path / "spill", cfg.storage)["n"]) == [0, 1, 2]
    root.unlink()  # the sink comes back: the next successful write re-sends the spill
    logger.log(_row(3))
    logger.flush()
    final = logger.close()
    assert final["replayed"] == 3 and final["written"] == 1 and final["lost"] == 0
    assert sorted(read_payloads(root, cfg.storage)["n"]) == [0, 1, 2, 3]
    assert not list((tmp_path / "spill").rglob("*.jsonl"))


def test_rows_are_lost_only_when_the_spill_fails_too(cfg, tmp_path):
    (tmp_path / "payloads").write_text("not a directory")
    (tmp_path / "spill").write_text("not a directory either")
    logger = PayloadLogger(_cfg(cfg, tmp_path, max_flush_retries=0), cfg.storage)
    for i in range(3):
        logger.log(_row(i))
    logger.flush()
    stats = logger.close()
    assert stats["lost"] == 3 and stats["spilled"] == 0 and stats["failures"] >= 1
