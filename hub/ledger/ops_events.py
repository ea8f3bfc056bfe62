"""Trace events and the dead-letter audit trail: the ledger's record of business steps and of
what operators did.

An event is recorded once per (ref, kind, document, state): a retried run adds nothing. An
audit row is appended for every operator action on a dead letter (replay, discard).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Required, TypedDict, Unpack

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from hub.ledger import tables as t
from hub.ledger.engine import LedgerBase, row_as, utcnow


class EventFields(TypedDict, total=False):
    """What a step says besides its refs and kind (each optional, as on ``Event``)."""

    flow: str | None
    system: str | None
    partner: str | None
    state: str | None
    document: str | None
    detail: dict[str, Any] | None


class AuditEntry(TypedDict, total=False):
    """One operator action on a dead letter: what, by whom, with what outcome, and why."""

    action: Required[str]  # replay | discard | resend
    by: Required[str]
    outcome: Required[str]
    reason: str | None
    detail: Any


@dataclass(frozen=True)
class Event:
    """One recorded step of a business reference's life."""

    ref: str
    kind: str
    at: datetime
    flow: str | None = None
    system: str | None = None
    partner: str | None = None
    state: str | None = None
    document: str | None = None
    detail: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        """A value longer than its column is cut to it (a CRM deal stage such as
        ``decisionmakerboughtin`` is 21 characters, the state column 20): PostgreSQL refuses
        it, and recording a trace step must never fail the flow that made it."""
        for name, limit in _LIMITS.items():
            value = getattr(self, name)
            if value is not None and len(value) > limit:
                object.__setattr__(self, name, value[:limit])


# the events columns with a length (state 20, kind 60...): ``Event`` values are cut to them
_LIMITS: dict[str, int] = {
    c.name: getattr(c.type, "length", 0)
    for c in t.events.columns
    if c.name in Event.__dataclass_fields__ and getattr(c.type, "length", None)
}


def _detail(value: Any) -> str | None:
    return json.dumps(value, sort_keys=True, default=str) if value else None


class EventStore(LedgerBase):
    """Events under business references, and the dead-letter audit trail."""

    # -- events -------------------------------------------------------------------------
    def record_event(
        self,
        *,
        refs: Iterable[str],
        kind: str,
        conn: Connection | None = None,
        **fields: Unpack[EventFields],
    ) -> None:
        """Record one step under every ref in ``refs`` (once per ref, kind, document, state)."""
        self.record_events(
            [(list(refs), Event(ref="", kind=kind, at=utcnow(), **fields))], conn=conn
        )

    def record_events(
        self, steps: Sequence[tuple[Sequence[str], Event]], *, conn: Connection | None = None
    ) -> None:
        """Record many steps at once, each under its refs (``Event.ref`` is ignored), with
        the same once-only rule as ``record_event``: one query for what is there already,
        one insert for the rest (a page of a thousand deals costs two statements)."""
        if not steps:
            return
        now = utcnow()
        e = t.events
        refs = sorted({ref for refs, _ in steps for ref in refs})
        kinds = sorted({step.kind for _, step in steps})
        with self._conn(conn) as c:
            seen = {
                (r.ref, r.kind, r.document, r.state)
                for start in range(0, len(refs), 500)
                for r in c.execute(
                    select(e.c.ref, e.c.kind, e.c.document, e.c.state).where(
                        e.c.ref.in_(refs[start : start + 500]), e.c.kind.in_(kinds)
                    )
                )
            }
            rows = []
            for step_refs, step in steps:
                for ref in dict.fromkeys(step_refs):
                    if (ref, step.kind, step.document, step.state) in seen:
                        continue
                    seen.add((ref, step.kind, step.document, step.state))
                    rows.append({
                        "ref": ref, "kind": step.kind, "flow": step.flow, "system": step.system,
                        "partner": step.partner, "state": step.state, "document": step.document,
                        "detail": _detail(step.detail), "at": now,
                    })  # fmt: skip
            if rows:
                c.execute(insert(e), rows)

    def events_for(self, refs: Sequence[str] | set[str]) -> list[Event]:
        """Every event recorded under one of ``refs``, oldest first; a step recorded under
        several refs comes back once."""
        if not refs:
            return []
        e = t.events
        with self._read() as conn:
            rows = conn.execute(
                select(e).where(e.c.ref.in_(sorted(refs))).order_by(e.c.at, e.c.id)
            ).all()
        seen: dict[tuple[Any, ...], Any] = {}
        for r in rows:
            seen.setdefault((r.kind, r.flow, r.document, r.state, r.detail, r.at), r)
        return [
            row_as(Event, r, detail=json.loads(r.detail) if r.detail else None)
            for r in seen.values()
        ]

    # -- dead-letter audit --------------------------------------------------------------
    def audit_dead_letter(self, letter_id: int, **entry: Unpack[AuditEntry]) -> None:
        """Append one operator action to a letter's audit trail."""
        with self.transaction() as conn:
            conn.execute(
                insert(t.dead_letter_audit).values(
                    letter_id=letter_id, action=entry["action"], actor=entry["by"],
                    reason=entry.get("reason"), outcome=entry["outcome"],
                    detail=_detail(entry.get("detail")), at=utcnow(),
                )
            )  # fmt: skip

    def dead_letter_audit(self, letter_id: int) -> list[dict[str, Any]]:
        """Every action taken on a letter, oldest first."""
        a = t.dead_letter_audit
        with self._read() as conn:
            rows = conn.execute(
                select(a).where(a.c.letter_id == letter_id).order_by(a.c.at, a.c.id)
            ).all()
        return [
            {
                "action": r.action,
                "by": r.actor,
                "at": r.at.isoformat(),
                "outcome": r.outcome,
                "reason": r.reason,
                "detail": json.loads(r.detail) if r.detail else None,
            }
            for r in rows
        ]
