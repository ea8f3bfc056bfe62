"""Dead letters: records the hub could not process, with a reason a person can act on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.engine import Connection

from hub.ledger import tables as t
from hub.ledger.engine import LedgerBase, dumps, loads, row_as, utcnow


@dataclass(frozen=True)
class DeadLetter:
    """A record the hub could not process, with the reason a person can act on."""

    id: int
    flow: str
    record_key: str
    system: str | None
    partner: str | None
    error_class: str
    reason: str
    payload: Any
    attempts: int
    state: str
    created_at: datetime
    updated_at: datetime
    resolved_by: str | None = None
    resolution: str | None = None


class DeadLetterStore(LedgerBase):
    """Filing, listing and closing dead letters (one open letter per flow and record)."""

    # -- dead letters -------------------------------------------------------------------
    def dead_letter(
        self,
        flow: str,
        record_key: str,
        reason: str,
        *,
        error_class: str,
        payload: Any = None,
        system: str | None = None,
        partner: str | None = None,
        conn: Connection | None = None,
    ) -> int:
        """File (or re-file) a dead letter; one open letter per (flow, record_key)."""
        dl = t.dead_letters
        now = utcnow()
        filed: dict[str, Any] = {"reason": reason, "error_class": error_class, "updated_at": now}
        with self._conn(conn) as c:
            row = c.execute(
                select(dl.c.id).where(
                    dl.c.flow == flow, dl.c.record_key == record_key, dl.c.state == "open"
                )
            ).first()
            if row is not None:  # the same letter again: one more attempt, the newest reason
                if payload is not None:
                    filed["payload"] = dumps(payload)
                c.execute(
                    update(dl).where(dl.c.id == row.id).values(attempts=dl.c.attempts + 1, **filed)
                )
                return int(row.id)
            letter = {"flow": flow, "record_key": record_key, "system": system, "partner": partner}
            filed |= {"payload": dumps(payload), "attempts": 1, "state": "open", "created_at": now}
            result = c.execute(insert(dl).values(**letter, **filed))
            key = result.inserted_primary_key
            assert key is not None  # a single-row INSERT always reports its key
            return int(key[0])

    def dead_letters(
        self,
        *,
        state: str | None = "open",
        flow: str | None = None,
        partner: str | None = None,
        error_class: str | None = None,
        record_key: str | None = None,
        older_than: datetime | None = None,
        limit: int = 1000,
    ) -> list[DeadLetter]:
        """Dead letters matching the filters, oldest first."""
        dl = t.dead_letters
        conds = []
        if state:
            conds.append(dl.c.state == state)
        if flow:
            conds.append(dl.c.flow == flow)
        if partner:
            conds.append(dl.c.partner == partner)
        if error_class:
            conds.append(dl.c.error_class == error_class)
        if record_key is not None:
            conds.append(dl.c.record_key == record_key)
        if older_than:
            conds.append(dl.c.created_at < older_than)
        query = select(dl).where(and_(True, *conds)).order_by(dl.c.id).limit(limit)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [_dead_letter(row) for row in rows]

    def dead_letter_by_id(self, letter_id: int) -> DeadLetter | None:
        """One dead letter."""
        with self._read() as conn:
            row = conn.execute(
                select(t.dead_letters).where(t.dead_letters.c.id == letter_id)
            ).first()
        return _dead_letter(row) if row else None

    def close_dead_letter(
        self, letter_id: int, state: str, *, by: str | None = None, note: str | None = None
    ) -> None:
        """Mark a dead letter replayed, resolved or discarded, keeping who/why for the audit."""
        with self.transaction() as c:
            c.execute(
                update(t.dead_letters)
                .where(t.dead_letters.c.id == letter_id)
                .values(state=state, resolved_by=by, resolution=note, updated_at=utcnow())
            )

    def count_dead_letters(self, state: str = "open") -> dict[str, int]:
        """Open dead letters per flow."""
        dl = t.dead_letters
        with self._read() as conn:
            rows = conn.execute(
                select(dl.c.flow, func.count()).where(dl.c.state == state).group_by(dl.c.flow)
            ).all()
        return {flow: int(n) for flow, n in rows}


def _dead_letter(row: Any) -> DeadLetter:
    return row_as(DeadLetter, row, payload=loads(row.payload))
