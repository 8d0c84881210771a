"""detection_jobs: the job table of seed 002 XI.9 plus modality, progress, stage, error.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "detection_jobs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("video_url", sa.Text(), nullable=False),
        sa.Column("modality", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("model_version", sa.String(255), nullable=True),
        sa.Column("results_json", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_detection_jobs_status", "detection_jobs", ["status"])


def downgrade() -> None:
    op.drop_index("ix_detection_jobs_status", table_name="detection_jobs")
    op.drop_table("detection_jobs")
