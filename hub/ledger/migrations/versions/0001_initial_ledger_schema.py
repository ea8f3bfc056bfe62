"""Initial ledger schema: bindings, journal, interchanges, cursors, control numbers, dead letters.

Revision ID: 0001
Revises:
Create Date: 2026-11-27 15:46:03.519851
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "bindings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("system", sa.String(length=40), nullable=False),
        sa.Column("entity", sa.String(length=40), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("erp_id", sa.String(length=100), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bindings")),
        sa.UniqueConstraint("system", "entity", "external_id", name="uq_bindings_external"),
    )
    with op.batch_alter_table("bindings", schema=None) as batch_op:
        batch_op.create_index("ix_bindings_erp", ["system", "entity", "erp_id"], unique=False)

    op.create_table(
        "control_counters",
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope", name=op.f("pk_control_counters")),
    )
    op.create_table(
        "control_numbers",
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("document_key", sa.String(length=300), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "document_key", name=op.f("pk_control_numbers")),
        sa.UniqueConstraint("scope", "number", name="uq_control_numbers_number"),
    )
    op.create_table(
        "cursors",
        sa.Column("stream", sa.String(length=200), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("tie_hashes", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("stream", name=op.f("pk_cursors")),
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
    )
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.create_index("ix_dead_letters_key", ["flow", "record_key"], unique=False)
        batch_op.create_index("ix_dead_letters_open", ["state", "flow"], unique=False)

    op.create_table(
        "interchanges",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interchanges")),
        sa.UniqueConstraint("partner", "direction", "control_ref", name="uq_interchanges_ref"),
    )
    with op.batch_alter_table("interchanges", schema=None) as batch_op:
        batch_op.create_index("ix_interchanges_hash", ["file_hash"], unique=False)

    op.create_table(
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
        sa.PrimaryKeyConstraint("key", name=op.f("pk_journal")),
    )
    with op.batch_alter_table("journal", schema=None) as batch_op:
        batch_op.create_index("ix_journal_flow_state", ["flow", "state"], unique=False)
        batch_op.create_index("ix_journal_ref", ["ref"], unique=False)

    op.create_table(
        "rate_buckets",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("stamp", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_buckets")),
    )


def downgrade() -> None:

    op.drop_table("rate_buckets")
    with op.batch_alter_table("journal", schema=None) as batch_op:
        batch_op.drop_index("ix_journal_ref")
        batch_op.drop_index("ix_journal_flow_state")

    op.drop_table("journal")
    with op.batch_alter_table("interchanges", schema=None) as batch_op:
        batch_op.drop_index("ix_interchanges_hash")

    op.drop_table("interchanges")
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.drop_index("ix_dead_letters_open")
        batch_op.drop_index("ix_dead_letters_key")

    op.drop_table("dead_letters")
    op.drop_table("cursors")
    op.drop_table("control_numbers")
    op.drop_table("control_counters")
    with op.batch_alter_table("bindings", schema=None) as batch_op:
        batch_op.drop_index("ix_bindings_erp")

    op.drop_table("bindings")
