"""The job store: table ``detection_jobs`` through SQLAlchemy 2 (SQLite or PostgreSQL).

The schema is owned by the Alembic migrations in ``migrations/`` (:mod:`veracity.jobs.migrate`
runs them); the model here mirrors it. Every write is one short transaction, and the
transitions keep a job's result stable: a completed or failed job is never changed again, so
a second delivery of the same job id cannot alter its answer. The two writes that race other
processes are single conditional statements: the bounded insert (:meth:`JobStore.create`)
and the claim of a delivery (:meth:`JobStore.claim`). The outbox columns (``published_at``)
are read and written by :mod:`veracity.jobs.outbox`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Integer,
    String,
    Text,
    and_,
    create_engine,
    event,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from veracity.jobs.errors import JobBusyError

log = logging.getLogger(__name__)

QUEUED, RUNNING, COMPLETED, FAILED = "queued", "running", "completed", "failed"
ACTIVE = (QUEUED, RUNNING)
TERMINAL = (COMPLETED, FAILED)
_SUBMIT_LOCK = 0x5645524B  # PostgreSQL advisory lock of bounded inserts (migrations use ...4A)


class Base(DeclarativeBase):
    pass


class DetectionJob(Base):
    """One analysis job (seed 002 XI.9: id, video_url, status, timestamps, results_json)."""

    __tablename__ = "detection_jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    video_url: Mapped[str] = mapped_column(Text)  # the media: spool:<name> or s3://bucket/key
    modality: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    stage: Mapped[str] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    model_version: Mapped[str | None] = mapped_column(String(255), nullable=True)
    results_json: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


@dataclass(frozen=True)
class JobRecord:
    """A detached, immutable copy of one row."""

    id: str
    video_url: str
    modality: str
    status: str
    progress: int
    stage: str
    attempts: int
    error: str | None
    model_version: str | None
    result: dict | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    published_at: datetime | None  # the job's message was last handed to the queue (None: never)
    claimed_at: datetime | None  # a delivery last started running it

    def status_view(self) -> dict[str, Any]:
        """What ``GET /jobs/{id}`` answers."""
        view: dict[str, Any] = {
            "job_id": self.id,
            "status": self.status,
            "modality": self.modality,
            "progress": self.progress,
            "stage": self.stage,
            "attempts": self.attempts,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }
        if self.status == COMPLETED:
            view["result"] = self.result
        if self.status == FAILED:
            view["error"] = self.error
        elif self.error:  # why a queued job is waiting for a retry
            view["note"] = self.error
        return view


def _record(row: DetectionJob) -> JobRecord:
    return JobRecord(
        id=row.id, video_url=row.video_url, modality=row.modality, status=row.status,
        progress=row.progress, stage=row.stage, attempts=row.attempts, error=row.error,
        model_version=row.model_version, result=row.results_json,
        created_at=_aware(row.created_at), updated_at=_aware(row.updated_at),
        started_at=_aware(row.started_at), finished_at=_aware(row.finished_at),
        published_at=_aware(row.published_at), claimed_at=_aware(row.claimed_at),
    )  # fmt: skip


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands timestamps back without their zone; every timestamp written here is UTC
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _now() -> datetime:
    return datetime.now(UTC)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL and a busy timeout (API and workers share it)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


class JobStore:
    """Create, read and move jobs through queued -> running -> completed | failed."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._session = sessionmaker(engine, expire_on_commit=False)

    def create(
        self, job_id: str, modality: str, video_url: str, max_active: int | None = None
    ) -> JobRecord | None:
        """Insert a queued job (not yet published); with ``max_active``, only while fewer
        than that many jobs are queued or running: None when the bound refused it.

        The count and the insert are one statement, so concurrent submissions cannot all
        pass one count: SQLite holds its write lock for the whole statement; PostgreSQL
        first takes a transaction-scoped advisory lock, because under READ COMMITTED two
        such statements would each count without the other's uncommitted row.
        """
        now = _now()
        values = {"id": job_id, "video_url": video_url, "modality": modality, "status": QUEUED,
                  "progress": 0, "stage": "queued", "attempts": 0, "created_at": now,
                  "updated_at": now}  # fmt: skip
        with self._session.begin() as session:
            if max_active is None:
                session.execute(insert(DetectionJob).values(**values))
            else:
                if self.engine.dialect.name == "postgresql":
                    session.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                    {"key": _SUBMIT_LOCK})  # fmt: skip
                columns = DetectionJob.__table__.c
                active = select(func.count()).where(DetectionJob.status.in_(ACTIVE))
                row = select(*(literal(v, columns[k].type) for k, v in values.items()))
                # RETURNING, not rowcount: psycopg reports -1 for INSERT ... SELECT here
                inserted = session.execute(
                    insert(DetectionJob)
                    .from_select(list(values), row.where(active.scalar_subquery() < max_active))
                    .returning(DetectionJob.id)
                ).first()
                if inserted is None:
                    return None
            return _record(session.get(DetectionJob, job_id))

    def get(self, job_id: str) -> JobRecord | None:
        """The job, or None when there is no such id."""
        with Session(self.engine) as session:
            row = session.get(DetectionJob, job_id)
            return None if row is None else _record(row)

    def count_active(self) -> int:
        """Jobs queued or running (what backpressure bounds)."""
        with Session(self.engine) as session:
            query = select(func.count()).select_from(DetectionJob)
            return int(session.scalar(query.where(DetectionJob.status.in_(ACTIVE))) or 0)

    def claim(self, job_id: str, lease_s: float = 0.0) -> JobRecord | None:
        """Start a delivery of ``job_id``: running, one more attempt; None for an unknown id.

        A terminal job is returned unchanged (the caller must not run it again). A job that
        another delivery claimed less than ``lease_s`` ago is being run there (a duplicate
        message): :class:`JobBusyError` says when that claim expires. The check and the
        claim are one conditional UPDATE, so two deliveries never both win.
        """
        now = _now()
        claimable = or_(
            DetectionJob.status == QUEUED,
            and_(
                DetectionJob.status == RUNNING,
                or_(
                    DetectionJob.claimed_at.is_(None),
                    DetectionJob.claimed_at <= now - timedelta(seconds=lease_s),
                ),
            ),
        )
        stamp = literal(now, DetectionJob.__table__.c.started_at.type)
        with self._session.begin() as session:
            claimed = session.execute(
                update(DetectionJob)
                .where(DetectionJob.id == job_id, claimable)
                .values(status=RUNNING, attempts=DetectionJob.attempts + 1, claimed_at=now,
                        updated_at=now, started_at=func.coalesce(DetectionJob.started_at, stamp))
                .returning(DetectionJob.id)
                .execution_options(synchronize_session=False)
            ).first()  # fmt: skip
            row = session.get(DetectionJob, job_id)
            if row is None or claimed is not None or row.status in TERMINAL:
                return None if row is None else _record(row)
            held = _aware(row.claimed_at) or now
            raise JobBusyError(job_id, max(0.0, lease_s - (now - held).total_seconds()))

    def set_progress(self, job_id: str, progress: int, stage: str) -> None:
        """Record how far a running job is (progress never goes back)."""
        with self._session.begin() as session:
            row = session.get(DetectionJob, job_id, with_for_update=True)
            if row is None or row.status != RUNNING:
                return
            row.progress, row.stage = max(row.progress, int(progress)), stage
            row.updated_at = _now()

    def requeue(self, job_id: str, note: str) -> None:
        """A running job waits for a retry: queued again, the reason kept as a note; its
        retry message is published now (so the outbox leaves it alone)."""
        with self._session.begin() as session:
            row = session.get(DetectionJob, job_id, with_for_update=True)
            if row is None or row.status != RUNNING:
                return
            row.status, row.stage, row.error = QUEUED, "retrying", note
            row.updated_at = row.published_at = _now()

    def complete(self, job_id: str, result: dict, model_version: str | None) -> JobRecord | None:
        """Store the result; a job already terminal keeps its first answer."""
        return self._finish(job_id, COMPLETED, result=result, model_version=model_version)

    def fail(self, job_id: str, error: str) -> JobRecord | None:
        """End a job as failed with a reason (a terminal job is left as it is)."""
        return self._finish(job_id, FAILED, error=error)

    def _finish(self, job_id: str, status: str, **fields) -> JobRecord | None:
        with self._session.begin() as session:
            row = session.get(DetectionJob, job_id, with_for_update=True)
            if row is None:
                return None
            if row.status in TERMINAL:
                log.info("job %s is already %s; keeping its first answer", job_id, row.status)
                return _record(row)
            now = _now()
            row.status, row.updated_at, row.finished_at = status, now, now
            if status == COMPLETED:
                row.progress, row.stage = 100, "done"
                row.results_json, row.model_version = fields["result"], fields["model_version"]
            else:
                row.stage, row.error = "failed", fields["error"]
            return _record(row)
