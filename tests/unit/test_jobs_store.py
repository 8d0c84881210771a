"""The job store on SQLite: migrations match the model, transitions keep results stable."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from veracity.jobs.migrate import current_revision, head_revision, run_migrations
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
