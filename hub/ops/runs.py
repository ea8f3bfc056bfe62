"""Flow runs recorded in the ledger: one row per run_flow call, for status, metrics and alerts."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from hub.ledger import Ledger, utcnow
from hub.ops import tables as ot

log = logging.getLogger(__name__)

SCOPE_PARAMS = ("partner", "system")  # a run's scope: the partner/system it was limited to


@dataclass(frozen=True)
class Run:
    """One recorded flow run."""

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


def scope_of(params: dict[str, Any]) -> str:
    """The partner/system a run was limited to, "*" for all."""
    for name in SCOPE_PARAMS:
        if params.get(name):
            return str(params[name])
    return "*"


def counts_of(report: dict[str, Any], prefix: str = "") -> dict[str, int]:
    """The numeric counters of a flow report (nested reports flattened as ``push.deals_sent``)."""
    counts: dict[str, int] = {}
    for key, value in report.items():
        if key in ("details",):
            continue
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            counts[f"{prefix}{key}"] = int(value)
        elif isinstance(value, dict) and key != "by_type":
            counts.update(counts_of(value, f"{prefix}{key}."))
    return counts


# counters that say "records written to a system" in the flows' reports
ITEM_COUNTERS = (
    "orders_created",
    "documents_sent",
    "booked",
    "changed",
    "written_back",
    "companies_sent",
    "contacts_sent",
    "products_sent",
    "deals_sent",
    "line_items_sent",
    "invoice_updates_sent",
    "parties_updated",
    "parties_created",
)


def items_of(counts: dict[str, int]) -> int:
    """Records a run wrote to some system (the 'records synced' of status and metrics)."""
    return sum(v for k, v in counts.items() if k.rsplit(".", 1)[-1] in ITEM_COUNTERS)


def start(ledger: Ledger, flow: str, params: dict[str, Any], *, mode: str = "run") -> int | None:
    """Record a run as started; None (and a warning) if the ledger cannot take it."""
    shown = {k: v for k, v in params.items() if isinstance(v, str | int | float | bool)}
    try:
        with ledger.transaction() as conn:
            result = conn.execute(
                insert(ot.runs).values(
                    flow=flow,
                    scope=scope_of(params),
                    mode=mode,
                    status="running",
                    params=json.dumps(shown, sort_keys=True, default=str),
                    items=0,
                    owner=ledger.owner,
                    started_at=utcnow(),
                )
            )
            key = result.inserted_primary_key
            assert key is not None  # a single-row INSERT always reports its key
            return int(key[0])
    except SQLAlchemyError as exc:  # an unmigrated ledger must not stop the flow itself
        log.warning(
            "run of %s not recorded (migrate the ledger: hub ledger upgrade): %s", flow, exc
        )
        return None


def finish(
    ledger: Ledger,
    run_id: int | None,
    *,
    report: dict[str, Any] | None = None,
    error: BaseException | None = None,
) -> None:
    """Record how a run ended: the report's status and counters, or the error."""
    if run_id is None:
        return
    counts = counts_of(report or {})
    status = "failed" if error is not None else str((report or {}).get("status") or "ok")
    values: dict[str, Any] = {
        "status": status,
        "counts": json.dumps(counts, sort_keys=True),
        "items": items_of(counts),
        "finished_at": utcnow(),
    }
    if error is not None:
        values["error"] = f"{type(error).__name__}: {error}"[:4000]
    try:
        with ledger.transaction() as conn:
            conn.execute(update(ot.runs).where(ot.runs.c.id == run_id).values(**values))
    except SQLAlchemyError as exc:
        log.warning("end of run %s not recorded: %s", run_id, exc)


def recent(
    ledger: Ledger, *, flow: str | None = None, since: datetime | None = None, limit: int = 5000
) -> list[Run]:
    """Runs, newest first."""
    query = select(ot.runs).order_by(ot.runs.c.started_at.desc(), ot.runs.c.id.desc())
    if flow:
        query = query.where(ot.runs.c.flow == flow)
    if since:
        query = query.where(ot.runs.c.started_at >= since)
    with ledger.engine.connect() as conn:
        rows = conn.execute(query.limit(limit)).all()
    return [_run(row) for row in rows]


def last_per_scope(ledger: Ledger) -> dict[tuple[str, str], dict[str, Run | None]]:
    """(flow, scope) -> {"last": newest finished run, "last_ok": newest ok/partial run}."""
    r = ot.runs
    out: dict[tuple[str, str], dict[str, Run | None]] = {}
    with ledger.engine.connect() as conn:
        for label, states in (
            ("last", ("ok", "partial", "failed")),
            ("last_ok", ("ok", "partial")),
        ):
            newest = (
                select(r.c.flow, r.c.scope, func.max(r.c.id).label("id"))
                .where(r.c.status.in_(states), r.c.mode != "dry_run")
                .group_by(r.c.flow, r.c.scope)
                .subquery()
            )
            rows = conn.execute(select(r).join(newest, r.c.id == newest.c.id)).all()
            for row in rows:
                out.setdefault((row.flow, row.scope), {"last": None, "last_ok": None})[label] = (
                    _run(row)
                )
    return out


def _run(row: Any) -> Run:
    return Run(
        id=row.id,
        flow=row.flow,
        scope=row.scope,
        mode=row.mode,
        status=row.status,
        counts=json.loads(row.counts or "{}"),
        items=int(row._mapping["items"] or 0),
        error=row.error,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )
