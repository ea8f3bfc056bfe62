"""EANCOM INVRPT (D96A EAN008) from canonical stock levels: pure segment builder.

One message per report: BGM+35, DTM+137 (report date) and DTM+366 (stock as of), NAD SU/BY,
then one LIN per GTIN with a QTY+145 (actual stock) and LOC+18 (warehouse) per location.
Products without a GTIN cannot be reported and are returned to the caller, not dropped
silently.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal

from schemas.model import StockLevel
from transforms.edifact_outbound import MissingField, SegmentTuple, dtm, nad, num

INVRPT_TYPE = ("INVRPT", "D", "96A", "UN", "EAN008")
DOCUMENT = "INVRPT"

StockTable = dict[str, dict[str, Decimal]]  # GTIN -> location -> quantity on hand


def stock_by_gtin(
    levels: Iterable[StockLevel], gtin_by_code: Mapping[str, str]
) -> tuple[StockTable, list[str]]:
    """GTIN -> location -> quantity (summed), and the product codes without a GTIN."""
    table: StockTable = {}
    without: list[str] = []
    for level in levels:
        gtin = level.gtin or gtin_by_code.get(level.product_code)
        if not gtin:
            if level.product_code not in without:
                without.append(level.product_code)
            continue
        per_location = table.setdefault(gtin, {})
        per_location[level.location] = per_location.get(level.location, Decimal(0)) + level.quantity
    return table, without


def invrpt(
    stock: Mapping[str, Mapping[str, Decimal]],
    *,
    document_number: str,
    issued: date,
    as_of: date,
    supplier_gln: str,
    partner_gln: str,
    decimal_mark: str = ".",
) -> list[SegmentTuple]:
    """INVRPT body (UNH/UNT excluded) for GTIN -> location -> quantity on hand."""
    if not stock:
        raise MissingField(DOCUMENT, f"report {document_number}", "stock", "no GTIN has stock")
    segments: list[SegmentTuple] = [
        ("BGM", "35", document_number[:35], "9"),
        dtm("137", issued),
        dtm("366", as_of),
        nad("SU", supplier_gln),
        nad("BY", partner_gln),
    ]
    for line_no, gtin in enumerate(sorted(stock), start=1):
        segments.append(("LIN", str(line_no), "", [gtin, "EN"]))
        for location in sorted(stock[gtin]):
            segments.append(("QTY", ["145", num(stock[gtin][location], decimal_mark)]))
            segments.append(("LOC", "18", [location[:25], "", "91"]))
    return segments
