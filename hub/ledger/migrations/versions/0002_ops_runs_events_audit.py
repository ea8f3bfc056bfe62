"""Operations: flow runs, trace events and the dead-letter audit trail.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 10:00:00.000000
"""

import sqlalchemy as sa

from hub.ledger.ddl import create_indexes, create_table, drop_table

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    create_table(
        "runs",
        sa.Column("flow", sa.String(length=60), nullable=False),
        sa.Column("scope", sa.String(length=80), nullable=False),
        sa.Column("mode", sa.String(length=12), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("params", sa.Text(), nullable=True),
        sa.Column("counts", sa.Text(), nullable=True),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("owner", sa.String(length=120), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    create_indexes("runs", {"ix_runs_flow_started": ["flow", "scope", "started_at"]})

    create_table(
        "events",
        sa.Column("ref", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("flow", sa.String(length=60), nullable=True),
        sa.Column("system", sa.String(length=40), nullable=True),
        sa.Column("partner", sa.String(length=80), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=True),
        sa.Column("document", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    create_indexes("events", {"ix_events_ref": ["ref", "at"]})

    create_table(
        "dead_letter_audit",
        sa.Column("letter_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("outcome", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    create_indexes("dead_letter_audit", {"ix_dead_letter_audit_letter": ["letter_id", "at"]})


def downgrade() -> None:
    drop_table("dead_letter_audit", "ix_dead_letter_audit_letter")
    drop_table("events", "ix_events_ref")
    drop_table("runs", "ix_runs_flow_started")
