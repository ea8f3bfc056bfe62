"""Checks every outbound EANCOM document shares: both parties' GLNs and a GTIN per line.

Each finding is a ``MissingField`` naming the document, the record (and line) and the field,
with the fix a person makes in the ERP or the partner profile.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from transforms.edifact_outbound import MissingField


class ProductLine(Protocol):
    """A document line that names a product (shipment, invoice and order lines alike)."""

    @property
    def line_no(self) -> int: ...

    @property
    def gtin(self) -> str | None: ...

    @property
    def product_code(self) -> str | None: ...


def party_glns(
    document: str, record: str, customer: str | None, *, buyer: str | None, supplier: str | None
) -> list[MissingField]:
    """The customer's GLN and ours (the UNB id we send under must be a GLN, qualifier 14)."""
    missing: list[MissingField] = []
    if not buyer:
        missing.append(
            MissingField(
                document,
                f"{record}, customer {customer}",
                "customer.gln",
                "add the customer's GLN in the ERP (or map it in the partner's party_lookup)",
            )
        )
    if not supplier:
        missing.append(
            MissingField(document, record, "supplier.gln", "our UNB id must be a GLN (14)")
        )
    return missing


def line_gtins(
    document: str, record: str, lines: Iterable[ProductLine], gtin_by_code: Mapping[str, str]
) -> list[MissingField]:
    """A GTIN for every line: the ERP's, or the partner's ``product_lookup`` for its code."""
    return [
        MissingField(
            document,
            f"{record} line {line.line_no} (product {line.product_code or '?'})",
            "gtin",
            "add the product's GTIN in the ERP (or map it in the partner's product_lookup)",
        )
        for line in lines
        if not (line.gtin or gtin_by_code.get(line.product_code or ""))
    ]
