"""Health of every flow per partner/system, from the ledger and the inboxes (`hub status`).

``collect(hub)`` returns the JSON that `hub status --json` prints and the Airflow plugin
serves at /hub/health; ``healthy`` is False when any ``problems`` were found (open dead
letters older than a threshold, a failed last run, lag or cursor age over a threshold).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hub.bootstrap import Hub
from hub.flows.registry import REGISTRY, stream_owner
from hub.ledger import utcnow
from hub.ops import acks as ack_ops
from hub.ops import runs as runs_mod

FLOW_SYSTEMS = {
    "erp_reference_check": "erp",
    "crm_sync": "crm",
    "crm_push": "crm",
    "crm_pull": "crm",
    "logistics_shipments": "carrier",
    "logistics_tracking": "carrier",
}


@dataclass(frozen=True)
class Thresholds:
    """When status turns unhealthy."""

    max_lag: timedelta = timedelta(hours=1)
    dead_letter_age: timedelta = timedelta(hours=24)
    max_cursor_age: timedelta | None = None


def flow_of_stream(stream: str) -> str:
    """The flow that owns a cursor stream ("" for backfills and unknown streams)."""
    if stream.startswith("backfill:"):
        return ""
    return stream_owner(stream) or ""


def composite(flow: str) -> bool:
    """A flow made of others (``crm_sync`` = ``crm_push`` + ``crm_pull``: every cursor stream
    it keeps belongs to another flow). Its DAG runs the parts, so a row for it would always
    say "never"; it is shown only once it ran itself (``hub run crm_sync``)."""
    desc = REGISTRY.get(flow)
    if desc is None or not desc.streams:
        return False
    mine = set(desc.streams)
    parts = [set(d.streams) for d in REGISTRY.values() if set(d.streams) < mine]
    return bool(parts) and set().union(*parts) == mine


def per_partner(flow: str) -> bool:
    """Whether a flow runs and reports per trading partner (its descriptor says)."""
    desc = REGISTRY.get(flow)
    return desc is not None and desc.per_partner


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
    waiting, done = hub.ledger.journal_backlog(now)
    pending = {
        flow: {"count": count, "oldest_age_seconds": _age(now, oldest)}
        for flow, (count, oldest) in waiting.items()
    }
    return pending, done


@dataclass
class Snapshot:
    """What status reads once from the ledger and the inboxes, shared by every entry."""

    now: datetime
    th: Thresholds
    last: dict[tuple[str, str], dict[str, runs_mod.Run | None]]
    day_runs: list[runs_mod.Run]
    running: list[runs_mod.Run]
    letters: list[Any]
    pending: dict[str, dict[str, Any]]
    done_24h: dict[str, int]
    inboxes: dict[str, dict[str, Any]]
    cursors: list[dict[str, Any]]


def _snapshot(hub: Hub, th: Thresholds, now: datetime) -> Snapshot:
    pending, done_24h = _journal(hub, now)
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
    return Snapshot(
        now=now,
        th=th,
        last=runs_mod.last_per_scope(hub.ledger),
        day_runs=runs_mod.recent(hub.ledger, since=now - timedelta(hours=24)),
        running=[r for r in hub.ledger.runs_unfinished() if not r.crashed],
        letters=hub.ledger.dead_letters(state="open", limit=100_000),
        pending=pending,
        done_24h=done_24h,
        inboxes=_inboxes(hub, now),
        cursors=cursors,
    )


def collect(
    hub: Hub, thresholds: Thresholds | None = None, *, now: datetime | None = None
) -> dict[str, Any]:
    """The hub's health as a JSON-able dict (see the module docstring)."""
    from hub.flows import FLOWS

    th = thresholds or Thresholds()
    snap = _snapshot(hub, th, now or utcnow())
    partners = sorted(p.id for p in hub.partners.values() if p.active)
    active = {f for f, _ in snap.last} | {d.flow for d in snap.letters}
    flows = sorted(f for f in set(FLOWS) | active if f in active or not composite(f))
    entries: list[dict[str, Any]] = []
    problems: list[str] = []
    for flow in flows:
        if per_partner(flow):
            scopes = list(partners)
            if any(d.flow == flow and not d.partner for d in snap.letters):
                scopes.append("-")
        else:
            scopes = [FLOW_SYSTEMS.get(flow, "*")]
        for scope in scopes:
            entry = _entry(snap, flow, scope)
            entries.append(entry)
            problems.extend(entry["problems"])
    profiles = _partner_profiles(hub)
    problems.extend(profiles["problems"])
    pools = _airflow_pools()
    problems.extend(pools["problems"])
    acknowledgements = ack_ops.status_section(hub.ledger, now=snap.now)
    problems.extend(acknowledgements["problems"])
    return {
        "healthy": not problems,
        "generated_at": snap.now.isoformat(),
        "thresholds": {
            "max_lag_seconds": int(th.max_lag.total_seconds()),
            "dead_letter_age_seconds": int(th.dead_letter_age.total_seconds()),
            "max_cursor_age_seconds": (
                int(th.max_cursor_age.total_seconds()) if th.max_cursor_age else None
            ),
        },
        "problems": list(dict.fromkeys(problems)),  # a run for every partner: said once
        "flows": entries,
        "dead_letters_open": len(snap.letters),
        "inboxes": snap.inboxes,
        "cursors": snap.cursors,
        "partner_profiles": {k: v for k, v in profiles.items() if k != "problems"},
        "airflow_pools": {k: v for k, v in pools.items() if k != "problems"},
        "acknowledgements": acknowledgements["counts"],
    }


