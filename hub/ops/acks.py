"""Acknowledgements of our documents, for operations: expect, apply, sweep, list, report.

``expect`` registers a document sent with the deadlines of the partner's profile
(``expect_acks``); ``apply`` records a partner's CONTRL or APERAK against the documents it
answers (state, a trace event under the document's business numbers, and a
``DocumentRejected`` dead letter naming the partner's codes and the re-send command);
``sweep_overdue`` moves documents past their deadline to overdue and files one
``AcknowledgementOverdue`` dead letter each, which the flow's DAG notifier mails (the
existing alert path). ``listing``, ``status_section``, ``reconcile_section`` and
``trace_items`` feed ``hub edi acks``, ``hub status``, ``hub reconcile`` and ``hub trace``;
the listing adds the answers the inbound flow sent (CONTRL, APERAK, ORDRSP: ``not_expected``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from hub.ledger import Ledger, utcnow
from hub.ledger.acks import AckRow
from hub.ops.events import record_event
from schemas.config import PartnerProfile
from transforms.edifact_acks_in import AckReport

REJECTED_CLASS = "DocumentRejected"
OVERDUE_CLASS = "AcknowledgementOverdue"
UNMATCHED_CLASS = "UnmatchedAcknowledgement"
OUTBOUND_FLOW = "edi_documents_outbound"
NOT_EXPECTED = "not_expected"  # the hub's answers (CONTRL, APERAK...): no acknowledgement owed
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
HEAD_BYTES = 2048  # where UNB and BGM/UCI of a rendered document are


def letter_key(partner: str, control_ref: str) -> str:
    """The dead letter record of one outbound document's acknowledgement trouble."""
    return f"ack:{partner}:{control_ref}"


def resend_command(partner: str, control_ref: str) -> str:
    """What a person runs once the data is corrected."""
    return f"hub edi resend {partner} {control_ref}"


def expect(
    ledger: Ledger,
    profile: PartnerProfile,
    *,
    doc_type: str,
    doc_key: str,
    control_ref: str,
    document_number: str,
    file_name: str | None,
    refs: Sequence[str] = (),
    resent_from: str | None = None,
    sent_at: datetime | None = None,
    conn: Connection | None = None,
) -> bool:
    """Register a document sent to the partner with the deadlines its profile sets."""
    sent_at = sent_at or utcnow()
    rule = next((r for t, r in profile.expect_acks.items() if t == doc_type), None)
    hours = rule.due_hours() if rule is not None else {}
    due = {kind: sent_at + timedelta(hours=h) for kind, h in hours.items()}
    return ledger.expect_ack(
        profile.id, control_ref, doc_type=doc_type, doc_key=doc_key,
        document_number=document_number, file_name=file_name, due=due, sent_at=sent_at,
        resent_from=resent_from, refs=[r for r in refs if r], conn=conn,
    )  # fmt: skip


def matches(
    ledger: Ledger, partner: str, report: AckReport, *, conn: Connection | None = None
) -> list[AckRow]:
    """The outbound documents an acknowledgement answers.

    CONTRL: the document of the interchange reference it names (UCI 0020). APERAK: by the
    document numbers (or interchange references) its RFFs name; of several documents with
    one number (a corrected re-send) the newest that was not superseded."""
    if report.kind == "CONTRL":
        return ledger.find_outbound(partner, control_refs=[report.interchange_ref], conn=conn)
    found = ledger.find_outbound(
        partner,
        control_refs=report.document_refs,
        document_numbers=report.document_refs,
        conn=conn,
    )
    if not found:  # an APERAK naming our ORDRSP by the order number it answered (RFF+ON)
        wanted = set(report.document_refs)
        rows = ledger.outbound_acks(partner=partner, doc_type="ORDRSP", conn=conn)
        found = [r for r in reversed(rows) if wanted & set(r["refs"][:1])]
    chosen: dict[str, AckRow] = {}
    for row in found:  # newest first
        current = chosen.get(row["document_number"])
        if current is None or (current["state"] == "resent" and row["state"] != "resent"):
            chosen[row["document_number"]] = row
    return list(chosen.values())


