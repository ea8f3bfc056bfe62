"""Journal keys by kind and fields (kind, scope, subject), and lease owners' heartbeats.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 22:40:00.000000
"""

import sqlalchemy as sa
from alembic import op

from hub.ledger.ddl import create_table, drop_table

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    with op.batch_alter_table("journal", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("scope", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("subject", sa.String(length=200), nullable=True))
        batch_op.create_index("ix_journal_kind_subject", ["kind", "subject"])
    create_table(
        "owners",
        sa.Column("owner", sa.String(length=120), nullable=False),
        sa.Column("host", sa.String(length=120), nullable=False),
        sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
        key=("owner",),
    )
    # fill the new columns of entries written before: the keys parse into their fields
    conn = op.get_bind()
    journal = sa.table(
        "journal",
        sa.column("key", sa.String),
        sa.column("kind", sa.String),
        sa.column("scope", sa.String),
        sa.column("subject", sa.String),
    )
    keys = [row.key for row in conn.execute(sa.select(journal.c.key))]
    for key in keys:
        fields = fields_of(key)
        if fields["kind"] is not None:
            conn.execute(sa.update(journal).where(journal.c.key == key).values(**fields))


def fields_of(key: str) -> dict[str, str | None]:
    """``kind``/``scope``/``subject`` of a key text as the key kinds stood at this revision.

    Frozen here on purpose (not imported from ``transforms.keys``): a migration must do the
    same thing whatever later code says keys look like."""
    none: dict[str, str | None] = {"kind": None, "scope": None, "subject": None}
    prefix, sep, rest = key.partition(":")
    if not sep or not rest:
        return none
    if prefix == "erp.sale":
        gln, sep2, order = rest.partition(":")
        return {"kind": prefix, "scope": gln, "subject": order} if sep2 and gln and order else none
    if prefix == "carrier.shipment":
        return {"kind": prefix, "scope": "", "subject": rest}
    if prefix == "carrier.tracking":
        number, sep2, digest = rest.rpartition(":")
        return {"kind": prefix, "scope": digest, "subject": number} if sep2 and number else none
    if prefix == "edi.out":
        doc_type, sep2, tail = rest.partition(":")
        if not sep2 or not doc_type:
            return none
        if doc_type == "ORDRSP" and tail.startswith("erp.sale:"):
            return {"kind": prefix, "scope": "", "subject": tail}
        partner, sep3, record = tail.partition(":")
        return {"kind": prefix, "scope": partner, "subject": record} if sep3 else none
    parts = prefix.split(".")
    if parts[0] == "crm" and len(parts) == 3:
        return {"kind": "crm", "scope": f"{parts[1]}.{parts[2]}", "subject": rest}
    return none


def downgrade() -> None:
    drop_table("owners")
    with op.batch_alter_table("journal", schema=None) as batch_op:
        batch_op.drop_index("ix_journal_kind_subject")
        batch_op.drop_column("subject")
        batch_op.drop_column("scope")
        batch_op.drop_column("kind")
