"""Outbound EDI documents: control numbers from the ledger, rendering per partner, exactly once.

Every document has a key (``transforms.keys.DocumentKey``); its interchange control
reference is allocated once in the ledger, the preparation time is passed in by the caller
(taken from the ledger, not the clock), so a retry renders the same bytes under the same
file name and the mailbox's exactly-once ``send`` turns it into a no-op. A document sent
``again`` (the answer to a record answered before, e.g. an ORDRSP for an order re-sent in
a new interchange) never fails on an outbox that still holds an earlier rendering of it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from connectors.edi import (
    Delimiters,
    OutboundMessage,
    Segment,
    build_interchange,
    render_interchange,
)
from connectors.edi.channels import Mailbox
from hub.ledger import Ledger
from schemas.config import PartnerProfile
from schemas.errors import ConflictError
from transforms.keys import ControlNumberKey, DocumentKey

log = logging.getLogger(__name__)

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
    again: bool = False  # answers a record answered before: an earlier rendering may be out


def to_segments(tuples: Sequence[SegmentTuple]) -> list[Segment]:
    """Transform-layer tuples ``(tag, *elements)`` into codec segments."""
    return [
        Segment.of(str(t[0]), [e if isinstance(e, list) else str(e) for e in t[1:]]) for t in tuples
    ]


def control_ref(ledger: Ledger, partner: str, doc_key: str) -> str:
    """The interchange control reference of a document (allocated once per document)."""
    return f"{ledger.control_number(ControlNumberKey('unb', partner, doc_key)):09d}"


def document_number(ledger: Ledger, counter: str, partner: str, key: DocumentKey) -> int:
    """A document's own number (BGM) in a partner's counter, allocated once per document."""
    return ledger.control_number(ControlNumberKey(counter, partner, key.doc_key))


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


def render_keyed(
    ledger: Ledger,
    profile: PartnerProfile,
    key: DocumentKey,
    message_type: Sequence[str],
    body: Sequence[SegmentTuple],
    prepared: datetime,
) -> OutboundDocument:
    """``render`` for a document keyed by a ``DocumentKey`` (its type names the document),
    ``message_type`` given as S009 components (e.g. ``transforms.edifact_acks.CONTRL_TYPE``)."""
    return render(
        ledger,
        profile,
        doc_type=key.doc_type,
        doc_key=key.doc_key,
        message_type=":".join(message_type),
        body=body,
        prepared=prepared,
    )


def send(mailbox: Mailbox, doc: OutboundDocument) -> bool:
    """Deliver a rendered document; False when the identical file was already delivered.

    A document sent ``again`` whose outbox file holds other bytes (rendered earlier, e.g.
    before a partner profile change) is left as it is: the partner has that document
    under that control reference already, and a re-sent record must never block a run."""
    try:
        return mailbox.send(doc.file_name, doc.data)
    except ConflictError:
        if not doc.again:
            raise
        log.warning("%s: an earlier rendering is still in the outbox, left as it is", doc.file_name)
        return False
