"""The acknowledgements every inbound message type shares: CONTRL per interchange, APERAK
per refused message, rendered through ``hub.edi_out`` under keys from ``transforms.keys``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from connectors.edi import Issue
from hub import edi_out
from hub.flows.edi_in.parsing import ParsedInterchange, findings
from hub.ledger import Ledger
from schemas.config import PartnerProfile
from transforms import edifact_acks as acks
from transforms.edifact_orders import AppError
from transforms.keys import DocumentKey


def contrl_key(interchange_ref: str, digest: str, occurrence: int = 0) -> DocumentKey:
    """The CONTRL answering one interchange of one file (a reused reference gets its own,
    and so does a later interchange of the same file under the same reference)."""
    record = digest[:16] if not occurrence else f"{digest[:16]}#{occurrence}"
    return DocumentKey("CONTRL", interchange_ref, record)


def aperak_key(interchange_ref: str, message_ref: str) -> DocumentKey:
    """The APERAK refusing one message of an interchange."""
    return DocumentKey("APERAK", interchange_ref, message_ref)


def contrl(
    ledger: Ledger,
    profile: PartnerProfile,
    ich: ParsedInterchange,
    *,
    digest: str,
    prepared: datetime,
    header_errors: Sequence[Issue] = (),
    verdicts: Sequence[acks.MessageVerdict] = (),
    interchange_findings: Sequence[acks.SyntaxFinding] | None = None,
    occurrence: int = 0,
) -> edi_out.OutboundDocument:
    """The CONTRL of a received interchange: its header findings and one verdict per message."""
    res = ich.result
    body = acks.contrl(
        interchange_ref=res.control_ref,
        sender=(res.sender, res.sender_qualifier),
        recipient=(res.recipient, res.recipient_qualifier),
        interchange_findings=(
            findings(header_errors) if interchange_findings is None else interchange_findings
        ),
        messages=verdicts,
    )
    key = contrl_key(res.control_ref, digest, occurrence)
    return edi_out.render_keyed(ledger, profile, key, acks.CONTRL_TYPE, body, prepared)


def aperak(
    ledger: Ledger,
    profile: PartnerProfile,
    *,
    interchange_ref: str,
    message_ref: str,
    record_ref: str,
    errors: list[AppError],
    prepared: datetime,
) -> edi_out.OutboundDocument:
    """The APERAK telling the partner why one message (record ``record_ref``) was refused."""
    key = aperak_key(interchange_ref, message_ref)
    number = edi_out.document_number(ledger, "aperak", profile.id, key)
    body = acks.aperak(
        document_number=f"APK{number:07d}",
        issued=prepared.date(),
        order_number=record_ref,
        order_message_ref=message_ref,
        our_gln=profile.unb.our_id,
        partner_gln=profile.unb.partner_id,
        errors=errors,
    )
    return edi_out.render_keyed(ledger, profile, key, acks.APERAK_TYPE, body, prepared)
