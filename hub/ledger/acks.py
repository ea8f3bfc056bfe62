"""Outbound documents' acknowledgement state: what each partner was sent and what it answered.

One row per document sent (partner + our interchange reference): which acknowledgements
it expects (CONTRL, APERAK) and by when, what arrived (accepted or rejected, with the
partner's codes and positions), and whether a corrected copy replaced it. The state
(``transforms.edifact_acks_in.ack_state``) is stored so status, reconcile and the ops page
read it without recomputing; ``mark_overdue`` moves documents past their deadline.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Connection

from hub.ledger import tables as t
from hub.ledger.engine import LedgerBase, insert_new, utcnow
from transforms.edifact_acks_in import ack_state

AckRow = dict[str, Any]


class AckStore(LedgerBase):
    """Expectations and received acknowledgements of outbound documents."""

    def expect_ack(self, partner: str, control_ref: str, *, doc_type: str, doc_key: str,
                   document_number: str, file_name: str | None = None, message_ref: str = "1",
                   due: dict[str, datetime] | None = None, sent_at: datetime | None = None,
                   resent_from: str | None = None, refs: Sequence[str] = (),
                   conn: Connection | None = None) -> bool:  # fmt: skip
        """Register a document as sent (once; a repeat changes nothing); ``due``: kind ->
        deadline of each acknowledgement it expects. True when registered now."""
        now = utcnow()
        due = due or {}
        with self._conn(conn) as c:
            return insert_new(
                c, t.outbound_acks, partner=partner, control_ref=control_ref,
                message_ref=message_ref, doc_type=doc_type, doc_key=doc_key,
                document_number=document_number, file_name=file_name,
                expects=",".join(sorted(due)), contrl_due=due.get("CONTRL"),
                aperak_due=due.get("APERAK"), state="sent", errors="[]", acks="[]",
                resent_from=resent_from, refs=json.dumps(list(refs)), sent_at=sent_at or now,
                updated_at=now,
            )  # fmt: skip

    def find_outbound(
        self,
        partner: str,
        *,
        control_refs: Sequence[str] = (),
        document_numbers: Sequence[str] = (),
        conn: Connection | None = None,
    ) -> list[AckRow]:
        """The partner's documents with one of these interchange references or numbers,
        newest first (a re-sent document shares its number with the one it corrects)."""
        a = t.outbound_acks.c
        if not control_refs and not document_numbers:
            return []
        query = (
            select(t.outbound_acks)
            .where(a.partner == partner)
            .where(
                or_(
                    a.control_ref.in_(list(control_refs)),
                    a.document_number.in_(list(document_numbers)),
                )
            )  # fmt: skip
            .order_by(a.id.desc())
        )
        if conn is not None:
            return [_row(r) for r in conn.execute(query)]
        with self._read() as c:
            return [_row(r) for r in c.execute(query)]

    def record_ack(self, partner: str, control_ref: str, *, kind: str, accepted: bool,
                   errors: Sequence[dict[str, str]], received: dict[str, Any],
                   conn: Connection | None = None) -> AckRow | None:  # fmt: skip
        """Record a CONTRL or APERAK for one document and recompute its state; the row
        after, or None when no such document. The same acknowledgement twice (by its
        ``received["ref"]``) changes nothing."""
        now = utcnow()
        with self._conn(conn) as c:
            found = self.find_outbound(partner, control_refs=[control_ref], conn=c)
            if not found:
                return None
            row = found[0]
            if any(a.get("ref") == received.get("ref") and a.get("kind") == kind
                   for a in row["acks"]):  # fmt: skip
                return row
            verdict = "accepted" if accepted else "rejected"
            values: dict[str, Any] = {kind.lower(): verdict, "updated_at": now}
            values["acks"] = json.dumps([*row["acks"], {**received, "kind": kind,
                                         "verdict": verdict}], default=str)  # fmt: skip
            if errors:
                values["errors"] = json.dumps([*row["errors"], *errors])
            merged = {**row, **values}
            values["state"] = _state(merged, now)
            c.execute(update(t.outbound_acks).where(t.outbound_acks.c.id == row["id"])
                      .values(**values))  # fmt: skip
            return {**merged, "state": values["state"], **_decoded(values)}

    def mark_resent(
        self, partner: str, control_ref: str, new_ref: str, *, conn: Connection | None = None
    ) -> None:
        """A corrected copy went out under ``new_ref``: this one is superseded."""
        with self._conn(conn) as c:
            c.execute(
                update(t.outbound_acks)
                .where(t.outbound_acks.c.partner == partner,
                       t.outbound_acks.c.control_ref == control_ref)
                .values(state="resent", resent_as=new_ref, updated_at=utcnow())
            )  # fmt: skip

    def mark_overdue(self, now: datetime | None = None) -> list[AckRow]:
        """Documents whose expected acknowledgement is past its deadline become overdue;
        returns those that became overdue now (the caller alerts once per document)."""
        now = now or utcnow()
        a = t.outbound_acks.c
        moved: list[AckRow] = []
        with self.transaction() as c:
            rows = c.execute(
                select(t.outbound_acks).where(
                    a.state == "sent",
                    or_(a.contrl_due < now, a.aperak_due < now),
                )
            )
            for r in [_row(x) for x in rows]:
                if _state(r, now) == "overdue":
                    c.execute(update(t.outbound_acks).where(a.id == r["id"])
                              .values(state="overdue", updated_at=now))  # fmt: skip
                    moved.append({**r, "state": "overdue"})
        return moved

    def outbound_acks(
        self,
        *,
        partner: str | None = None,
        state: str | None = None,
        doc_type: str | None = None,
        now: datetime | None = None,
        conn: Connection | None = None,
    ) -> list[AckRow]:
        """Every outbound document with its acknowledgement state (overdue computed as of
        ``now`` even before a sweep stored it), oldest first."""
        now = now or utcnow()
        a = t.outbound_acks.c
        query = select(t.outbound_acks).order_by(a.id)
        if partner:
            query = query.where(a.partner == partner)
        if doc_type:
            query = query.where(a.doc_type == doc_type)
        if conn is not None:
            rows = [_row(r) for r in conn.execute(query)]
        else:
            with self._read() as c:
                rows = [_row(r) for r in c.execute(query)]
        for r in rows:
            r["state"] = _state(r, now)
        return [r for r in rows if state in (None, r["state"])]

    def count_outbound_acks(self, now: datetime | None = None) -> dict[str, int]:
        """How many outbound documents are in each state (as of ``now``)."""
        counts: dict[str, int] = {}
        for r in self.outbound_acks(now=now):
            counts[r["state"]] = counts.get(r["state"], 0) + 1
        return counts


def _state(row: AckRow, now: datetime) -> str:
    """The state as of ``now``; once swept overdue it stays so until an answer arrives."""
    expects = [k for k in str(row["expects"] or "").split(",") if k]
    state = ack_state(
        expects,
        {"CONTRL": row.get("contrl"), "APERAK": row.get("aperak")},
        {"CONTRL": row.get("contrl_due"), "APERAK": row.get("aperak_due")},
        now,
        resent=bool(row.get("resent_as")),
    )
    return "overdue" if state == "sent" and row.get("state") == "overdue" else state


def _decoded(values: dict[str, Any]) -> dict[str, Any]:
    return {k: json.loads(values[k]) for k in ("errors", "acks") if k in values}


def _row(row: Any) -> AckRow:
    out = dict(row._mapping)
    out["errors"] = json.loads(out["errors"] or "[]")
    out["acks"] = json.loads(out["acks"] or "[]")
    out["refs"] = json.loads(out["refs"] or "[]")
    return out