def _partner_profiles(hub: Hub) -> dict[str, Any]:
    """Valid partner ids and every invalid profile file with its error (each one skipped:
    the others keep running, the broken one is a problem until fixed)."""
    invalid = dict(getattr(hub.partners, "invalid", {}))
    return {
        "valid": sorted(hub.partners),
        "invalid": [{"file": path, "error": error} for path, error in sorted(invalid.items())],
        "problems": [
            f"invalid partner profile skipped (the other partners keep running): {error}"
            for _, error in sorted(invalid.items())
        ],
    }


def _airflow_pools() -> dict[str, Any]:
    """The hub's pools in Airflow's metadata DB: a missing pool leaves every task naming it
    queued forever, silently; checked without importing Airflow, when a DB is found."""
    from hub.airflow_env import missing_pools

    found = missing_pools()
    if found is None:
        return {"checked": False, "missing": [], "problems": []}
    where, missing = found
    fix = "python -m hub.airflow_env pools (make airflow creates them at start)"
    return {
        "checked": True,
        "database": where,
        "missing": missing,
        "problems": [
            f"Airflow pool {name!r} is missing in {where}: tasks naming it stay queued "
            f"forever; create it with `{fix}`"
            for name in missing
        ],
    }


@dataclass
class _Scoped:
    """One (flow, scope)'s share of the snapshot."""

    flow: str
    scope: str
    per_partner: bool
    last_run: runs_mod.Run | None
    last_ok: runs_mod.Run | None
    letters: list[Any]
    cursors: list[dict[str, Any]]
    inbox: dict[str, Any] | None
    lag: float

    @property
    def label(self) -> str:
        return f"{self.flow}/{self.scope}"

    def in_scope(self, scope: str) -> bool:
        """A run of ``scope`` counts here (a run for every partner counts for each)."""
        return not self.per_partner or scope in (self.scope, "*")


