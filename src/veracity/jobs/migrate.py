"""Run the job store's Alembic migrations programmatically (API and workers at start-up).

Several processes may start at once against one database, so the upgrade runs under a
lock: a PostgreSQL advisory lock, or an exclusive file lock beside a SQLite file.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from veracity.errors import ConfigError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_ADVISORY_KEY = 0x5645524A  # "VERJ": one key for every Veracity job store


def alembic_config() -> AlembicConfig:
    """An Alembic config pointing at the package's migrations (no alembic.ini needed)."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    """The newest migration's revision id."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head() or ""


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None before the first migration)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def run_migrations(engine: Engine) -> str:
    """Upgrade the database behind ``engine`` to the newest revision; returns it."""
    logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per start-up is ours
    cfg = alembic_config()
    try:
        with engine.connect() as conn, _locked(conn, engine):
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            conn.commit()
    except SQLAlchemyError as exc:
        raise ConfigError(
            f"could not migrate the job store at {engine.url.render_as_string(hide_password=True)}"
            f" ({exc.__class__.__name__}: {str(exc).splitlines()[0]}); check jobs.database_url "
            "and that the database server is running"
        ) from exc
    revision = head_revision()
    log.info("job store at revision %s", revision)
    return revision


@contextlib.contextmanager
def _locked(conn: Connection, engine: Engine) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _ADVISORY_KEY})
        conn.commit()  # a session-level lock outlives this transaction
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _ADVISORY_KEY})
            conn.commit()
        return
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
