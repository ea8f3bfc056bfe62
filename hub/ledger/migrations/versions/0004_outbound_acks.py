"""Outbound documents' acknowledgement state (CONTRL/APERAK from partners, deadlines, re-sends).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 01:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

from hub.ledger.ddl import create_table, drop_table

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    tz = sa.DateTime(timezone=True)
    create_table(
        "outbound_acks",
        sa.Column("partner", sa.String(length=80), nullable=False),
        sa.Column("control_ref", sa.String(length=40), nullable=False),
        sa.Column("message_ref", sa.String(length=14), nullable=False),
        sa.Column("doc_type", sa.String(length=12), nullable=False),
        sa.Column("doc_key", sa.String(length=300), nullable=False),
        sa.Column("document_number", sa.String(length=70), nullable=False),
        sa.Column("file_name", sa.String(length=300), nullable=True),
        sa.Column("expects", sa.String(length=40), nullable=False),
        sa.Column("contrl_due", tz, nullable=True),
        sa.Column("aperak_due", tz, nullable=True),
        sa.Column("contrl", sa.String(length=12), nullable=True),
        sa.Column("aperak", sa.String(length=12), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("errors", sa.Text(), nullable=True),
        sa.Column("acks", sa.Text(), nullable=True),
        sa.Column("refs", sa.Text(), nullable=True),
        sa.Column("resent_as", sa.String(length=40), nullable=True),
        sa.Column("resent_from", sa.String(length=40), nullable=True),
        sa.Column("sent_at", tz, nullable=False),
        sa.Column("updated_at", tz, nullable=False),
        sa.UniqueConstraint("partner", "control_ref", name="uq_outbound_acks_ref"),
    )
    op.create_index("ix_outbound_acks_number", "outbound_acks", ["partner", "document_number"])
    op.create_index("ix_outbound_acks_state", "outbound_acks", ["state"])


def downgrade() -> None:
    op.drop_index("ix_outbound_acks_state", table_name="outbound_acks")
    op.drop_index("ix_outbound_acks_number", table_name="outbound_acks")
    drop_table("outbound_acks")
