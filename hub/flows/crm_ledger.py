"""Bulk ledger writes for the CRM sync: bind a page of records in a few statements.

``Ledger.bind`` costs three statements per record; a page of 500 companies and 500 contacts
would hold the ledger's write lock (which the shared rate budget also needs) for ~0.4 s.
Here a page is bound with one SELECT, one executemany INSERT and one executemany UPDATE,
inside the caller's transaction, with the same rule as ``Ledger.bind``: an external id
already bound to another ERP id is a conflict, never a silent rebind.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection

from hub.ledger import tables as t
from hub.ledger.store import Binding, utcnow

_CHUNK = 500


@dataclass(frozen=True)
class BindRow:
    """One binding to write: external (CRM) id <-> ERP id, with the agreed content hash."""

    entity: str
    external_id: str
    erp_id: str
    content_hash: str | None


def bind_many(conn: Connection, system: str, rows: Sequence[BindRow]) -> list[BindRow]:
    """Insert or re-hash ``rows``; returns the rows refused because the external id is
    already bound to another ERP id (the caller dead-letters them)."""
    conflicts: list[BindRow] = []
    now = utcnow()
    latest: dict[tuple[str, str], BindRow] = {}
    for row in rows:
        latest[(row.entity, row.external_id)] = row
    by_entity: dict[str, list[BindRow]] = {}
    for row in latest.values():
        by_entity.setdefault(row.entity, []).append(row)
    b = t.bindings
    for entity, items in by_entity.items():
        for start in range(0, len(items), _CHUNK):
            chunk = items[start : start + _CHUNK]
            existing = {
                r.external_id: r
                for r in conn.execute(
                    select(b.c.id, b.c.external_id, b.c.erp_id, b.c.content_hash).where(
                        b.c.system == system,
                        b.c.entity == entity,
                        b.c.external_id.in_([row.external_id for row in chunk]),
                    )
                )
            }
            new, changed = [], []
            for row in chunk:
                old = existing.get(row.external_id)
                if old is None:
                    new.append(
                        {
                            "system": system,
                            "entity": entity,
                            "external_id": row.external_id,
                            "erp_id": row.erp_id,
                            "content_hash": row.content_hash,
                            "created_at": now,
                            "updated_at": now,
                        }
                    )
                elif old.erp_id != row.erp_id:
                    conflicts.append(row)
                elif row.content_hash is not None and old.content_hash != row.content_hash:
                    changed.append({"row_id": old.id, "h": row.content_hash, "now": now})
            if new:
                conn.execute(insert(b), new)
            if changed:
                conn.execute(
                    update(b)
                    .where(b.c.id == bindparam("row_id"))
                    .values(content_hash=bindparam("h"), updated_at=bindparam("now")),
                    changed,
                )
    return conflicts


def as_binding(system: str, row: BindRow) -> Binding:
    """The in-memory Binding a written row stands for (to keep a run's cache current)."""
    return Binding(system, row.entity, row.external_id, row.erp_id, row.content_hash)
