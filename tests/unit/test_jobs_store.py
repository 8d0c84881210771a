"""The job store on SQLite: migrations match the model, transitions keep results stable."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from veracity.jobs.errors import JobBusyError
from veracity.jobs.migrate import alembic_config, current_revision, head_revision, run_migrations
from veracity.jobs.store import COMPLETED, FAILED, QUEUED, RUNNING, Base, JobStore, make_engine

JOB = "0f8c6f5e-2f0a-4d47-9a53-0c6c1b1d2e3f"


@pytest.fixture()
def store(tmp_path) -> JobStore:
    engine = make_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
    run_migrations(engine)
    return JobStore(engine)


def test_migrations_build_the_table_the_model_describes(store):
    assert current_revision(store.engine) == head_revision() != ""
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    assert run_migrations(store.engine) == head_revision()  # a second start changes nothing


def test_lifecycle_and_active_count(store):
    created = store.create(JOB, "voice", "spool:" + JOB)
    assert (created.status, created.progress, created.attempts) == (QUEUED, 0, 0)
    assert store.count_active() == 1
    claimed = store.claim(JOB)
    assert (claimed.status, claimed.attempts) == (RUNNING, 1)
    store.set_progress(JOB, 40, "scoring")
    store.set_progress(JOB, 10, "late")  # progress never goes back
    assert (store.get(JOB).progress, store.get(JOB).stage) == (40, "late")
    done = store.complete(JOB, {"label": "AI"}, "m:v1")
    assert (done.status, done.progress, done.result) == (COMPLETED, 100, {"label": "AI"})
    assert store.count_active() == 0
    view = store.get(JOB).status_view()
    assert view["result"] == {"label": "AI"} and "error" not in view


def test_a_terminal_job_keeps_its_first_answer(store):
    store.create(JOB, "voice", "s3://b/k.wav")
    store.claim(JOB)
    store.complete(JOB, {"label": "AI"}, "m:v1")
    assert store.claim(JOB).status == COMPLETED  # a redelivery does not start it again
    store.complete(JOB, {"label": "HUMAN"}, "m:v2")
    store.fail(JOB, "late failure")
    record = store.get(JOB)
    assert (record.status, record.result, record.model_version) == (
        COMPLETED, {"label": "AI"}, "m:v1")  # fmt: skip
    assert record.attempts == 1


def test_failure_and_retry_note(store):
    store.create(JOB, "voice", "spool:" + JOB)
    store.claim(JOB)
    store.requeue(JOB, "transformer unavailable")
    waiting = store.get(JOB)
    assert (waiting.status, waiting.stage) == (QUEUED, "retrying")
    assert waiting.status_view()["note"] == "transformer unavailable"
    store.claim(JOB)
    failed = store.fail(JOB, "gave up")
    assert (failed.status, failed.attempts, failed.error) == (FAILED, 2, "gave up")
    assert failed.status_view()["error"] == "gave up" and "result" not in failed.status_view()
    assert store.get("no-such-job") is None and store.claim("no-such-job") is None


def test_the_bound_refuses_an_insert_and_a_fresh_claim_refuses_a_duplicate(store):
    other = "1f8c6f5e-2f0a-4d47-9a53-0c6c1b1d2e3f"
    assert store.create(JOB, "voice", "s3://b/k.wav", max_active=1).status == QUEUED
    assert store.create(other, "voice", "s3://b/k.wav", max_active=1) is None
    assert store.get(other) is None and store.count_active() == 1
    assert store.claim(JOB, lease_s=60).attempts == 1
    with pytest.raises(JobBusyError) as busy:
        store.claim(JOB, lease_s=60)  # claimed a moment ago: another delivery runs it
    assert 59 < busy.value.retry_in_s <= 60 and store.get(JOB).attempts == 1
    assert store.claim(JOB, lease_s=0).attempts == 2  # an expired claim: a redelivery
    store.complete(JOB, {"label": "AI"}, "m:v1")
    assert store.create(other, "voice", "s3://b/k.wav", max_active=1).status == QUEUED


def test_rows_from_revision_0001_count_as_published(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.connect() as conn:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.execute(text(
            "INSERT INTO detection_jobs (id, video_url, modality, status, progress, stage, "
            "attempts, created_at, updated_at, started_at) VALUES (:id, 's3://b/k', 'voice', "
            "'running', 40, 'scoring', 1, '2026-01-01 00:00:00', '2026-01-01 00:00:05', "
            "'2026-01-01 00:00:01')"), {"id": JOB})  # fmt: skip
        conn.commit()
    run_migrations(engine)
    record = JobStore(engine).get(JOB)
    assert record.published_at == record.created_at and record.claimed_at == record.started_at
