"""Backfills: re-sync a bounded window through the same ledger, without moving live cursors.

A flow declares its backfill in its descriptor (``hub.flows.registry``):

- ``"cursor"``: the flow takes ``since``, ``until`` and ``cursor_stream``: it reads the
  source from ``since``, stops at ``until``, and advances THIS stream instead of the live
  one (the hub passes ``backfill:<flow>:<since>..<until>``), so the live watermark never
  moves backwards and a crashed backfill resumes where it stopped when rerun;
- ``"module:function"``: called as ``function(hub, since=datetime, until=datetime | None,
  **params)`` (edi_orders_inbound re-processes the archived interchanges of the window).

Everything else stays as in a normal run: the journal and bindings make records already in
sync cost no write.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hub.bootstrap import Hub
from hub.flows.registry import REGISTRY, descriptor, load_target
from hub.ops import runs
from schemas.errors import PermanentError


def parse_time(text: str, what: str) -> datetime:
    """An ISO date or timestamp (UTC when no zone is given)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        example = "2026-11-01 or 2026-11-01T08:00:00+01:00"
        why = f"{what} {text!r}: expected an ISO date or timestamp, e.g. {example}"
        raise PermanentError(why, system="cli") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def backfill_stream(flow: str, since: datetime, until: datetime | None) -> str:
    """The cursor a backfill of this window advances instead of the live one."""
    return f"backfill:{flow}:{since.isoformat()}..{until.isoformat() if until else 'now'}"


def backfill(
    hub: Hub, flow: str, *, since: datetime, until: datetime | None = None, **params: Any
) -> dict[str, Any]:
    """Re-sync ``flow`` for [since, until); recorded as a run in mode ``backfill``."""
    from hub.flows import run_flow

    if until is not None and until <= since:
        raise PermanentError(f"--until {until} is not after --since {since}", system="cli")
    desc = descriptor(flow)
    if desc.backfill is None:
        raise PermanentError(
            f"flow {flow!r} cannot be backfilled (it keeps no cursor and no archive); flows "
            "that can: " + ", ".join(sorted(n for n, d in REGISTRY.items() if d.backfill)),
            system="hub",
        )
    params = desc.parse_params(params)
    if desc.backfill != "cursor":
        func = load_target(desc.backfill)
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
    return run_flow(
        flow,
        hub=hub,
        since=since.isoformat(),
        until=until.isoformat() if until else None,
        cursor_stream=backfill_stream(flow, since, until),
        **params,
    )
