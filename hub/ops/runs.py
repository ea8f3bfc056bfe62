"""Flow runs recorded in the ledger: one row per run_flow call, for status, metrics and alerts."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from hub.ledger import Ledger
from hub.ledger.ops_runs import Run
from schemas.errors import HubError

__all__ = [
    "Run",
    "counts_of",
    "finish",
    "items_of",
    "last_per_scope",
    "recent",
    "scope_of",
    "start",
]

log = logging.getLogger(__name__)

SCOPE_PARAMS = ("partner", "system")  # a run's scope: the partner/system it was limited to


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
        return ledger.run_started(flow, scope_of(params), mode, shown)
    except (HubError, SQLAlchemyError) as exc:  # an unmigrated ledger must not stop the flow
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
    try:
        ledger.run_finished(
            run_id,
            status=status,
            counts=counts,
            items=items_of(counts),
            error=f"{type(error).__name__}: {error}" if error is not None else None,
        )
    except (HubError, SQLAlchemyError) as exc:
        log.warning("end of run %s not recorded: %s", run_id, exc)


def recent(
    ledger: Ledger, *, flow: str | None = None, since: datetime | None = None, limit: int = 5000
) -> list[Run]:
    """Runs, newest first (a dead owner's unfinished run as ``crashed``)."""
    return ledger.runs(flow=flow, since=since, limit=limit)


def last_per_scope(ledger: Ledger) -> dict[tuple[str, str], dict[str, Run | None]]:
    """(flow, scope) -> {"last": newest finished or crashed run, "last_ok": newest ok run}."""
    return ledger.last_runs()
