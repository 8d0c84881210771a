"""The Celery application of the job service (Redis broker) and the API's publisher.

Durability settings (seed 002: a job is never lost): late acknowledgement (a job's message
is acknowledged only after its task returned) and ``task_reject_on_worker_lost`` (a pool
child that dies hands its job back); a worker process that vanishes leaves its message
unacknowledged in Redis, and another worker restores it after ``jobs.visibility_timeout_s``.
No result backend: the job store holds every result.
"""

from __future__ import annotations

import logging

from celery import Celery

from veracity.errors import ServingError
from veracity.jobs.config import JobsConfig

log = logging.getLogger(__name__)

TASK_NAME = "veracity.jobs.analyze"


def make_celery(jobs: JobsConfig, broker_url: str) -> Celery:
    """A Celery app for ``jobs`` on ``broker_url`` (the API publishes, workers consume)."""
    app = Celery("veracity-jobs", broker=broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,  # the store already says failed, and why
        worker_prefetch_multiplier=1,  # a worker holds one job, not a backlog others could run
        task_ignore_result=True,
        task_default_queue=jobs.queue,
        task_serializer="json",
        accept_content=["json"],
        task_time_limit=jobs.time_limit_s,  # enforced by the prefork pool
        broker_transport_options={
            "visibility_timeout": jobs.visibility_timeout_s,
            "unacked_restore_interval": jobs.restore_interval_s,
            "unacked_restore_throttle": 1,  # scan on every interval
        },
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=5.0,
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        enable_utc=True,
    )
    return app


def publisher(app: Celery, queue: str):
    """``publish(job_id)`` for the API: enqueue one job, or raise :class:`ServingError`."""

    def publish(job_id: str) -> None:
        try:
            app.send_task(TASK_NAME, args=[job_id], queue=queue, task_id=job_id)
        except Exception as exc:  # kombu raises its own and socket errors
            raise ServingError(
                f"the job queue did not take job {job_id} ({exc.__class__.__name__}: {exc}); "
                "check that the broker (jobs.broker_url or the embedded Redis) is running"
            ) from exc

    return publish
