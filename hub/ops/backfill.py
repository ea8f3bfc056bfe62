"""Backfills: re-sync a bounded window through the same ledger, without moving live cursors.

Convention for cursor-based flows (their owners add three parameters):

- ``since: str`` (ISO timestamp): read the source from here instead of the live cursor;
- ``until: str | None``: stop at records changed at or after this instant;
- ``cursor_stream: str | None``: advance THIS stream instead of the live one (the hub passes
  ``backfill:<flow>:<since>..<until>``), so the live watermark never moves backwards and a
  crashed backfill resumes where it stopped when rerun with the same window.

Everything else stays as in a normal run: the journal and bindings make records already in
sync cost no write. Flows without a cursor register a function in ``BACKFILLS``
(``function(hub, since=datetime, until=datetime | None, **params)``); edi_orders_inbound
re-processes the archived interchanges received in the window.
"""

from __future__ import annotations

import importlib
import inspect
from datetime import UTC, datetime
from typing import Any

from hub.bootstrap import Hub
from hub.ops import runs
from schemas.errors import PermanentError

BACKFILLS: dict[str, str] = {
    "edi_orders_inbound": "hub.flows.edi_inbound_replay:backfill",
}
CURSOR_PARAMS = ("since", "until", "cursor_stream")


def parse_time(text: str, what: str) -> datetime:
    """An ISO date or timestamp (UTC when no zone is given)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise PermanentError(
            f"{what} {text!r}: expected an ISO date or timestamp, e.g. 2026-11-01 or "
            "2026-11-01T08:00:00+01:00",
            system="cli",
        ) from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def backfill_stream(flow: str, since: datetime, until: datetime | None) -> str:
    """The cursor a backfill of this window advances instead of the live one."""
    return f"backfill:{flow}:{since.isoformat()}..{until.isoformat() if until else 'now'}"


def backfill(
    hub: Hub, flow: str, *, since: datetime, until: datetime | None = None, **params: Any
) -> dict[str, Any]:
    """Re-sync ``flow`` for [since, until); recorded as a run in mode ``backfill``."""
    from hub.flows import resolve, run_flow

    if until is not None and until <= since:
        raise PermanentError(f"--until {until} is not after --since {since}", system="cli")
    if flow in BACKFILLS:
        module, _, name = BACKFILLS[flow].partition(":")
        func = getattr(importlib.import_module(module), name)
        run_id = runs.start(
            hub.ledger, flow, {**params, "since": since.isoformat()}, mode="backfill"
        )
        try:
            report = func(hub, since=since, until=until, **params)
        except BaseException as exc:
            runs.finish(hub.ledger, run_id, error=exc)
            raise
        runs.finish(hub.ledger, run_id, report=report)
        return report
    accepted = inspect.signature(resolve(flow)).parameters
    missing = [p for p in CURSOR_PARAMS if p not in accepted]
    if missing:
        raise PermanentError(
            f"flow {flow!r} cannot be backfilled yet: it lacks the parameter(s) "
            f"{', '.join(missing)} (see hub/ops/backfill.py); running it with `since` alone "
            "would move its live cursor",
            system="hub",
        )
    return run_flow(
        flow,
        hub=hub,
        since=since.isoformat(),
        until=until.isoformat() if until else None,
        cursor_stream=backfill_stream(flow, since, until),
        **params,
    )
