"""Health of every flow per partner/system, from the ledger and the inboxes (`hub status`).

``collect(hub)`` returns the JSON that `hub status --json` prints and the Airflow plugin
serves at /hub/health; ``healthy`` is False when any ``problems`` were found (open dead
letters older than a threshold, a failed last run, lag or cursor age over a threshold).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from hub.bootstrap import Hub
from hub.ledger import tables as t
from hub.ledger import utcnow
from hub.ops import runs as runs_mod

PARTNER_FLOWS = ("edi_orders_inbound", "edi_documents_outbound")
FLOW_SYSTEMS = {
    "erp_reference_check": "erp",
    "crm_sync": "crm",
    "crm_push": "crm",
    "crm_pull": "crm",
    "logistics_shipments": "carrier",
    "logistics_tracking": "carrier",
}
# cursor stream prefix -> flow (the first match wins)
STREAM_FLOWS = (
    ("backfill:", ""),
    ("logistics.shipments", "logistics_shipments"),
    ("crm.push.", "crm_push"),
    ("crm.pull.", "crm_pull"),
    ("edi.out:", "edi_documents_outbound"),
)


@dataclass(frozen=True)
class Thresholds:
    """When status turns unhealthy."""

    max_lag: timedelta = timedelta(hours=1)
    dead_letter_age: timedelta = timedelta(hours=24)
    max_cursor_age: timedelta | None = None


def flow_of_stream(stream: str) -> str:
    """The flow that owns a cursor stream ("" for backfills and unknown streams)."""
    for prefix, flow in STREAM_FLOWS:
        if stream.startswith(prefix):
            return flow
    return ""


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _age(now: datetime, value: datetime | None) -> int | None:
    return int((now - value).total_seconds()) if value else None


def _fmt_age(seconds: float) -> str:
    if seconds < 120:
        return f"{int(seconds)}s"
    if seconds < 7200:
        return f"{int(seconds // 60)}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def _aware(value: datetime | str | None) -> datetime | None:
    """An aggregate's timestamp (SQLite may hand back text or a naive UTC value)."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _run_json(run: runs_mod.Run | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "id": run.id,
        "status": run.status,
        "mode": run.mode,
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "items": run.items,
        "error": run.error,
    }


def _newest(*candidates: runs_mod.Run | None) -> runs_mod.Run | None:
    present = [c for c in candidates if c is not None]
    return max(present, key=lambda r: (r.started_at, r.id)) if present else None


def _inboxes(hub: Hub, now: datetime) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for profile in hub.partners.values():
        if not profile.active:
            continue
        if profile.channel.type == "sftp":
            out[profile.id] = {"checked": False, "why": "remote SFTP mailbox"}
            continue
        files = hub.mailbox(profile).list_inbox()
        oldest = min((f.mtime for f in files), default=None)
        out[profile.id] = {
            "checked": True,
            "files_waiting": len(files),
            "oldest_age_seconds": int(now.timestamp() - oldest) if oldest else None,
        }
    return out


def _journal(hub: Hub, now: datetime) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
    j = t.journal
    pending: dict[str, dict[str, Any]] = {}
    done: dict[str, int] = {}
    with hub.ledger.engine.connect() as conn:
        for flow, count, oldest in conn.execute(
            select(j.c.flow, func.count(), func.min(j.c.created_at))
            .where(j.c.state.in_(("pending", "failed")))
            .group_by(j.c.flow)
        ):
            oldest_at = _aware(oldest)
            pending[flow] = {"count": int(count), "oldest_age_seconds": _age(now, oldest_at)}
        for flow, count in conn.execute(
            select(j.c.flow, func.count())
            .where(j.c.state == "done", j.c.updated_at >= now - timedelta(hours=24))
            .group_by(j.c.flow)
        ):
            done[flow] = int(count)
    return pending, done


def collect(
    hub: Hub, thresholds: Thresholds | None = None, *, now: datetime | None = None
) -> dict[str, Any]:
    """The hub's health as a JSON-able dict (see the module docstring)."""
    from hub.flows import FLOWS

    th = thresholds or Thresholds()
    now = now or utcnow()
    last = runs_mod.last_per_scope(hub.ledger)
    day_runs = runs_mod.recent(hub.ledger, since=now - timedelta(hours=24))
    letters = hub.ledger.dead_letters(state="open", limit=100_000)
    pending, done_24h = _journal(hub, now)
    inboxes = _inboxes(hub, now)
    cursors = [
        {
            "stream": stream,
            "flow": flow_of_stream(stream),
            "value": value,
            "updated_at": _iso(updated),
            "age_seconds": _age(now, updated),
        }
        for stream, (value, updated) in sorted(hub.ledger.cursors().items())
    ]
    partners = sorted(p.id for p in hub.partners.values() if p.active)
    flows = sorted(set(FLOWS) | {f for f, _ in last} | {d.flow for d in letters})
    entries: list[dict[str, Any]] = []
    problems: list[str] = []
    for flow in flows:
        if flow in PARTNER_FLOWS:
            scopes = list(partners)
            if any(d.flow == flow and not d.partner for d in letters):
                scopes.append("-")
        else:
            scopes = [FLOW_SYSTEMS.get(flow, "*")]
        for scope in scopes:
            entry = _entry(
                flow, scope, now, th, last, day_runs, letters, pending, done_24h, inboxes, cursors
            )
            entries.append(entry)
            problems.extend(entry["problems"])
    return {
        "healthy": not problems,
        "generated_at": now.isoformat(),
        "thresholds": {
            "max_lag_seconds": int(th.max_lag.total_seconds()),
            "dead_letter_age_seconds": int(th.dead_letter_age.total_seconds()),
            "max_cursor_age_seconds": (
                int(th.max_cursor_age.total_seconds()) if th.max_cursor_age else None
            ),
        },
        "problems": list(dict.fromkeys(problems)),  # a run for every partner: said once
        "flows": entries,
        "dead_letters_open": len(letters),
        "inboxes": inboxes,
        "cursors": cursors,
    }


