"""Idempotency keys as values: one builder and one parser per key kind, pure and reversible.

Every journal entry, control number and outbound document is keyed by one of these. The
text form (``str(key)``) is what the ledger stores as the primary key and never changes for
a kind (ledgers written by older versions keep working); the ledger also stores each key's
``kind``, ``scope`` and ``subject`` in their own columns, so trace, reconcile and replay
query by kind and fields, never by ``LIKE`` on a formatted string.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, dataclass_transform


class KeyKind(StrEnum):
    """What a key identifies; the value is the key's text prefix."""

    SALE = "erp.sale"
    SALE_CHANGE = "erp.sale_change"
    BOOKING = "carrier.shipment"
    TRACKING = "carrier.tracking"
    OUTBOUND = "edi.out"
    CRM_OBJECT = "crm"


class KeyError_(ValueError):
    """A key text that no kind parses (names the text and the kinds known)."""


@dataclass_transform(frozen_default=True)
@dataclass(frozen=True)
class Key:
    """Base of every key kind: ``kind`` plus the two fields the ledger indexes.

    A kind is a frozen dataclass that names its prefix and which of its fields are the scope
    and the subject in the class statement (``class SaleKey(Key, kind=KeyKind.SALE,
    scope="buyer_gln", ...)``); its text is the prefix and the fields in order, joined by ``:``.
    """

    kind: ClassVar[KeyKind]
    scope_field: ClassVar[str]
    subject_field: ClassVar[str]

    def __init_subclass__(cls, kind: KeyKind, scope: str = "", subject: str = "") -> None:
        super().__init_subclass__()
        cls.kind, cls.scope_field, cls.subject_field = kind, scope, subject
        dataclass(frozen=True)(cls)

    def __str__(self) -> str:
        values = (getattr(self, field.name) for field in dataclasses.fields(self))
        return ":".join([self.kind.value, *values])

    @property
    def scope(self) -> str:
        """Who the key belongs to (a partner, a GLN, a CRM object type)."""
        return str(getattr(self, self.scope_field)) if self.scope_field else ""

    @property
    def subject(self) -> str:
        """The business reference a person searches by (order, shipment, document)."""
        return str(getattr(self, self.subject_field))

    def fields(self) -> dict[str, str]:
        """The columns the ledger stores beside the key text."""
        return {"kind": self.kind.value, "scope": self.scope, "subject": self.subject}


class SaleKey(Key, kind=KeyKind.SALE, scope="buyer_gln", subject="order_number"):
    """An ERP sale created from a partner's order: buyer GLN + the buyer's order number."""

    buyer_gln: str
    order_number: str


class SaleChangeKey(Key, kind=KeyKind.SALE_CHANGE, scope="buyer_gln", subject="order_number"):
    """One change message applied to an ERP sale: the sale's buyer GLN and order number
    (scope, subject: ``hub trace`` of the order finds its versions) and the change number."""

    buyer_gln: str
    order_number: str
    change_number: str


class BookingKey(Key, kind=KeyKind.BOOKING, subject="shipment_number"):
    """A carrier shipment booked for one ERP shipment number."""

    shipment_number: str


class TrackingKey(Key, kind=KeyKind.TRACKING, scope="digest", subject="tracking_number"):
    """A tracking status written back to the ERP: tracking number + status digest."""

    tracking_number: str
    digest: str


