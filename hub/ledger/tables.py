"""The ledger's tables: bindings, journal, interchanges, cursors, control numbers, dead letters,
rate buckets, lease owners, and the operations tables (runs, trace events, dead-letter audit).

Only ``hub.ledger`` imports this module: everything else asks the ledger's methods.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.schema import SchemaItem

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("ledger timestamps must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _numbered(name: str, *items: SchemaItem) -> Table:
    """A table whose rows are numbered by an autoincrement integer ``id`` (its first column)."""
    return Table(
        name, metadata, Column("id", Integer, primary_key=True, autoincrement=True), *items
    )


bindings = _numbered(
    "bindings",
    Column("system", String(40), nullable=False),
    Column("entity", String(40), nullable=False),
    Column("external_id", String(200), nullable=False),
    Column("erp_id", String(100), nullable=False),
    Column("content_hash", String(64)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("system", "entity", "external_id", name="uq_bindings_external"),
    Index("ix_bindings_erp", "system", "entity", "erp_id"),
)

journal = Table(
    "journal",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("flow", String(60), nullable=False),
    Column("system", String(40), nullable=False),
    Column("action", String(60), nullable=False),
    Column("payload_hash", String(64), nullable=False),
    Column("state", String(12), nullable=False),  # pending | done | failed | dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("owner", String(120)),
    Column("lease_until", UTCDateTime),
    Column("result", Text),
    Column("error", Text),
    Column("ref", String(200)),  # a business reference for tracing (order number, shipment...)
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # the key's kind and fields (transforms.keys): queries by kind, never LIKE on the text
    Column("kind", String(40)),
    Column("scope", String(200)),
    Column("subject", String(200)),
    Index("ix_journal_flow_state", "flow", "state"),
    Index("ix_journal_ref", "ref"),
    Index("ix_journal_kind_subject", "kind", "subject"),
)

interchanges = _numbered(
    "interchanges",
    Column("partner", String(80), nullable=False),
    Column("direction", String(3), nullable=False),  # in | out
    Column("control_ref", String(40), nullable=False),
    Column("file_hash", String(64), nullable=False),
    Column("file_name", String(300)),
    Column("archive_path", Text),
    Column("state", String(20), nullable=False),
    Column("ack", Text),  # the acknowledgement sent back, re-sent unchanged for a duplicate
    Column("detail", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("partner", "direction", "control_ref", name="uq_interchanges_ref"),
    Index("ix_interchanges_hash", "file_hash"),
)

cursors = Table(
    "cursors",
    metadata,
    Column("stream", String(200), primary_key=True),
    Column("value", Text),
    Column("tie_hashes", Text),  # JSON list: rows already seen at `value`
    Column("updated_at", UTCDateTime, nullable=False),
)

control_counters = Table(
    "control_counters",
    metadata,
    Column("scope", String(200), primary_key=True),
    Column("last", Integer, nullable=False),
)

control_numbers = Table(
    "control_numbers",
    metadata,
    Column("scope", String(200), primary_key=True),
    Column("document_key", String(300), primary_key=True),
    Column("number", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("scope", "number", name="uq_control_numbers_number"),
)

dead_letters = _numbered(
    "dead_letters",
    Column("flow", String(60), nullable=False),
    Column("record_key", String(300), nullable=False),
    Column("system", String(40)),
    Column("partner", String(80)),
    Column("error_class", String(60), nullable=False),
    Column("reason", Text, nullable=False),
    Column("payload", Text),
    Column("attempts", Integer, nullable=False, default=1),
    Column("state", String(12), nullable=False),  # open | replayed | resolved | discarded
    Column("resolved_by", String(120)),
    Column("resolution", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_dead_letters_open", "state", "flow"),
    Index("ix_dead_letters_key", "flow", "record_key"),
)

rate_buckets = Table(
    "rate_buckets",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("stamp", Float, nullable=False),
)

owners = Table(
    "owners",
    metadata,
    Column("owner", String(120), primary_key=True),  # host:pid:nonce
    Column("host", String(120), nullable=False),
    Column("beat_at", UTCDateTime, nullable=False),
)

# -- operations (migration 0002) -------------------------------------------------------------

runs = _numbered(
    "runs",
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

events = _numbered(
    "events",
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

dead_letter_audit = _numbered(
    "dead_letter_audit",
    Column("letter_id", Integer, nullable=False),
    Column("action", String(20), nullable=False),  # replay | discard
    Column("actor", String(120), nullable=False),
    Column("reason", Text),
    Column("outcome", String(40), nullable=False),
    Column("detail", Text),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_dead_letter_audit_letter", "letter_id", "at"),
)

outbound_acks = _numbered(
    "outbound_acks",
    Column("partner", String(80), nullable=False),
    Column("control_ref", String(40), nullable=False),  # our UNB 0020
    Column("message_ref", String(14), nullable=False),  # our UNH 0062
    Column("doc_type", String(12), nullable=False),
    Column("doc_key", String(300), nullable=False),
    Column("document_number", String(70), nullable=False),  # our BGM 1004
    Column("file_name", String(300)),
    Column("expects", String(40), nullable=False),  # "CONTRL,APERAK", "" for none
    Column("contrl_due", UTCDateTime),
    Column("aperak_due", UTCDateTime),
    Column("contrl", String(12)),  # accepted | rejected, once one arrived
    Column("aperak", String(12)),
    Column("state", String(12), nullable=False),  # sent | accepted | rejected | overdue | resent
    Column("errors", Text),  # JSON: the partner's codes and positions
    Column("acks", Text),  # JSON: the acknowledgements received (kind, their ref, when)
    Column("refs", Text),  # JSON: the business numbers the trace finds it by (orders...)
    Column("resent_as", String(40)),  # the control ref of the corrected re-send
    Column("resent_from", String(40)),  # the control ref this one corrects
    Column("sent_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("partner", "control_ref", name="uq_outbound_acks_ref"),
    Index("ix_outbound_acks_number", "partner", "document_number"),
    Index("ix_outbound_acks_state", "state"),
)
