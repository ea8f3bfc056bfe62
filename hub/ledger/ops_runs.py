"""Flow runs in the ledger: one row per run, read back for status, metrics and alerts.

A run still marked ``running`` whose owner is provably dead (same host and its process
gone, or its heartbeat stopped) is read back as ``crashed``: a ``kill -9`` never leaves a
run "running" forever.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update

from hub.ledger import tables as t
from hub.ledger.engine import LedgerBase, row_as, utcnow

FINISHED = ("ok", "partial", "failed")
SUCCEEDED = ("ok", "partial")


@dataclass(frozen=True)
class Run:
    """One recorded flow run (``status`` is ``crashed`` for a dead owner's running run)."""

    id: int
    flow: str
    scope: str
    mode: str
    status: str
    counts: dict[str, Any]
    items: int
    error: str | None
    started_at: datetime
    finished_at: datetime | None
    owner: str | None = None

    @property
    def crashed(self) -> bool:
        """The run's process died before it could record how the run ended."""
        return self.status == "crashed"


class RunStore(LedgerBase):
    """Start, finish and read flow runs."""

    def run_started(self, flow: str, scope: str, mode: str, params: dict[str, Any]) -> int:
        """Record a run as started by this owner; returns its id."""
        with self.transaction() as conn:
            result = conn.execute(
                insert(t.runs).values(
                    flow=flow,
                    scope=scope,
                    mode=mode,
                    status="running",
                    params=json.dumps(params, sort_keys=True, default=str),
                    items=0,
                    owner=self.owner,
                    started_at=utcnow(),
                )
            )
            key = result.inserted_primary_key
            assert key is not None  # a single-row INSERT always reports its key
            return int(key[0])

    def run_finished(
        self,
        run_id: int,
        *,
        status: str,
        counts: dict[str, int],
        items: int,
        error: str | None = None,
    ) -> None:
        """Record how a run ended: its status, counters and error."""
        values: dict[str, Any] = {
            "status": status,
            "counts": json.dumps(counts, sort_keys=True),
            "items": items,
            "finished_at": utcnow(),
        }
        if error is not None:
            values["error"] = error[:4000]
        with self.transaction() as conn:
            conn.execute(update(t.runs).where(t.runs.c.id == run_id).values(**values))

    def runs(
        self, *, flow: str | None = None, since: datetime | None = None, limit: int = 5000
    ) -> list[Run]:
        """Runs, newest first."""
        r = t.runs
        query = select(r).order_by(r.c.started_at.desc(), r.c.id.desc())
        if flow:
            query = query.where(r.c.flow == flow)
        if since:
            query = query.where(r.c.started_at >= since)
        with self._read() as conn:
            rows = conn.execute(query.limit(limit)).all()
        return [self._run(row) for row in rows]

    def run_by_id(self, run_id: int) -> Run | None:
        """One run."""
        with self._read() as conn:
            row = conn.execute(select(t.runs).where(t.runs.c.id == run_id)).first()
        return self._run(row) if row else None

    def runs_unfinished(self) -> list[Run]:
        """Runs still marked running: live ones as ``running``, dead owners' as ``crashed``."""
        r = t.runs
        with self._read() as conn:
            rows = conn.execute(
                select(r).where(r.c.status == "running").order_by(r.c.id.desc())
            ).all()
        return [self._run(row) for row in rows]

    def last_runs(self) -> dict[tuple[str, str], dict[str, Run | None]]:
        """(flow, scope) -> {"last": newest finished or crashed run, "last_ok": newest ok run}.

        Dry runs are left out."""
        r = t.runs
        out: dict[tuple[str, str], dict[str, Run | None]] = {}
        with self._read() as conn:
            for label, states in (("last", FINISHED), ("last_ok", SUCCEEDED)):
                newest = (
                    select(r.c.flow, r.c.scope, func.max(r.c.id).label("id"))
                    .where(r.c.status.in_(states), r.c.mode != "dry_run")
                    .group_by(r.c.flow, r.c.scope)
                    .subquery()
                )
                for row in conn.execute(select(r).join(newest, r.c.id == newest.c.id)).all():
                    slot = out.setdefault((row.flow, row.scope), {"last": None, "last_ok": None})
                    slot[label] = self._run(row)
        for run in self.runs_unfinished():
            if not run.crashed or run.mode == "dry_run":
                continue
            slot = out.setdefault((run.flow, run.scope), {"last": None, "last_ok": None})
            last = slot["last"]
            if last is None or last.id < run.id:
                slot["last"] = run
        return out

    def run_totals(self) -> list[tuple[str, str, int, int]]:
        """(flow, status, runs, items written) over every run but dry runs; running runs of
        dead owners count as ``crashed``."""
        r = t.runs
        with self._read() as conn:
            rows = conn.execute(
                select(r.c.flow, r.c.status, func.count(), func.coalesce(func.sum(r.c["items"]), 0))
                .where(r.c.mode != "dry_run", r.c.status != "running")
                .group_by(r.c.flow, r.c.status)
            ).all()
        totals = {(flow, status): (int(n), int(items)) for flow, status, n, items in rows}
        for run in self.runs_unfinished():
            if run.mode == "dry_run":
                continue
            n, items = totals.get((run.flow, run.status), (0, 0))
            totals[(run.flow, run.status)] = (n + 1, items + run.items)
        return [(f, s, n, i) for (f, s), (n, i) in sorted(totals.items())]

    def _run(self, row: Any) -> Run:
        status = row.status
        if status == "running" and self.owner_is_dead(row.owner):
            status = "crashed"
        counts = json.loads(row.counts or "{}")
        return row_as(Run, row, status=status, counts=counts, items=int(row._mapping["items"] or 0))