def apply(
    ledger: Ledger,
    profile: PartnerProfile,
    report: AckReport,
    *,
    received: dict[str, Any],
    flow: str,
    conn: Connection,
) -> list[AckRow]:
    """Record ``report`` on every document it answers, in the caller's transaction."""
    rows: list[AckRow] = []
    for doc in matches(ledger, profile.id, report, conn=conn):
        accepted, errors = report.verdict_for(doc["message_ref"])
        row = ledger.record_ack(
            profile.id, doc["control_ref"], kind=report.kind, accepted=accepted,
            errors=[{**e.as_dict(), "source": report.kind} for e in errors],
            received=received, conn=conn,
        )  # fmt: skip
        if row is None:
            continue
        rows.append(row)
        verdict = "accepted" if accepted else "rejected"
        summary = (
            f"{report.kind} from {profile.id}: {doc['doc_type']} {doc['document_number']} "
            f"(interchange {doc['control_ref']}) {verdict}"
            + (": " + "; ".join(_error_text(e.as_dict()) for e in errors) if errors else "")
        )
        record_event(
            ledger, ref=doc["document_number"] or doc["control_ref"],
            refs=(doc["control_ref"], *doc["refs"]), kind=f"{report.kind.lower()}.received",
            flow=flow, system="edi", partner=profile.id, state=verdict,
            detail={"summary": summary, "control_ref": doc["control_ref"],
                    "doc_type": doc["doc_type"], "errors": [e.as_dict() for e in errors],
                    "ack_interchange": received.get("interchange")},
            conn=conn,
        )  # fmt: skip
        if not accepted:
            ledger.dead_letter(
                flow, letter_key(profile.id, doc["control_ref"]),
                f"{summary}. Correct the data in the ERP, then re-send it under a new "
                f"control number: {resend_command(profile.id, doc['control_ref'])}",
                error_class=REJECTED_CLASS, system="edi", partner=profile.id,
                payload={"control_ref": doc["control_ref"], "doc_type": doc["doc_type"],
                         "document_number": doc["document_number"],
                         "errors": [e.as_dict() for e in errors], **received},
                conn=conn,
            )  # fmt: skip
    return rows


def _error_text(error: dict[str, Any]) -> str:
    parts = [f"code {error.get('code') or '?'}"]
    if error.get("position"):
        parts.append(f"at {error['position']}")
    if error.get("text"):
        parts.append(str(error["text"]))
    return " ".join(parts)


def sweep_overdue(ledger: Ledger, *, now: datetime | None = None) -> list[AckRow]:
    """Move documents past their deadline to overdue; one dead letter (alert) each."""
    moved = ledger.mark_overdue(now)
    for row in moved:
        missing = [k for k in row["expects"].split(",") if k and not row.get(k.lower())]
        due = min(d for d in (row.get("contrl_due"), row.get("aperak_due")) if d is not None)
        ledger.dead_letter(
            OUTBOUND_FLOW, letter_key(row["partner"], row["control_ref"]),
            f"{row['doc_type']} {row['document_number']} to {row['partner']} (interchange "
            f"{row['control_ref']}, file {row['file_name']}) has no {' or '.join(missing)} "
            f"since its deadline {due:%Y-%m-%d %H:%M} UTC: ask the partner whether it arrived; "
            f"re-send it if not: {resend_command(row['partner'], row['control_ref'])}",
            error_class=OVERDUE_CLASS, system="edi", partner=row["partner"],
            payload={"control_ref": row["control_ref"], "doc_type": row["doc_type"],
                     "document_number": row["document_number"], "missing": missing},
        )  # fmt: skip
    return moved


