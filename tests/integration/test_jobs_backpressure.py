"""The bounded queue under concurrent submissions, on SQLite and on a real PostgreSQL.

Many clients submit at the same moment (a barrier releases their threads together) against
the in-process API; whatever the interleaving, no more than ``jobs.max_active_jobs`` jobs
may exist afterwards, and every other client gets 503 + Retry-After. A count followed by a
separate insert lets them all through; the store's conditional insert must not.
"""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest
from fastapi.testclient import TestClient
from jobs_helpers import start_postgres, stop_postgres

from veracity.config import parse_config
from veracity.jobs.api import JobService, create_app
from veracity.jobs.migrate import run_migrations
from veracity.jobs.sources import Spool
from veracity.jobs.store import JobStore, make_engine

pytestmark = pytest.mark.integration

CLIENTS, LIMIT = 12, 3


@pytest.fixture(scope="module")
def postgres():
    pg = start_postgres()
    yield pg
    stop_postgres(pg)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'jobs.db'}"
    pg = request.getfixturevalue("postgres")
    name = f"jobs_{uuid.uuid4().hex[:12]}"  # a fresh database per test
    dsn = pg.url.replace("+psycopg", "")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return pg.url.rsplit("/", 1)[0] + "/" + name


def test_concurrent_submissions_never_exceed_the_bound(cfg, tmp_path, database_url):
    small = parse_config(cfg.to_dict(), {"jobs.max_active_jobs": LIMIT})
    engine = make_engine(database_url)
    run_migrations(engine)
    store = JobStore(engine)
    published: list[str] = []
    service = JobService(small, store, Spool(tmp_path / "spool"), published.append)
    barrier = threading.Barrier(CLIENTS)
    replies = []

    def client_thread(client: TestClient) -> None:
        barrier.wait()
        replies.append(client.post("/analyze", json={"url": "s3://bucket/clip.wav"}))

    with TestClient(create_app(service)) as client:
        threads = [threading.Thread(target=client_thread, args=(client,)) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    statuses = sorted(reply.status_code for reply in replies)
    assert len(statuses) == CLIENTS
    assert store.count_active() == LIMIT, statuses
    assert statuses == [202] * LIMIT + [503] * (CLIENTS - LIMIT)
    refused = [reply for reply in replies if reply.status_code == 503]
    assert all(r.headers["retry-after"] == str(small.jobs.retry_after_s) for r in refused)
    assert all(r.json()["type"] == "QueueFullError" for r in refused)
    assert len(published) == LIMIT
    engine.dispose()
