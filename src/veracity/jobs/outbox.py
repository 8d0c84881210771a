"""The outbox of the job queue: the API publishes again queued jobs whose message may be gone.

A submission inserts the job's row, publishes its id, then records ``published_at``
(:func:`mark_published`). A crash between the insert and the publish leaves a queued row
that no message names: no worker would ever run it. So the API runs :func:`publish_due`
once at start-up (before it answers) and every ``jobs.republish_interval_s``; a pass
publishes

- queued jobs still unpublished ``jobs.publish_grace_s`` after their insert (the grace
  spares submissions that are between their insert and their publish right now), and
- queued jobs last published more than ``jobs.republish_after_s`` ago (beyond the
  visibility timeout, so a message Redis still holds would have come back by then: this
  one was lost, e.g. with a Redis that lost its data).

Each pass first takes its jobs with one conditional ``UPDATE ... RETURNING`` (stamping
``published_at``), so API replicas running passes at once never publish the same job
twice; a publish that fails hands its job back to the next pass. A message that turns out
to be a duplicate is harmless: a worker runs a job only from ``queued`` (or once the last
claim is older than ``jobs.time_limit_s``), and a finished job keeps its first result.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, or_, update
from sqlalchemy.orm import Session

from veracity.errors import VeracityError
from veracity.jobs.config import JobsConfig
from veracity.jobs.store import QUEUED, DetectionJob, JobStore

log = logging.getLogger(__name__)


def mark_published(store: JobStore, job_id: str) -> None:
    """Record that ``job_id``'s message is in the queue now."""
    with Session(store.engine) as session, session.begin():
        session.execute(
            update(DetectionJob)
            .where(DetectionJob.id == job_id)
            .values(published_at=datetime.now(UTC))
        )


def take_due(store: JobStore, jobs: JobsConfig) -> tuple[list[str], datetime]:
    """Stamp the queued jobs that need a message as published now; returns their ids (oldest
    first) and the stamp (:func:`release` needs it)."""
    now = datetime.now(UTC)
    due = and_(
        DetectionJob.status == QUEUED,
        or_(
            and_(
                DetectionJob.published_at.is_(None),
                DetectionJob.created_at <= now - timedelta(seconds=jobs.publish_grace_s),
            ),
            DetectionJob.published_at <= now - timedelta(seconds=jobs.republish_after_s),
        ),
    )
    with Session(store.engine) as session, session.begin():
        taken = session.execute(
            update(DetectionJob)
            .where(due)
            .values(published_at=now)
            .returning(DetectionJob.id, DetectionJob.created_at)
            .execution_options(synchronize_session=False)
        ).all()
    return [job_id for job_id, _ in sorted(taken, key=lambda row: row[1])], now


def release(store: JobStore, job_id: str, stamp: datetime) -> None:
    """Hand a taken job back (its publish failed): unpublished, so the next pass takes it."""
    with Session(store.engine) as session, session.begin():
        session.execute(
            update(DetectionJob)
            .where(DetectionJob.id == job_id, DetectionJob.published_at == stamp)
            .values(published_at=None)
        )


def publish_due(store: JobStore, publish: Callable[[str], None], jobs: JobsConfig) -> list[str]:
    """One pass of the outbox: publish every queued job whose message may be missing;
    returns the ids it published."""
    job_ids, stamp = take_due(store, jobs)
    published = []
    for job_id in job_ids:
        try:
            publish(job_id)
        except VeracityError as exc:  # the broker is down: the next pass tries again
            log.warning("job %s is still unpublished: %s", job_id, exc)
            release(store, job_id, stamp)
            continue
        published.append(job_id)
    if published:
        log.warning(
            "published %d queued job(s) whose message was missing (a crash between a job's "
            "insert and its publish, or a lost message): %s", len(published), published
        )  # fmt: skip
    return published


async def publish_due_safely(
    store: JobStore, publish: Callable[[str], None], jobs: JobsConfig
) -> list[str]:
    """:func:`publish_due` off the event loop; a failing store is logged, not raised, so
    neither the API's start-up nor its periodic pass dies with it."""
    try:
        return await asyncio.to_thread(publish_due, store, publish, jobs)
    except Exception:  # any store or driver error: the next pass tries again
        log.exception("the outbox pass failed; retrying in %g s", jobs.republish_interval_s)
        return []


async def republish_forever(
    store: JobStore, publish: Callable[[str], None], jobs: JobsConfig
) -> None:
    """Run an outbox pass every ``jobs.republish_interval_s`` until cancelled."""
    while True:
        await asyncio.sleep(jobs.republish_interval_s)
        await publish_due_safely(store, publish, jobs)
