"""The acknowledgements every inbound message type shares: CONTRL per interchange, APERAK
per refused message, rendered through ``hub.edi_out`` under keys from ``transforms.keys``.
A CONTRL answers every message of an interchange (one UCM each): it is rendered a chunk of
messages at a time, so a 150,000-message interchange does not hold 150,000 segments."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from itertools import islice

from connectors.edi import Delimiters, Issue, Segment, serialize
from connectors.edi.serializer import encode
from hub import edi_out
from hub.flows.edi_in.parsing import ParsedInterchange, findings
from hub.ledger import Ledger
from schemas.config import PartnerProfile
from transforms import edifact_acks as acks
from transforms.edifact_orders import AppError
from transforms.keys import DocumentKey

CHUNK = 2000  # message verdicts rendered at a time


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
    verdicts: Iterable[acks.MessageVerdict] = (),
    interchange_findings: Sequence[acks.SyntaxFinding] | None = None,
    occurrence: int = 0,
) -> edi_out.OutboundDocument:
    """The CONTRL of a received interchange: its header findings and one verdict per message
    (``verdicts`` is read once, ``CHUNK`` at a time); the same bytes as rendering it whole."""
    res = ich.result
    found = findings(header_errors) if interchange_findings is None else interchange_findings

    def body(messages: Sequence[acks.MessageVerdict]) -> list[acks.SegmentTuple]:
        return acks.contrl(
            interchange_ref=res.control_ref,
            sender=(res.sender, res.sender_qualifier),
            recipient=(res.recipient, res.recipient_qualifier),
            interchange_findings=found,
            messages=messages,
        )

    key = contrl_key(res.control_ref, digest, occurrence)
    head = edi_out.render_keyed(ledger, profile, key, acks.CONTRL_TYPE, body([]), prepared)
    out = profile.outbound
    delimiters = Delimiters(decimal=out.decimal_mark)

    def text(segments: list[Segment]) -> bytes:
        rendered = serialize(segments, delimiters, una=False, newline=out.segment_per_line)
        return encode(rendered, out.charset)

    empty_unt = text([Segment.of("UNT", ["3", "1"])])  # UNH, UCI, UNT of message "1"
    cut = head.data.rfind(empty_unt)
    if cut < 0:  # a rendering this code does not know: a defect, never a wrong count
        raise ValueError(f"CONTRL {head.file_name}: no UNT to extend in {head.data[-80:]!r}")
    parts, count = [head.data[:cut]], 3
    messages = iter(verdicts)
    while chunk := list(islice(messages, CHUNK)):
        segments = edi_out.to_segments(body(chunk)[1:])  # without the UCI: it is in the head
        parts.append(text(segments))
        count += len(segments)
    parts += [text([Segment.of("UNT", [str(count), "1"])]), head.data[cut + len(empty_unt) :]]
    return replace(head, data=b"".join(parts))


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
