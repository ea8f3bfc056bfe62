"""Bindings: an external record (CRM company, carrier shipment, EDI document) <-> its ERP record.

Checked before any create; binding an external id to a second ERP id is a conflict, never a
silent rebind. ``bind_many`` writes a page of bindings in a few statements.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, bindparam, insert, select, update
from sqlalchemy.engine import Connection

from hub.ledger import tables as t
from hub.ledger.engine import LedgerBase, insert_new, row_as, utcnow
from schemas.errors import ConflictError

_CHUNK = 500


@dataclass(frozen=True)
class Binding:
    """An external record bound to an ERP record."""

    system: str
    entity: str
    external_id: str
    erp_id: str
    content_hash: str | None


@dataclass(frozen=True)
class BindRow:
    """One binding to write: external (CRM) id <-> ERP id, with the agreed content hash."""

    entity: str
    external_id: str
    erp_id: str
    content_hash: str | None


def bind_rows(conn: Connection, system: str, rows: Sequence[BindRow]) -> list[BindRow]:
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


class BindingStore(LedgerBase):
    """Lookups and writes of bindings."""

    def bind_many(self, system: str, rows: Sequence[BindRow], *, conn: Connection) -> list[BindRow]:
        """Bind a page of rows in a few statements; returns the rows refused as conflicts."""
        return bind_rows(conn, system, rows)

    def lookup(self, system: str, entity: str, external_id: str) -> Binding | None:
        """The ERP record bound to an external id, if any."""
        return self._one_binding(_where(system, entity, external_id=external_id))

    def lookup_erp(self, system: str, entity: str, erp_id: str) -> Binding | None:
        """The external record bound to an ERP id, if any."""
        return self._one_binding(_where(system, entity, erp_id=erp_id))

    def _one_binding(self, conds: list[ColumnElement[bool]]) -> Binding | None:
        with self._read() as conn:
            row = conn.execute(select(t.bindings).where(*conds)).first()
        return _binding(row) if row else None

    def move_binding(
        self,
        system: str,
        entity: str,
        old_external_id: str,
        new_external_id: str,
        *,
        conn: Connection | None = None,
    ) -> Binding | None:
        """Move a binding to the external record that replaced it (a CRM merge keeps the
        survivor's id). None when nothing was bound to ``old_external_id``; a survivor bound
        to another ERP record is a ConflictError (two ERP records, one external one)."""
        with self._conn(conn) as c:
            old = c.execute(
                select(t.bindings).where(*_where(system, entity, external_id=old_external_id))
            ).first()
            if old is None:
                return None
            new = c.execute(
                select(t.bindings).where(*_where(system, entity, external_id=new_external_id))
            ).first()
            if new is not None and new.erp_id != old.erp_id:
                raise ConflictError(
                    f"{system} {entity} {old_external_id!r} (ERP id {old.erp_id}) was merged "
                    f"into {new_external_id!r}, which is bound to ERP id {new.erp_id}",
                    system="ledger",
                )
            if new is None:
                c.execute(
                    update(t.bindings)
                    .where(t.bindings.c.id == old.id)
                    .values(external_id=new_external_id, updated_at=utcnow())
                )
            else:
                c.execute(t.bindings.delete().where(t.bindings.c.id == old.id))
            return Binding(system, entity, new_external_id, old.erp_id, old.content_hash)

    def bindings_for(self, system: str, entity: str) -> dict[str, Binding]:
        """Every binding of one entity in one system, keyed by ERP id (for batch syncs)."""
        with self._read() as conn:
            rows = conn.execute(
                select(t.bindings).where(
                    t.bindings.c.system == system, t.bindings.c.entity == entity
                )
            ).all()
        return {row.erp_id: _binding(row) for row in rows}

    def bind(
        self,
        system: str,
        entity: str,
        external_id: str,
        erp_id: str,
        content_hash: str | None = None,
        *,
        conn: Connection | None = None,
    ) -> Binding:
        """Bind (or re-hash) an external id; binding it to another ERP id is a conflict."""
        now = utcnow()
        with self._conn(conn) as c:
            existing = c.execute(
                select(t.bindings).where(*_where(system, entity, external_id=external_id))
            ).first()
            if existing is not None:
                if existing.erp_id != erp_id:
                    raise ConflictError(
                        f"{system} {entity} {external_id!r} is already bound to ERP id "
                        f"{existing.erp_id}, not {erp_id}",
                        system="ledger",
                    )
                if content_hash is not None and existing.content_hash != content_hash:
                    c.execute(
                        update(t.bindings)
                        .where(t.bindings.c.id == existing.id)
                        .values(content_hash=content_hash, updated_at=now)
                    )
            elif not insert_new(
                c, t.bindings, system=system, entity=entity, external_id=external_id,
                erp_id=erp_id, content_hash=content_hash, created_at=now, updated_at=now,
            ):  # fmt: skip
                return self.bind(system, entity, external_id, erp_id, content_hash, conn=c)
        return Binding(system, entity, external_id, erp_id, content_hash)


def _where(system: str, entity: str, **columns: str) -> list[ColumnElement[bool]]:
    """Conditions on (system, entity) and the given columns of the bindings table."""
    b = t.bindings.c
    return [b.system == system, b.entity == entity, *(b[k] == v for k, v in columns.items())]


def _binding(row: Any) -> Binding:
    return row_as(Binding, row)
