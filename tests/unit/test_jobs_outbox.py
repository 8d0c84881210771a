"""The outbox on a SQLite store: which queued jobs a pass publishes again, a failed publish,
and the API's passes at start-up and on its interval (the queue is a list here; the
integration test publishes to a real Redis and a Celery worker runs the jobs)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from veracity.config import parse_config
from veracity.errors import ServingError
from veracity.jobs.api import JobService, create_app
from veracity.jobs.migrate import run_migrations
from veracity.jobs.outbox import mark_published, publish_due
from veracity.jobs.sources import Spool
from veracity.jobs.store import DetectionJob, JobStore, make_engine


@pytest.fixture()
def store(tmp_path) -> JobStore:
    engine = make_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
    run_migrations(engine)
    return JobStore(engine)


def _job(store: JobStore, age_s: float = 0.0, published_age_s: float | None = None) -> str:
    """A queued job inserted ``age_s`` ago, published ``published_age_s`` ago (None: never)."""
    job_id = str(uuid.uuid4())
    store.create(job_id, "voice", "s3://bucket/clip.wav")
    now = datetime.now(UTC)
    published = None if published_age_s is None else now - timedelta(seconds=published_age_s)
    with store.engine.begin() as conn:
        conn.execute(update(DetectionJob).where(DetectionJob.id == job_id).values(
            created_at=now - timedelta(seconds=age_s), published_at=published))  # fmt: skip
    return job_id


def test_a_pass_publishes_the_jobs_whose_message_may_be_missing(cfg, store):
    jobs = cfg.jobs
    old = jobs.publish_grace_s + 5
    crashed = _job(store, age_s=old)  # stored, never published: the crash window
    in_flight = _job(store, age_s=0)  # a submission between its insert and its publish
    waiting = _job(store, age_s=old, published_age_s=old)  # in the queue, behind others
    lost = _job(store, age_s=2 * jobs.republish_after_s, published_age_s=jobs.republish_after_s + 5)
    running = _job(store, age_s=old)
    store.claim(running)  # a running job's message is the broker's to restore
    published: list[str] = []
    assert publish_due(store, published.append, jobs) == [lost, crashed]  # oldest first
    assert published == [lost, crashed]
    assert publish_due(store, published.append, jobs) == []  # stamped: not again
    assert store.get(in_flight).published_at is None and store.get(waiting).published_at
    mark_published(store, in_flight)
    assert store.get(in_flight).published_at is not None


def test_a_failed_publish_leaves_the_job_to_the_next_pass(cfg, store):
    crashed = _job(store, age_s=cfg.jobs.publish_grace_s + 5)

    def broker_down(job_id: str) -> None:
        raise ServingError("the job queue did not take it")

    assert publish_due(store, broker_down, cfg.jobs) == []
    assert store.get(crashed).published_at is None
    published: list[str] = []
    assert publish_due(store, published.append, cfg.jobs) == [crashed] == published


def test_the_api_publishes_missing_jobs_at_start_up_then_on_its_interval(cfg, store, tmp_path):
    small = parse_config(cfg.to_dict(), {"jobs.republish_interval_s": 0.05})
    old = small.jobs.publish_grace_s + 5
    before = _job(store, age_s=old)  # left by an API that crashed before publishing
    published: list[str] = []
    service = JobService(small, store, Spool(tmp_path / "spool"), published.append)
    with TestClient(create_app(service)) as client:
        assert published == [before]  # before the API answered its first request
        submitted = client.post("/analyze", json={"url": "s3://b/k.wav"}).json()["job_id"]
        assert published == [before, submitted] and store.get(submitted).published_at
        during = _job(store, age_s=old)
        deadline = time.monotonic() + 10
        while during not in published and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)  # a few more passes: nothing is published twice
    assert published == [before, submitted, during]
