"""Alembic environment of the job store: run with a connection handed in by
:func:`veracity.jobs.migrate.run_migrations` (no alembic.ini, no logging set-up here)."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