def _entry(
    flow: str,
    scope: str,
    now: datetime,
    th: Thresholds,
    last: dict[tuple[str, str], dict[str, runs_mod.Run | None]],
    day_runs: list[runs_mod.Run],
    letters: list[Any],
    pending: dict[str, dict[str, Any]],
    done_24h: dict[str, int],
    inboxes: dict[str, dict[str, Any]],
    cursors: list[dict[str, Any]],
) -> dict[str, Any]:
    per_partner = flow in PARTNER_FLOWS
    own = {"last": None, "last_ok": None} | last.get((flow, scope), {})
    every = {"last": None, "last_ok": None} | last.get((flow, "*"), {})
    if per_partner:  # a run for every partner counts for each of them
        last_run = _newest(own["last"], every["last"])
        last_ok = _newest(own["last_ok"], every["last_ok"])
        in_scope = lambda s: s in (scope, "*")  # noqa: E731
    else:
        last_run = _newest(*(v["last"] for (f, _), v in last.items() if f == flow))
        last_ok = _newest(*(v["last_ok"] for (f, _), v in last.items() if f == flow))
        in_scope = lambda s: True  # noqa: E731
    mine = [
        d for d in letters if d.flow == flow and (not per_partner or (d.partner or "-") == scope)
    ]
    oldest_letter = min((d.created_at for d in mine), default=None)
    label = f"{flow}/{scope}"
    inbox = inboxes.get(scope) if flow == "edi_orders_inbound" else None
    own_cursors = [
        c
        for c in cursors
        if c["flow"] == flow and (not per_partner or c["stream"].endswith(f":{scope}"))
    ]
    lags = [
        (inbox or {}).get("oldest_age_seconds"),
        None if per_partner else (pending.get(flow) or {}).get("oldest_age_seconds"),
    ]
    lag = max((x for x in lags if x is not None), default=0)
    problems: list[str] = []
    old = [d for d in mine if now - d.created_at > th.dead_letter_age]
    if old:
        problems.append(
            f"{label}: {len(old)} open dead letter(s) older than "
            f"{_fmt_age(th.dead_letter_age.total_seconds())} (oldest #{old[0].id}, "
            f"{old[0].error_class}): see `hub dead-letters list --flow {flow}"
            + (f" --partner {scope}`" if per_partner and scope != "-" else "`")
        )
    if last_run is not None and last_run.status == "failed":
        problems.append(
            f"{flow}/{last_run.scope}: last run #{last_run.id} failed at "
            f"{last_run.started_at:%Y-%m-%d %H:%M} UTC: {(last_run.error or '')[:200]}"
        )
    if lag > th.max_lag.total_seconds():
        problems.append(
            f"{label}: lag {_fmt_age(lag)} over {_fmt_age(th.max_lag.total_seconds())} "
            "(oldest unprocessed item): is the DAG running?"
        )
    if th.max_cursor_age is not None:
        for c in own_cursors:
            if (
                c["age_seconds"] is not None
                and c["age_seconds"] > th.max_cursor_age.total_seconds()
            ):
                problems.append(
                    f"{label}: cursor {c['stream']} has not moved for {_fmt_age(c['age_seconds'])}"
                )
    items = sum(r.items for r in day_runs if r.flow == flow and in_scope(r.scope))
    return {
        "flow": flow,
        "scope": scope,
        "healthy": not problems,
        "last_run": _run_json(last_run),
        "last_success": _run_json(last_ok),
        "lag_seconds": lag,
        "items_24h": items,
        "journal_done_24h": None if per_partner else done_24h.get(flow, 0),
        "journal_pending": None if per_partner else pending.get(flow, {}).get("count", 0),
        "dead_letters_open": len(mine),
        "oldest_dead_letter_age_seconds": _age(now, oldest_letter),
        "inbox": inbox,
        "cursors": [{k: c[k] for k in ("stream", "value", "age_seconds")} for c in own_cursors],
        "problems": problems,
    }
