"""Initial ledger schema: bindings, journal, interchanges, cursors, control numbers, dead letters.

Revision ID: 0001
Revises:
Create Date: 2026-11-27 15:46:03.519851
"""

import sqlalchemy as sa

from hub.ledger.ddl import create_indexes, create_table, drop_table

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_table(
        "bindings",
        sa.Column("system", sa.String(length=40), nullable=False),
        sa.Column("entity", sa.String(length=40), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("erp_id", sa.String(length=100), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("system", "entity", "external_id", name="uq_bindings_external"),
    )
    create_indexes("bindings", {"ix_bindings_erp": ["system", "entity", "erp_id"]})

    create_table(
        "control_counters",
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        key=("scope",),
    )
    create_table(
        "control_numbers",
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("document_key", sa.String(length=300), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("scope", "number", name="uq_control_numbers_number"),
        key=("scope", "document_key"),
    )
    create_table(
        "cursors",
        sa.Column("stream", sa.String(length=200), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("tie_hashes", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        key=("stream",),
    )
    create_table(
        "dead_letters",
        sa.Column("flow", sa.String(length=60), nullable=False),
        sa.Column("record_key", sa.String(length=300), nullable=False),
        sa.Column("system", sa.String(length=40), nullable=True),
        sa.Column("partner", sa.String(length=80), nullable=True),
        sa.Column("error_class", sa.String(length=60), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("resolved_by", sa.String(length=120), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    create_indexes(
        "dead_letters",
        {"ix_dead_letters_key": ["flow", "record_key"], "ix_dead_letters_open": ["state", "flow"]},
    )

    create_table(
        "interchanges",
        sa.Column("partner", sa.String(length=80), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("control_ref", sa.String(length=40), nullable=False),
        sa.Column("file_hash", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.String(length=300), nullable=True),
        sa.Column("archive_path", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("ack", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("partner", "direction", "control_ref", name="uq_interchanges_ref"),
    )
    create_indexes("interchanges", {"ix_interchanges_hash": ["file_hash"]})

    create_table(
        "journal",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("flow", sa.String(length=60), nullable=False),
        sa.Column("system", sa.String(length=40), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("payload_hash", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=120), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("ref", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        key=("key",),
    )
    create_indexes(
        "journal", {"ix_journal_flow_state": ["flow", "state"], "ix_journal_ref": ["ref"]}
    )

    create_table(
        "rate_buckets",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("stamp", sa.Float(), nullable=False),
        key=("key",),
    )


def downgrade() -> None:
    drop_table("rate_buckets")
    drop_table("journal", "ix_journal_ref", "ix_journal_flow_state")
    drop_table("interchanges", "ix_interchanges_hash")
    drop_table("dead_letters", "ix_dead_letters_open", "ix_dead_letters_key")
    drop_table("cursors")
    drop_table("control_numbers")
    drop_table("control_counters")
    drop_table("bindings", "ix_bindings_erp")
