"""Outbound EDI documents: control numbers from the ledger, rendering per partner, exactly once.

Every document has a key (e.g. ``ORDRSP:<partner>:<order>``); its interchange control
reference is allocated once in the ledger, the preparation time is passed in by the caller
(taken from the ledger, not the clock), so a retry renders the same bytes under the same
file name and the mailbox's exactly-once ``send`` turns it into a no-op.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from connectors.edi import Delimiters, OutboundMessage, Segment, build_interchange
from connectors.edi.channels import Mailbox
from connectors.edi.serializer import render_interchange
from hub.ledger import Ledger
from schemas.config import PartnerProfile

SegmentTuple = tuple[object, ...]


@dataclass(frozen=True)
class OutboundDocument:
    """A rendered document: where it goes and its bytes."""

    doc_type: str
    doc_key: str
    partner: str
    control_ref: str
    file_name: str
    data: bytes


def to_segments(tuples: Sequence[SegmentTuple]) -> list[Segment]:
    """Transform-layer tuples ``(tag, *elements)`` into codec segments."""
    return [
        Segment.of(str(t[0]), [e if isinstance(e, list) else str(e) for e in t[1:]]) for t in tuples
    ]


def control_ref(ledger: Ledger, partner: str, doc_key: str) -> str:
    """The interchange control reference of a document (allocated once per document)."""
    return f"{ledger.control_number(f'unb:{partner}', doc_key):09d}"


def render(
    ledger: Ledger,
    profile: PartnerProfile,
    *,
    doc_type: str,
    doc_key: str,
    message_type: str,
    body: Sequence[SegmentTuple],
    prepared: datetime,
    syntax_identifier: str | None = None,
) -> OutboundDocument:
    """Wrap a message body into the partner's interchange, with its allocated references."""
    out = profile.outbound
    ref = control_ref(ledger, profile.id, doc_key)
    segments = build_interchange(
        [OutboundMessage(message_type, "1", to_segments(body))],
        sender=profile.unb.our_id,
        sender_qualifier=profile.unb.our_qualifier,
        recipient=profile.unb.partner_id,
        recipient_qualifier=profile.unb.partner_qualifier,
        control_ref=ref,
        prepared=prepared,
        syntax_identifier=syntax_identifier or out.charset,
        syntax_version=out.syntax_version,
    )
    delimiters = Delimiters(decimal=out.decimal_mark)
    data = render_interchange(
        segments, delimiters, una=out.una == "always", newline=out.segment_per_line
    )
    name = out.file_name.format(type=doc_type, partner=profile.id, control_ref=ref)
    return OutboundDocument(doc_type, doc_key, profile.id, ref, name, data)


def send(mailbox: Mailbox, doc: OutboundDocument) -> bool:
    """Deliver a rendered document; False when the identical file was already delivered."""
    return mailbox.send(doc.file_name, doc.data)
