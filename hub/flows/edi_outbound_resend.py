"""`hub edi resend`: a rejected (or unanswered) document, corrected, under a new control number.

An INVOIC is built again from the ERP as it is now (the person corrected the data the
partner rejected), through the flow's own builder and send step; the other types are the
archived message re-wrapped in a new interchange. Either way the copy has its own key
(``<record>:R<n>``), so its own control number, pinned bytes and journal entry: a retry of
the command sends the same copy, never a third. The old document becomes ``resent`` (its
``resent_as`` names the copy, the copy's ``resent_from`` the old one), the dead letters
about it close as replayed with an audit entry (who, why), and a ``<type>.resent`` trace
event records the same.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.edi import EdifactReader, Message
from hub.bootstrap import Hub
from hub.flows.edi_outbound_invoic import invoic, prefetch_parties
from hub.flows.edi_outbound_run import Run, partner_gln
from hub.flows.edi_outbound_send import Outgoing, deliver
from hub.ledger.acks import AckRow
from hub.ops import acks as ack_ops
from hub.ops import deadletters
from hub.ops.events import record_event
from schemas.config import PartnerProfile
from schemas.errors import PermanentError
from transforms.keys import DocumentKey

RESENDABLE = ("rejected", "overdue")


def resend(
    hub: Hub,
    partner: str,
    control_ref: str,
    *,
    by: str | None = None,
    reason: str = "",
    force: bool = False,
) -> dict[str, Any]:
    """Send a corrected copy of the document sent to ``partner`` under ``control_ref``."""
    profile = hub.partners.get(partner)
    if profile is None:
        raise PermanentError(f"unknown partner {partner!r}: see config/partners", system="cli")
    row = _document(hub, partner, control_ref, force=force)
    old = DocumentKey.parse_doc_key(row["doc_key"])
    revision = len(hub.ledger.find_outbound(partner, document_numbers=[row["document_number"]]))
    key = DocumentKey(old.doc_type, old.partner, f"{old.record}:R{revision + 1}")
    run = Run(hub, _report())
    if old.doc_type == "INVOIC":
        _invoic_again(run, profile, old.record, key, control_ref)
    else:
        deliver(run, profile, _rewrapped(hub, row, key, control_ref))
    new = hub.ledger.find_outbound(partner, control_refs=[_new_ref(hub, partner, key)])
    if not new:
        raise PermanentError(f"{old.doc_type} {row['document_number']}: not sent", system="edi")
    new_ref = new[0]["control_ref"]
    who = deadletters.actor(by)
    hub.ledger.mark_resent(partner, control_ref, new_ref)
    closed = _close_letters(hub, partner, control_ref, new_ref, who, reason)
    record_event(
        hub.ledger, ref=row["document_number"] or control_ref,
        refs=(control_ref, new_ref, *row["refs"]), kind=f"{old.doc_type.lower()}.resent",
        flow=ack_ops.OUTBOUND_FLOW, system="edi", partner=partner, state="resent",
        detail={"summary": f"{old.doc_type} {row['document_number']} re-sent to {partner} as "
                f"interchange {new_ref} (was {control_ref}) by {who}: {reason or '-'}",
                "by": who, "reason": reason, "control_ref": new_ref, "was": control_ref},
    )  # fmt: skip
    return {
        "partner": partner,
        "doc_type": old.doc_type,
        "document_number": row["document_number"],
        "was": control_ref,
        "control_ref": new_ref,
        "file": new[0]["file_name"],
        "by": who,
        "dead_letters_closed": closed,
    }


def _report() -> dict[str, Any]:
    return {"documents_sent": 0, "already_sent": 0, "by_type": {}, "files": [], "details": []}


def _document(hub: Hub, partner: str, control_ref: str, *, force: bool) -> AckRow:
    rows = hub.ledger.find_outbound(partner, control_refs=[control_ref])
    if not rows:
        raise PermanentError(
            f"no document was sent to {partner} under interchange {control_ref}: list them "
            f"with `hub edi acks --partner {partner}`",
            system="cli",
        )
    row = rows[0]
    listed = hub.ledger.outbound_acks(partner=partner)
    state = next((r["state"] for r in listed if r["control_ref"] == control_ref), row["state"])
    if row["resent_as"]:
        raise PermanentError(
            f"{row['doc_type']} {row['document_number']} (interchange {control_ref}) was "
            f"re-sent already as interchange {row['resent_as']}: re-send that one if needed",
            system="cli",
        )
    if state not in RESENDABLE and not force:
        raise PermanentError(
            f"{row['doc_type']} {row['document_number']} (interchange {control_ref}) is "
            f"{state}: only a rejected or overdue document is re-sent (--force to send a "
            "copy anyway)",
            system="cli",
        )
    return row


def _new_ref(hub: Hub, partner: str, key: DocumentKey) -> str:
    from hub.edi_out import control_ref

    return control_ref(hub.ledger, partner, key.doc_key)


def _invoic_again(
    run: Run, profile: PartnerProfile, erp_id: str, key: DocumentKey, was: str
) -> None:
    """The INVOIC built again from the invoice as the ERP holds it now."""
    found = [
        i for i in run.hub.erp.invoices_posted_since(None, limit=100_000) if i.erp_id == erp_id
    ]
    if not found:
        raise PermanentError(f"invoice {erp_id} is no longer posted in the ERP", system="erp")
    invoice = found[0]
    buyer = partner_gln(profile, invoice.customer)
    if buyer is None:
        raise PermanentError(
            f"invoice {invoice.number}: its customer is no longer routed to {profile.id}",
            system="edi",
        )
    prefetch_parties(run, [invoice], [profile])
    invoic(run, profile, invoice, buyer, key=key, resent_from=was)


def _rewrapped(hub: Hub, row: AckRow, key: DocumentKey, was: str) -> Outgoing:
    """The archived message of the old interchange, to be wrapped in a new one."""
    stored = hub.ledger.interchange(row["partner"], "out", row["control_ref"])
    path = Path(stored["archive_path"]) if stored and stored.get("archive_path") else None
    if path is None or not path.is_file():
        raise PermanentError(
            f"{row['doc_type']} {row['document_number']}: the bytes of interchange "
            f"{row['control_ref']} are not in the archive; it cannot be re-sent as it was",
            system="edi",
        )
    message = next(e for e in EdifactReader(path.read_bytes()) if isinstance(e, Message))
    body: list[tuple[object, ...]] = [(s.tag, *s.elements) for s in message.segments]
    return Outgoing(
        key,
        tuple(message.type.split(":")),
        body,
        datetime.now(UTC),
        result={"number": row["document_number"], "resent_from": was},
        record=f"{row['doc_type']} {row['document_number']} (re-sent)",
        trace={"refs": [row["document_number"], *row["refs"]], "detail": {}},
        resent_from=was,
    )


def _close_letters(
    hub: Hub, partner: str, control_ref: str, new_ref: str, who: str, reason: str
) -> list[int]:
    """Close the rejection/overdue letters of the old document as replayed, audited."""
    record = ack_ops.letter_key(partner, control_ref)
    closed = []
    for letter in hub.ledger.dead_letters(state="open", record_key=record):
        note = f"re-sent as interchange {new_ref}"
        hub.ledger.close_dead_letter(letter.id, "replayed", by=who, note=note)
        deadletters.audit(
            hub.ledger, letter.id, action="resend", by=who, outcome="replayed",
            detail={"control_ref": new_ref, "was": control_ref, "reason": reason},
        )  # fmt: skip
        closed.append(letter.id)
    return closed