class DocumentKey(Key, kind=KeyKind.OUTBOUND, scope="partner", subject="record"):
    """An outbound EDI document: type, partner (or interchange) and the record it is for.

    ``record`` may itself be a key's text (an ORDRSP answers ``erp.sale:<gln>:<order>``).
    """

    doc_type: str
    partner: str
    record: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.doc_key}"

    @property
    def doc_key(self) -> str:
        """The document's own key (control numbers and bindings use it without the prefix)."""
        if self.doc_type == "ORDRSP" and not self.partner:
            return f"ORDRSP:{self.record}"
        return f"{self.doc_type}:{self.partner}:{self.record}"

    def replacement(self, tracking: str) -> DocumentKey:
        """The replacement of this document sent once a carrier's tracking number is known
        (a DESADV re-sent with RFF+CN): one per tracking number."""
        return DocumentKey(self.doc_type, self.partner, f"{self.record}:CN:{tracking}")

    @classmethod
    def ordrsp(cls, sale: SaleKey) -> DocumentKey:
        """The ORDRSP answering one order (one per order, whatever interchange carried it)."""
        return cls("ORDRSP", "", str(sale))

    @classmethod
    def parse_doc_key(cls, doc_key: str) -> DocumentKey:
        """The inverse of ``doc_key``."""
        doc_type, sep, rest = doc_key.partition(":")
        if not sep or not doc_type:
            raise KeyError_(f"document key {doc_key!r} has no '<TYPE>:' prefix")
        if doc_type == "ORDRSP" and rest.startswith(f"{KeyKind.SALE}:"):
            return cls("ORDRSP", "", rest)
        partner, sep, record = rest.partition(":")
        if not sep:
            raise KeyError_(f"document key {doc_key!r} is not '<TYPE>:<partner>:<record>'")
        return cls(doc_type, partner, record)


class CrmObjectKey(Key, kind=KeyKind.CRM_OBJECT, subject="object_id"):
    """A CRM object created or pulled by the hub: direction, object type and its id."""

    direction: str  # push | pull
    object_type: str  # company | contact | deal ...
    object_id: str

    def __str__(self) -> str:
        return f"{self.kind}.{self.direction}.{self.object_type}:{self.object_id}"

    @property
    def scope(self) -> str:
        return f"{self.direction}.{self.object_type}"


@dataclass(frozen=True)
class ControlNumberKey:
    """An outbound control number: counter scope (e.g. ``unb:<partner>``) and the document.

    Not a journal key: the ledger's control-number table stores the two fields as they are.
    """

    counter: str  # unb | ordrsp | aperak | invrpt | sscc
    owner: str  # the partner id, or the GS1 company prefix for SSCCs
    document: str

    @property
    def scope(self) -> str:
        return f"{self.counter}:{self.owner}"

    @classmethod
    def sscc(cls, company_prefix: str, document: DocumentKey, package: int) -> ControlNumberKey:
        """The SSCC serial of one package of a document (counted per GS1 company prefix)."""
        return cls("sscc", company_prefix, f"{document.doc_key}:{package}")

    @classmethod
    def parse(cls, scope: str, document: str) -> ControlNumberKey:
        """The inverse of (``scope``, ``document``)."""
        counter, sep, owner = scope.partition(":")
        if not sep:
            raise KeyError_(f"control number scope {scope!r} is not '<counter>:<owner>'")
        return cls(counter, owner, document)


def parse(text: str) -> Key:
    """The key a stored text stands for; raises KeyError_ naming the text otherwise."""
    prefix, sep, rest = text.partition(":")
    if sep:
        if prefix == KeyKind.SALE:
            gln, sep2, order = rest.partition(":")
            if sep2 and gln and order:
                return SaleKey(gln, order)
        elif prefix == KeyKind.SALE_CHANGE:
            gln, _, tail = rest.partition(":")
            order, sep2, change = tail.rpartition(":")
            if sep2 and gln and order and change:
                return SaleChangeKey(gln, order, change)
        elif prefix == KeyKind.BOOKING and rest:
            return BookingKey(rest)
        elif prefix == KeyKind.TRACKING:
            number, sep2, digest = rest.rpartition(":")
            if sep2 and number:
                return TrackingKey(number, digest)
        elif prefix == KeyKind.OUTBOUND and rest:
            return DocumentKey.parse_doc_key(rest)
        elif prefix.startswith(f"{KeyKind.CRM_OBJECT}."):
            parts = prefix.split(".")
            if len(parts) == 3 and rest:
                return CrmObjectKey(parts[1], parts[2], rest)
    raise KeyError_(
        f"{text!r} is not a hub key; known kinds: {', '.join(k.value for k in KeyKind)}"
    )


def fields_of(text: str) -> dict[str, str | None]:
    """``kind``/``scope``/``subject`` of a stored key text, all None for foreign keys."""
    try:
        return dict(parse(text).fields())
    except KeyError_:
        return {"kind": None, "scope": None, "subject": None}
