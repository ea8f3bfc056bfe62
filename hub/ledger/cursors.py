"""Cursors: a stream's watermark, with the ids already done at that value and a window.

``Cursor`` is the one cursor object every flow uses (like dlt's ``Incremental``): it loads
the last value and its tie-break ids, says whether a row is new and inside the window,
follows the rows a run settles in order, and commits the new position in the caller's
transaction (with the results it covers), never before.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from hub.ledger import tables as t
from hub.ledger.engine import LedgerBase, utcnow


@dataclass
class Cursor:
    """Last value + tie-break ids + an optional window ``[start, end)`` for backfills.

    ``stream`` is where the position is kept: the live stream, or a backfill's own stream
    (so a backfill never moves the live watermark and resumes where it stopped).
    """

    stream: str
    value: datetime | None = None
    ties: set[str] = field(default_factory=set)
    start: datetime | None = None  # where reading starts when the stream has no value yet
    end: datetime | None = None  # exclusive end of a backfill window
    dirty: bool = False

    @property
    def read_from(self) -> datetime | None:
        """Where the next read starts (the value itself: rows at it are filtered by ties)."""
        return self.value if self.value is not None else self.start

    def is_new(self, at: datetime | None, row_id: str) -> bool:
        """Not yet settled by an earlier commit of this stream."""
        if at is None or self.value is None:
            return True
        return at > self.value or (at == self.value and row_id not in self.ties)

    def in_window(self, at: datetime | None) -> bool:
        """Before the window's end (rows with no timestamp always are)."""
        return self.end is None or at is None or at < self.end

    def fresh(self, rows: Iterable[tuple[datetime | None, str]]) -> list[int]:
        """Indexes of the (timestamp, id) rows that are new (window not applied)."""
        return [i for i, (at, rid) in enumerate(rows) if self.is_new(at, rid)]

    def passed(self, at: datetime | None, row_id: str) -> None:
        """A row is settled (done, skipped or dead-lettered); rows come in timestamp order."""
        if at is None:
            return
        if self.value is None or at > self.value:
            self.value, self.ties = at, {row_id}
        elif at == self.value:
            self.ties.add(row_id)
        else:
            return
        self.dirty = True

    @property
    def position(self) -> tuple[str, list[str]] | None:
        """The stored form: ISO value and sorted tie ids (None before any value)."""
        if self.value is None:
            return None
        return self.value.isoformat(), sorted(self.ties)

    def commit(self, ledger: CursorStore, *, conn: Connection | None = None) -> bool:
        """Write the position if it moved (inside ``conn``: the results' own transaction)."""
        position = self.position
        if not self.dirty or position is None:
            return False
        ledger.advance_cursor(self.stream, position[0], position[1], conn=conn)
        self.dirty = False
        return True


class CursorStore(LedgerBase):
    """Stored cursor positions."""

    def load_cursor(
        self,
        stream: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Cursor:
        """The stream's cursor, with a window for a backfill (``start`` when none stored)."""
        raw, ties = self.cursor(stream)
        value = datetime.fromisoformat(raw) if raw else None
        return Cursor(stream, value, set(ties), start=start, end=end)

    def cursor(self, stream: str) -> tuple[str | None, list[str]]:
        """The stream's watermark and the ids of rows already seen at that value."""
        with self._read() as conn:
            row = conn.execute(select(t.cursors).where(t.cursors.c.stream == stream)).first()
        if row is None:
            return None, []
        return row.value, json.loads(row.tie_hashes or "[]")

    def advance_cursor(
        self,
        stream: str,
        value: str,
        tie_hashes: list[str] | None = None,
        *,
        conn: Connection | None = None,
    ) -> None:
        """Move the watermark; call it inside the transaction that marks the batch done."""
        now = utcnow()
        ties = json.dumps(sorted(tie_hashes or []))
        with self._conn(conn) as c:
            changed = c.execute(
                update(t.cursors)
                .where(t.cursors.c.stream == stream)
                .values(value=value, tie_hashes=ties, updated_at=now)
            ).rowcount
            if not changed:
                c.execute(
                    insert(t.cursors).values(
                        stream=stream, value=value, tie_hashes=ties, updated_at=now
                    )
                )

    def cursors(self) -> dict[str, tuple[str | None, datetime]]:
        """All streams and their watermarks (for status)."""
        with self._read() as conn:
            rows = conn.execute(select(t.cursors)).all()
        return {row.stream: (row.value, row.updated_at) for row in rows}
