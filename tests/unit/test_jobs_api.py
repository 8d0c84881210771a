"""The job API in-process on a SQLite store: submissions, refusals, status, SSE.

The queue is a list here (the integration test runs real Celery on Redis)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from veracity.config import parse_config
from veracity.jobs.api import JobService, create_app
from veracity.jobs.migrate import run_migrations
from veracity.jobs.sources import Spool
from veracity.jobs.store import JobStore, make_engine


def _wav(seconds: float, sr: int = 16000) -> bytes:
    buf = io.BytesIO()
    t = np.arange(int(seconds * sr)) / sr
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 150 * t)).astype(np.float32), sr, format="WAV",
             subtype="PCM_16")  # fmt: skip
    return buf.getvalue()


@pytest.fixture()
def api(cfg, tmp_path):
    raw = cfg.to_dict()
    small = parse_config(raw, {"jobs.max_active_jobs": 2, "jobs.max_upload_bytes": 200_000,
                               "jobs.max_media_seconds": 5.0, "jobs.sse_poll_interval_s": 0.01})  # fmt: skip
    engine = make_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
    run_migrations(engine)
    queued: list[str] = []
    service = JobService(small, JobStore(engine), Spool(tmp_path / "spool"), queued.append)
    with TestClient(create_app(service)) as client:
        yield client, service, queued


def test_upload_is_spooled_stored_and_queued(api):
    client, service, queued = api
    reply = client.post(
        "/analyze", files={"file": ("a.wav", _wav(1.0))}, data={"modality": "voice"}
    )
    assert reply.status_code == 202, reply.text
    job_id = reply.json()["job_id"]
    assert queued == [job_id] and reply.headers["location"] == f"/jobs/{job_id}"
    record = service.store.get(job_id)
    assert (record.status, record.modality, record.video_url) == (
        "queued",
        "voice",
        f"spool:{job_id}",
    )
    assert service.spool.load(record.video_url) == _wav(1.0)
    status = client.get(f"/jobs/{job_id}").json()
    assert (status["status"], status["progress"], status["stage"]) == ("queued", 0, "queued")


def test_s3_source_and_default_modality(api):
    client, service, queued = api
    reply = client.post("/analyze", json={"url": "s3://bucket/a/clip.wav"})
    assert reply.status_code == 202
    assert service.store.get(queued[0]).video_url == "s3://bucket/a/clip.wav"
    assert client.post("/analyze", json={"url": "http://x/y.wav"}).status_code == 400
    assert client.post("/analyze", json={"url": "s3://bucket/"}).status_code == 400


@pytest.mark.parametrize(
    ("body", "status", "kind"),
    [
        (b"not audio at all" * 8, 415, "AudioDecodeError"),
        (_wav(6.0), 413, "PayloadTooLargeError"),  # 6 s > 5 s, from the header
        (b"\0" * 300_000, 413, "PayloadTooLargeError"),  # > max_upload_bytes
        (_wav(0.5, 16001), 422, "AudioContentError"),
    ],
)
def test_refusals_before_a_job_exists(api, body, status, kind):
    client, service, queued = api
    reply = client.post("/analyze", files={"file": ("x.wav", body)}, data={"modality": "voice"})
    assert reply.status_code == status, reply.text
    assert reply.json()["type"] == kind and "expected" in reply.json()["error"]
    assert queued == [] and service.store.count_active() == 0


def test_bad_requests(api):
    client, _, queued = api
    assert client.post("/analyze", content=b"x=1", headers={"content-type": "text/plain"}
                       ).status_code == 415  # fmt: skip
    unknown = client.post("/analyze", files={"file": ("a.wav", _wav(1.0))}, data={"modality": "x"})
    assert unknown.status_code == 422 and "voice" in unknown.json()["error"]
    video = client.post("/analyze-video", files={"file": ("a.mp4", b"\0" * 10)})
    assert video.status_code == 415 and "video" in video.json()["error"]  # header check
    assert client.get("/jobs/nope").status_code == 404
    assert queued == []


def test_full_queue_answers_503_with_retry_after(api, cfg):
    client, _, queued = api
    for _ in range(2):
        assert client.post("/analyze", json={"url": "s3://b/k.wav"}).status_code == 202
    full = client.post("/analyze", json={"url": "s3://b/k.wav"})
    assert full.status_code == 503 and full.headers["retry-after"] == str(cfg.jobs.retry_after_s)
    assert len(queued) == 2


def test_sse_of_a_finished_job(api):
    client, service, queued = api
    client.post("/analyze", json={"url": "s3://b/k.wav"})
    job_id = queued[0]
    service.store.claim(job_id)
    service.store.fail(job_id, "the transformer refused the media (415)")
    with client.stream("GET", f"/jobs/{job_id}/events") as reply:
        text = reply.read().decode()
    frames = [f for f in text.split("\n\n") if f.strip()]
    assert frames[0].startswith("event: progress") and frames[-1].startswith("event: failed")
    assert json.loads(frames[-1].split("data: ", 1)[1])["error"].endswith("(415)")
    assert "/jobs/{job_id}/events" in client.get("/openapi.json").json()["paths"]
