"""Read-only queries operations needs: status backlog, metrics totals, series, trace lookups.

Everything here reads; ``hub status``, ``hub metrics``, ``hub trace``, ``hub reconcile`` and
the ops page ask these methods and never touch the ledger's tables themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, inspect, or_, select

from hub.ledger import tables as t
from hub.ledger.engine import LedgerBase

UNFINISHED = ("pending", "failed", "unknown")  # journal states still waiting for a run


def _aware(value: datetime | str | None) -> datetime | None:
    """An aggregate's timestamp (SQLite may hand back text or a naive UTC value)."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class OpsQueries(LedgerBase):
    """Aggregates and lookups for status, metrics, the ops page, trace and reconcile."""

    # -- the database -------------------------------------------------------------------
    def row_counts(self) -> dict[str, int]:
        """Rows per ledger table (tests and drills: "this wrote nothing")."""
        with self._read() as conn:
            present = set(inspect(conn).get_table_names())
            return {
                name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
                for name, table in t.metadata.tables.items()
                if name in present
            }

    # -- journal aggregates ------------------------------------------------------------
    def journal_backlog(
        self, now: datetime, window: timedelta = timedelta(hours=24)
    ) -> tuple[dict[str, tuple[int, datetime | None]], dict[str, int]]:
        """Per flow: (unfinished entries, the oldest one's creation) and entries done in
        the ``window`` up to ``now``."""
        j = t.journal
        with self._read() as conn:
            waiting = conn.execute(
                select(j.c.flow, func.count(), func.min(j.c.created_at))
                .where(j.c.state.in_(UNFINISHED))
                .group_by(j.c.flow)
            ).all()
            done = conn.execute(
                select(j.c.flow, func.count())
                .where(j.c.state == "done", j.c.updated_at >= now - window)
                .group_by(j.c.flow)
            ).all()
        return (
            {flow: (int(n), _aware(oldest)) for flow, n, oldest in waiting},
            {flow: int(n) for flow, n in done},
        )

    def journal_activity(self, since: datetime) -> list[tuple[str, str, datetime, datetime]]:
        """(flow, state, created_at, updated_at) of entries touched since ``since`` or still
        unfinished (hourly volume and lag series)."""
        j = t.journal
        with self._read() as conn:
            rows = conn.execute(
                select(j.c.flow, j.c.state, j.c.created_at, j.c.updated_at).where(
                    or_(j.c.updated_at >= since, j.c.state.in_(UNFINISHED))
                )
            ).all()
        return [(flow, state, created, updated) for flow, state, created, updated in rows]

    def dead_letter_totals(self) -> list[tuple[str, str, str, str | None, int]]:
        """(flow, error class, state, partner, letters) over every dead letter ever filed."""
        dl = t.dead_letters
        with self._read() as conn:
            rows = conn.execute(
                select(dl.c.flow, dl.c.error_class, dl.c.state, dl.c.partner, func.count())
                .group_by(dl.c.flow, dl.c.error_class, dl.c.state, dl.c.partner)
            ).all()  # fmt: skip
        return [(f, c, s, p, int(n)) for f, c, s, p, n in rows]

    # -- lookups for trace and reconcile ---------------------------------------------------
    def interchanges_of(self, partners: Sequence[str], *, limit: int) -> list[dict[str, Any]]:
        """The partners' interchanges (both directions), newest first, at most ``limit``."""
        i = t.interchanges
        with self._read() as conn:
            rows = conn.execute(
                select(i).where(i.c.partner.in_(sorted(partners))).order_by(i.c.id.desc())
                .limit(limit)
            ).all()  # fmt: skip
        return [dict(row._mapping) for row in rows]

    def bindings_matching(
        self,
        system: str,
        entities: Sequence[str],
        *,
        external_ids: Sequence[str] | None = None,
        erp_ids: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Bindings of ``system`` of any of ``entities`` whose external id is one of
        ``external_ids`` or whose ERP id is one of ``erp_ids`` (rows with ``updated_at``)."""
        b = t.bindings
        ids = []
        if external_ids:
            ids.append(b.c.external_id.in_(sorted(set(external_ids))))
        if erp_ids:
            ids.append(b.c.erp_id.in_(sorted(set(erp_ids))))
        if not entities or not ids:
            return []
        with self._read() as conn:
            rows = conn.execute(
                select(b).where(b.c.system == system, b.c.entity.in_(sorted(set(entities))),
                                or_(*ids)).order_by(b.c.id)
            ).all()  # fmt: skip
        return [dict(row._mapping) for row in rows]