def as_json(row: AckRow) -> dict[str, Any]:
    """One outbound document's acknowledgement state, JSON-able."""
    return {
        "partner": row["partner"],
        "doc_type": row["doc_type"],
        "document_number": row["document_number"],
        "control_ref": row["control_ref"],
        "file": row["file_name"],
        "state": row["state"],
        "expects": [k for k in row["expects"].split(",") if k],
        "contrl": row["contrl"],
        "aperak": row["aperak"],
        "contrl_due": _iso(row["contrl_due"]),
        "aperak_due": _iso(row["aperak_due"]),
        "sent_at": _iso(row["sent_at"]),
        "errors": row["errors"],
        "resent_as": row["resent_as"],
        "resent_from": row["resent_from"],
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


def listing(
    ledger: Ledger,
    *,
    partner: str | None = None,
    state: str | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Every outbound document with its acknowledgement state (``hub edi acks``): those
    registered with what they expect, and the hub's answers to partners' interchanges
    (CONTRL, APERAK, ORDRSP) that expect nothing, oldest first."""
    rows = [as_json(r) for r in ledger.outbound_acks(partner=partner, now=now)]
    known = {(r["partner"], r["control_ref"]) for r in rows}
    rows += [r for r in answers_sent(ledger, partner=partner)
             if (r["partner"], r["control_ref"]) not in known]  # fmt: skip
    rows.sort(key=lambda r: str(r["sent_at"] or ""))
    return [r for r in rows if state in (None, r["state"])]


def answers_sent(ledger: Ledger, *, partner: str | None = None) -> list[dict[str, Any]]:
    """The documents the inbound flow sent back for each partner interchange, as its ledger
    row keeps them (``ack``): state ``not_expected`` (a CONTRL is never acknowledged)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for ich in ledger.interchanges_received(since=EPOCH, partner=partner):
        for kept in json.loads(ich["ack"] or "[]"):
            ref, number = _unb_and_bgm(base64.b64decode(kept["data"]))
            found.setdefault((ich["partner"], ref), {
                "partner": ich["partner"], "doc_type": kept["type"], "document_number": number,
                "control_ref": ref, "file": kept["name"], "state": NOT_EXPECTED, "expects": [],
                "contrl": None, "aperak": None, "contrl_due": None, "aperak_due": None,
                "sent_at": _iso(ich["created_at"]), "errors": [], "resent_as": None,
                "resent_from": None, "answers": ich["control_ref"],
            })  # fmt: skip
    return list(found.values())


def _unb_and_bgm(data: bytes) -> tuple[str, str]:
    """Our interchange reference (UNB 0020) and document number (BGM 1004; a CONTRL has
    none: the UCI reference it answers) of a rendered document, from its first segments
    only (a CONTRL of a large interchange is megabytes long)."""
    head = data[:HEAD_BYTES].decode("latin-1")
    component, element, term = ":", "+", "'"
    if head.startswith("UNA"):
        component, element, term, head = head[3], head[4], head[8], head[9:]
    ref = number = ""
    for raw in head.split(term)[:-1]:  # the last piece may be cut short
        tag, *elements = raw.strip().split(element)
        if tag == "UNB" and len(elements) > 4:
            ref = elements[4]
        elif tag in ("BGM", "UCI") and len(elements) > 1:
            number = elements[1].split(component)[0] if tag == "BGM" else f"UCI {elements[0]}"
            break
    return ref, number


def status_section(ledger: Ledger, *, now: datetime | None = None) -> dict[str, Any]:
    """Counts by state and the problems for ``hub status`` (rejected, overdue)."""
    counts = ledger.count_outbound_acks(now)
    problems = []
    if counts.get("rejected"):
        problems.append(
            f"{counts['rejected']} outbound document(s) rejected by partners (hub edi acks "
            "--state rejected)"
        )
    if counts.get("overdue"):
        problems.append(
            f"{counts['overdue']} outbound document(s) without acknowledgement past their "
            "deadline (hub edi acks --state overdue)"
        )
    return {"counts": counts, "problems": problems}


def reconcile_section(ledger: Ledger, *, now: datetime | None = None) -> dict[str, Any]:
    """``hub reconcile``'s section: documents sent against those the partners acknowledged;
    a document past its deadline without acknowledgement, or rejected and not re-sent, is
    a difference."""
    rows = ledger.outbound_acks(now=now)
    diffs = [
        {
            "record": f"{r['doc_type']} {r['document_number']} to {r['partner']} "
            f"(interchange {r['control_ref']})",
            "kind": "ack_overdue" if r["state"] == "overdue" else "ack_rejected",
            "detail": (
                "no acknowledgement past its deadline: "
                + resend_command(r["partner"], r["control_ref"])
                if r["state"] == "overdue"
                else "rejected: " + "; ".join(_error_text(e) for e in r["errors"][:3])
            ),
        }
        for r in rows
        if r["state"] in ("overdue", "rejected")
    ]
    answered = [r for r in rows if r["contrl"] or r["aperak"]]
    return {
        "section": "edi acknowledgements",
        "active": any(r["expects"] for r in rows),
        "systems": ["sent", "acknowledged"],
        "counts": {"sent": len(rows), "acknowledged": len(answered)},
        "hashes": {"sent": "", "acknowledged": ""},
        "differences": diffs,
    }


def trace_items(ledger: Ledger, refs: set[str]) -> list[dict[str, Any]]:
    """Timeline items for ``hub trace``: documents sent for these business numbers that are
    overdue (a received CONTRL/APERAK and a re-send are trace events already)."""
    items = []
    for row in ledger.outbound_acks():
        if row["state"] != "overdue":  # what arrived is an event already; overdue is not
            continue
        if not refs & {row["document_number"], row["control_ref"], *row["refs"]}:
            continue
        items.append(
            {
                "at": _iso(row["updated_at"]),
                "kind": "ack.state",
                "source": "outbound_acks",
                "state": row["state"],
                "summary": f"{row['doc_type']} {row['document_number']} (interchange "
                f"{row['control_ref']}): {row['state']}",
            }
        )
    return items
