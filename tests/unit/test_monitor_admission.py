"""Receiver admission: token, body cap, allow-listed columns, server-side receive time."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from monitor_helpers import kserve_headers, verdict

from veracity.monitoring.admission import admit_row, allowed_columns
from veracity.monitoring.receiver import CE_RESPONSE, create_receiver_app
from veracity.monitoring.sinks import read_payloads

TOKEN = "s3cret-token"


@pytest.fixture
def guarded(cfg, tmp_path):
    mcfg = cfg.monitoring.model_copy(
        update={"sink": str(tmp_path / "payloads"), "flush_interval_s": 0.05}
    )
    app = create_receiver_app(mcfg, cfg.storage, token=TOKEN, allowed=allowed_columns(cfg))
    return app, tmp_path / "payloads"


def _forged() -> bytes:
    body = verdict("HUMAN", 99.0)
    body["monitoring"] |= {"timestamp": "2020-01-01T00:00:00+00:00", "invented": 1.0}
    return json.dumps(body).encode()


def test_events_without_the_token_are_refused(guarded, cfg):
    app, sink = guarded
    header = cfg.monitoring.receiver.token_header
    with TestClient(app) as client:
        r = client.post("/", content=_forged(), headers=kserve_headers("f1", CE_RESPONSE))
        assert r.status_code == 401 and header in r.json()["error"]
        wrong = kserve_headers("f2", CE_RESPONSE) | {header: "guess"}
        assert client.post("/", content=_forged(), headers=wrong).status_code == 401
        assert client.get("/stats").json()["rejected"] == 2
    assert not sink.exists() or not list(sink.rglob("*.jsonl"))


def test_forged_columns_and_timestamp_do_not_reach_the_log(guarded, cfg):
    app, sink = guarded
    headers = kserve_headers("ok", CE_RESPONSE) | {cfg.monitoring.receiver.token_header: TOKEN}
    with TestClient(app) as client:
        assert client.post("/", content=_forged(), headers=headers).status_code == 200
    rows = read_payloads(sink, cfg.storage)
    assert len(rows) == 1
    assert "invented" not in rows.columns
    assert not str(rows["timestamp"].iloc[0]).startswith("2020")
    assert rows["snr_db"].iloc[0] == 99.0


def test_token_in_the_url_is_accepted_for_the_kserve_logger(guarded):
    app, _ = guarded
    with TestClient(app) as client:
        ok = client.post(f"/?token={TOKEN}", content=_forged(),
                         headers=kserve_headers("q1", CE_RESPONSE))  # fmt: skip
        assert ok.status_code == 200
        bad = client.post("/?token=nope", content=_forged(),
                          headers=kserve_headers("q2", CE_RESPONSE))  # fmt: skip
        assert bad.status_code == 401


def test_oversize_event_gets_413_before_it_is_read(guarded, cfg):
    app, _ = guarded
    limit = cfg.monitoring.receiver.max_body_bytes
    headers = kserve_headers("big", CE_RESPONSE) | {cfg.monitoring.receiver.token_header: TOKEN}
    with TestClient(app) as client:
        r = client.post("/", content=b"x" * (limit + 1), headers=headers)
        assert r.status_code == 413 and r.json()["type"] == "PayloadTooLargeError"


def test_admit_row_keeps_known_columns_and_stamps_time():
    row = admit_row(
        {"snr_db": 1.0, "evil": 2, "timestamp": "2020"},
        frozenset({"snr_db", "timestamp"}),
        now="2026-01-01T00:00:00",
    )
    assert row == {"snr_db": 1.0, "timestamp": "2026-01-01T00:00:00"}
