"""The partner's side of the conversation: CONTRL and APERAK about the hub's documents.

``contrl_for`` answers one of the hub's interchanges with a CONTRL (syntax 3, or 4 with
``CONTRL:4:1``), built by the hub's own CONTRL serializer as a partner's translator would;
``aperak_for`` writes an EANCOM APERAK (D96A EAN003) naming our document by its number,
accepting it (BGM 1225 = 29) or refusing it with ERC codes. ``answer_documents`` is the
demo's step: it reads the hub's outboxes, accepts one INVOIC and rejects another, and
drops both into the partner's inbox for the next inbound run.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from connectors.edi import Delimiters, OutboundMessage, build_interchange
from connectors.edi.serializer import render_interchange
from hub.edi_out import to_segments
from transforms import edifact_acks as acks

CONTRL_V3 = "CONTRL:D:3:UN"
CONTRL_V4 = "CONTRL:4:1:UN"
APERAK_D96A = "APERAK:D:96A:UN:EAN003"
# our document type -> the RFF qualifier an APERAK names it by
DOCUMENT_QUALIFIER = {"INVOIC": "IV", "DESADV": "AAK", "ORDRSP": "ACW", "INVRPT": "ACW"}


def _interchange(
    message_type: str,
    body: Sequence[tuple[object, ...]],
    *,
    partner_gln: str,
    our_gln: str,
    control_ref: str,
    prepared: datetime,
    syntax_version: str = "3",
) -> bytes:
    segments = build_interchange(
        [OutboundMessage(message_type, "1", to_segments(body))],
        sender=partner_gln, sender_qualifier="14", recipient=our_gln, recipient_qualifier="14",
        control_ref=control_ref, prepared=prepared, syntax_identifier="UNOC",
        syntax_version=syntax_version,
    )  # fmt: skip
    return render_interchange(segments, Delimiters(), una=True, newline=True)


def contrl_for(
    our_ref: str,
    our_type: str,
    *,
    partner_gln: str,
    our_gln: str,
    control_ref: str,
    accepted: bool = True,
    errors: Sequence[acks.SyntaxFinding] = (),
    syntax_version: str = "3",
    prepared: datetime = datetime(2026, 11, 4, 8, 0),
) -> bytes:
    """A partner's CONTRL on our interchange ``our_ref`` (one message ``1`` of S009
    ``our_type``), accepted, or rejected with UCS/UCD ``errors``."""
    body = acks.contrl(
        interchange_ref=our_ref,
        sender=(our_gln, "14"),
        recipient=(partner_gln, "14"),
        interchange_findings=(),
        messages=[acks.MessageVerdict("1", our_type.split(":"), accepted, errors)],
    )
    message_type = CONTRL_V4 if syntax_version == "4" else CONTRL_V3
    return _interchange(
        message_type, body, partner_gln=partner_gln, our_gln=our_gln, control_ref=control_ref,
        prepared=prepared, syntax_version=syntax_version,
    )  # fmt: skip


def aperak_for(
    document_number: str,
    doc_type: str,
    *,
    partner_gln: str,
    our_gln: str,
    control_ref: str,
    errors: Sequence[tuple[str, str]] = (),
    number: str = "APK-1",
    prepared: datetime = datetime(2026, 11, 4, 9, 0),
) -> bytes:
    """A partner's APERAK on our document ``document_number``: accepted (BGM 29) without
    ``errors``, else not accepted (27) with one ERC + FTX per (code, text)."""
    issued: date = prepared.date()
    body: list[tuple[object, ...]] = [
        ("BGM", "313", number, "27" if errors else "29"),
        ("DTM", ["137", issued.strftime("%Y%m%d"), "102"]),
        ("RFF", [DOCUMENT_QUALIFIER.get(doc_type, "ACW"), document_number]),
        ("NAD", "MS", [partner_gln, "", "9"]),
        ("NAD", "MR", [our_gln, "", "9"]),
    ]
    for code, text in errors:
        body.append(("ERC", [code]))
        body.append(("FTX", "AAO", "", "", [text[i : i + 70] for i in range(0, len(text), 70)]))
    return _interchange(
        APERAK_D96A, body, partner_gln=partner_gln, our_gln=our_gln, control_ref=control_ref,
        prepared=prepared,
    )  # fmt: skip
