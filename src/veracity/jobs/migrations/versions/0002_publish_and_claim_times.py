"""detection_jobs: when a job's message was last published, and when it was last claimed.

``published_at`` lets the API find queued jobs whose message never reached the queue (a
crash between the insert and the publish) and publish them again; ``claimed_at`` lets a
worker tell a duplicate message of a job another worker is running from a redelivery.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("detection_jobs") as batch:  # SQLite alters by copying
        batch.add_column(sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
    # Rows from before this revision were published by the API that stored them (or lost in
    # the crash window, which the republish bound then recovers); the first claim is the
    # oldest the last claim can be, so a redelivery is never mistaken for a duplicate.
    op.execute("UPDATE detection_jobs SET published_at = created_at, claimed_at = started_at")


def downgrade() -> None:
    with op.batch_alter_table("detection_jobs") as batch:
        batch.drop_column("claimed_at")
        batch.drop_column("published_at")
