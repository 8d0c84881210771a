"""CloudEvents receiver: KServe-logger-shaped events in, payload rows out, 400 for bad events."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from monitor_helpers import kserve_headers, verdict

from veracity.monitoring.receiver import (
    CE_REQUEST,
    CE_RESPONSE,
    EventPairer,
    create_receiver_app,
)
from veracity.monitoring.sinks import read_payloads


@pytest.fixture
def app_and_sink(cfg, tmp_path):
    mcfg = cfg.monitoring.model_copy(
        update={"sink": str(tmp_path / "payloads"), "flush_interval_s": 0.05}
    )
    from veracity.monitoring.admission import allowed_columns

    app = create_receiver_app(mcfg, cfg.storage, allowed=allowed_columns(cfg))
    return app, tmp_path / "payloads"


def test_pairs_request_and_response_into_one_row(app_and_sink, cfg):
    app, sink = app_and_sink
    with TestClient(app) as client:
        r = client.post(
            "/",
            content=b"RIFF....WAVEfmt audio bytes",
            headers=kserve_headers("req-1", CE_REQUEST, "audio/wav"),
        )
        assert r.status_code == 200, r.text
        r = client.post(
            "/",
            content=json.dumps({"predictions": [verdict()]}),
            headers=kserve_headers("req-1", CE_RESPONSE),
        )
        assert r.status_code == 200, r.text
        # response first, request later: still paired
        client.post(
            "/events",
            content=json.dumps(verdict("HUMAN", 30.0)),
            headers=kserve_headers("req-2", CE_RESPONSE),
        )
        client.post(
            "/events",
            content=json.dumps({"instances": []}),
            headers=kserve_headers("req-2", CE_REQUEST),
        )
        # the predictor's own events (tensors, no verdict) are acknowledged and skipped
        predictor = kserve_headers("req-1", CE_RESPONSE) | {"ce-component": "predictor"}
        r = client.post("/", content=b'{"outputs": []}', headers=predictor)
        assert r.status_code == 200 and r.json()["component"] == "predictor"
        stats = client.get("/stats").json()
        assert stats["pairing"]["paired"] == 2 and stats["rejected"] == 0
        assert stats["ignored"] == 1
    rows = read_payloads(sink, cfg.storage).set_index("request_id")
    assert sorted(rows.index) == ["req-1", "req-2"]
    first = rows.loc["req-1"]
    assert first["label"] == "AI" and first["snr_db"] == 12.5 and bool(first["paired"])
    assert first["request_content_type"] == "audio/wav" and first["request_bytes"] == 27
    assert first["inference_service"] == "veracity-voice" and first["component"] == "transformer"
    assert "raw_audio_b64" not in rows.columns  # uploads are not retained by default
    assert rows.loc["req-2", "label"] == "HUMAN"


@pytest.mark.parametrize(
    ("drop", "change", "body", "message"),
    [
        ("ce-id", {}, b"{}", "missing ce-id"),
        ("ce-specversion", {}, b"{}", "missing ce-specversion"),
        (None, {"ce-specversion": "0.3"}, b"{}", "specversion"),
        (None, {"ce-type": "com.example.other"}, b"{}", "ce-type"),
        (None, {}, b"not json {", "JSON"),
        (None, {}, b"[1, 2]", "JSON object"),
        (None, {}, json.dumps({"outputs": []}).encode(), "verdict"),
    ],
)
def test_malformed_events_get_400(app_and_sink, drop, change, body, message):
    app, _ = app_and_sink
    headers = kserve_headers("bad", CE_RESPONSE) | change
    headers.pop(drop, None)
    with TestClient(app) as client:
        r = client.post("/", content=body, headers=headers)
        assert r.status_code == 400
        assert message in r.json()["error"]
        assert client.get("/stats").json()["rejected"] == 1


def test_unpaired_response_is_written_after_timeout_not_lost():
    clock = [0.0]
    pairer = EventPairer(timeout_s=5.0, max_pending=100, clock=lambda: clock[0])
    assert pairer.add_response("a", [{"label": "AI"}]) == []
    assert pairer.add_request("lonely", {"request_id": "lonely"}) == []
    clock[0] = 10.0
    rows = pairer.expire()
    assert rows == [{"label": "AI", "paired": False}]
    assert pairer.counts == {"paired": 0, "unpaired_responses": 1, "unanswered_requests": 1}
    pairer.add_response("b", [{"label": "HUMAN"}])
    assert pairer.drain() == [{"label": "HUMAN", "paired": False}]
