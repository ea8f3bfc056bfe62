"""The operations tables (migration 0002): flow runs, trace events, dead-letter audit trail.

They live on the ledger's own ``metadata`` so Alembic autogenerate sees them once this
module is imported (``hub/ledger/migrations/env.py`` should import it next to the ledger's).
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table, Text

from hub.ledger.tables import UTCDateTime, metadata

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("flow", String(60), nullable=False),
    Column("scope", String(80), nullable=False),  # partner id, or "*" for every partner/system
    Column("mode", String(12), nullable=False),  # run | backfill | replay
    Column("status", String(12), nullable=False),  # running | ok | partial | failed
    Column("params", Text),
    Column("counts", Text),  # JSON: the report's numeric counters
    Column("items", Integer, nullable=False, default=0),
    Column("error", Text),
    Column("owner", String(120)),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Index("ix_runs_flow_started", "flow", "scope", "started_at"),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ref", String(200), nullable=False),  # order number, sale number, tracking number
    Column("kind", String(60), nullable=False),  # e.g. interchange.received, desadv.sent
    Column("flow", String(60)),
    Column("system", String(40)),
    Column("partner", String(80)),
    Column("state", String(20)),
    Column("document", Text),  # path into the archive / outbox, or a URL
    Column("detail", Text),  # JSON
    Column("at", UTCDateTime, nullable=False),
    Index("ix_events_ref", "ref", "at"),
)

dead_letter_audit = Table(
    "dead_letter_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("letter_id", Integer, nullable=False),
    Column("action", String(20), nullable=False),  # replay | discard
    Column("actor", String(120), nullable=False),
    Column("reason", Text),
    Column("outcome", String(40), nullable=False),
    Column("detail", Text),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_dead_letter_audit_letter", "letter_id", "at"),
)