def _scoped(snap: Snapshot, flow: str, scope: str) -> _Scoped:
    partnered = per_partner(flow)
    if partnered:  # a run for every partner counts for each of them
        own = {"last": None, "last_ok": None} | snap.last.get((flow, scope), {})
        every = {"last": None, "last_ok": None} | snap.last.get((flow, "*"), {})
        last_run = _newest(own["last"], every["last"])
        last_ok = _newest(own["last_ok"], every["last_ok"])
    else:
        last_run = _newest(*(v["last"] for (f, _), v in snap.last.items() if f == flow))
        last_ok = _newest(*(v["last_ok"] for (f, _), v in snap.last.items() if f == flow))
    inbox = snap.inboxes.get(scope) if flow == "edi_orders_inbound" else None
    lags = [
        (inbox or {}).get("oldest_age_seconds"),
        None if partnered else (snap.pending.get(flow) or {}).get("oldest_age_seconds"),
    ]
    return _Scoped(
        flow=flow,
        scope=scope,
        per_partner=partnered,
        last_run=last_run,
        last_ok=last_ok,
        letters=[
            d
            for d in snap.letters
            if d.flow == flow and (not partnered or (d.partner or "-") == scope)
        ],
        cursors=[
            c
            for c in snap.cursors
            if c["flow"] == flow and (not partnered or c["stream"].endswith(f":{scope}"))
        ],
        inbox=inbox,
        lag=max((x for x in lags if x is not None), default=0),
    )


def _problems(snap: Snapshot, sc: _Scoped) -> list[str]:
    th, now = snap.th, snap.now
    problems: list[str] = []
    old = [d for d in sc.letters if now - d.created_at > th.dead_letter_age]
    if old:
        problems.append(
            f"{sc.label}: {len(old)} open dead letter(s) older than "
            f"{_fmt_age(th.dead_letter_age.total_seconds())} (oldest #{old[0].id}, "
            f"{old[0].error_class}): see `hub dead-letters list --flow {sc.flow}"
            + (f" --partner {sc.scope}`" if sc.per_partner and sc.scope != "-" else "`")
        )
    last_run = sc.last_run
    if last_run is not None and last_run.status == "failed":
        problems.append(
            f"{sc.flow}/{last_run.scope}: last run #{last_run.id} failed at "
            f"{last_run.started_at:%Y-%m-%d %H:%M} UTC: {(last_run.error or '')[:200]}"
        )
    elif last_run is not None and last_run.crashed:
        problems.append(
            f"{sc.flow}/{last_run.scope}: last run #{last_run.id} crashed (started "
            f"{last_run.started_at:%Y-%m-%d %H:%M} UTC; its process {last_run.owner} is gone "
            "without recording an end): its leases are taken over by the next run"
        )
    if sc.lag > th.max_lag.total_seconds():
        problems.append(
            f"{sc.label}: lag {_fmt_age(sc.lag)} over {_fmt_age(th.max_lag.total_seconds())} "
            "(oldest unprocessed item): is the DAG running?"
        )
    if th.max_cursor_age is not None:
        limit = th.max_cursor_age.total_seconds()
        for c in sc.cursors:
            if c["age_seconds"] is not None and c["age_seconds"] > limit:
                problems.append(
                    f"{sc.label}: cursor {c['stream']} has not moved for "
                    f"{_fmt_age(c['age_seconds'])}"
                )
    return problems


def _entry(snap: Snapshot, flow: str, scope: str) -> dict[str, Any]:
    sc = _scoped(snap, flow, scope)
    problems = _problems(snap, sc)
    oldest_letter = min((d.created_at for d in sc.letters), default=None)
    partnered = sc.per_partner
    return {
        "flow": flow,
        "scope": scope,
        "healthy": not problems,
        "last_run": _run_json(sc.last_run),
        "last_success": _run_json(sc.last_ok),
        "running": [_run_json(r) for r in snap.running if r.flow == flow and sc.in_scope(r.scope)],
        "lag_seconds": sc.lag,
        "items_24h": sum(r.items for r in snap.day_runs if r.flow == flow and sc.in_scope(r.scope)),
        "journal_done_24h": None if partnered else snap.done_24h.get(flow, 0),
        "journal_pending": None if partnered else snap.pending.get(flow, {}).get("count", 0),
        "dead_letters_open": len(sc.letters),
        "oldest_dead_letter_age_seconds": _age(snap.now, oldest_letter),
        "inbox": sc.inbox,
        "cursors": [{k: c[k] for k in ("stream", "value", "age_seconds")} for c in sc.cursors],
        "problems": problems,
    }
