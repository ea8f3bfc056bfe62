"""Line-level allowances and charges (ALC in an ORDERS/INVOIC line group, issue 14.3): the
canonical fields, and content hashes unchanged for documents without them (journal keys)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from schemas.model import (
    AllowanceCharge,
    ErpSale,
    ErpSaleLine,
    Invoice,
    InvoiceLine,
    PartyRef,
    SalesOrder,
    SalesOrderChange,
    SalesOrderLine,
    SalesOrderLineChange,
)
from tests.fixtures.ids import GTINS, NORD, US

NONE = ()  # no line allowances: the models must hash as before the field existed


def _order(*adjustments: AllowanceCharge) -> SalesOrder:
    return SalesOrder(
        order_number="OA-1", order_date=dt.date(2026, 11, 2), buyer=PartyRef(gln=NORD),
        supplier=PartyRef(gln=US), currency="EUR",
        lines=(SalesOrderLine(line_no=1, gtin=GTINS[0], quantity=Decimal(5),
                              unit_price=Decimal(10), discount_percent=Decimal(5),
                              allowance_charges=adjustments),
               SalesOrderLine(line_no=2, gtin=GTINS[1], quantity=Decimal(6),
                              unit_price=Decimal(20), allowance_charges=NONE)),
    )  # fmt: skip


def _change(*adjustments: AllowanceCharge) -> SalesOrderChange:
    line = SalesOrderLineChange(
        line_no=1, action="change", quantity=Decimal(3), allowance_charges=adjustments
    )
    return SalesOrderChange(
        order_number="OA-1", change_number="1", buyer=PartyRef(gln=NORD), lines=(line,),
        allowance_charges=adjustments,
    )  # fmt: skip


def _sale(*adjustments: AllowanceCharge) -> ErpSale:
    line = ErpSaleLine(
        line_no=1, product_code="P1", quantity=Decimal(5), unit_price=Decimal("9.50"),
        discount_percent=Decimal(5), allowance_charges=adjustments,
    )  # fmt: skip
    return ErpSale(
        erp_id="1", reference="OA-1", party_erp_id="2", state="confirmed", currency="EUR",
        lines=(line,),
    )  # fmt: skip


def _invoice(*adjustments: AllowanceCharge) -> Invoice:
    line = InvoiceLine(
        line_no=1, quantity=Decimal(5), unit_price=Decimal("9.50"), amount=Decimal("47.50"),
        discount_percent=Decimal(5), allowance_charges=adjustments,
    )  # fmt: skip
    return Invoice(
        erp_id="7", number="INV-1", invoice_date=dt.date(2026, 11, 3),
        customer=PartyRef(gln=NORD), currency="EUR", lines=(line,),
        allowance_charges=(AllowanceCharge(charge=True, amount=Decimal(7), reason_code="FC"),),
        untaxed_amount=Decimal("54.50"), tax_amount=Decimal(0), total_amount=Decimal("54.50"),
    )  # fmt: skip


def test_documents_without_line_allowances_hash_as_before() -> None:
    # the digests these documents had before line allowances existed (commit 4254e3d)
    assert _order().content_hash() == (
        "38b115f7be6bcb93613ac2c998d545b4325fab583ca1b7f302415e638d813adc"
    )
    assert _change().content_hash() == (
        "9c7763ed37d9aca50fca398f1c602bfab4d1e7bf05af49bc673b8b3f29d8e955"
    )
    assert _sale().content_hash() == (
        "16b70dad23dea25892a61e08d7d7ea879233d8fdb937edba9e53b1341c701d47"
    )
    # a document-level charge without a percentage hashes as before ``percent`` existed
    assert _invoice().content_hash() == (
        "7c4a95434fa75d5bcd4b6e6328d54f5ee6611076b563ee60d3fe2f715f0e724f"
    )


def test_line_allowances_change_the_hash() -> None:
    discount = AllowanceCharge(amount=Decimal("2.50"), reason_code="DI")
    for build in (_order, _change, _sale, _invoice):
        assert build(discount).content_hash() != build().content_hash(), build.__name__
    five = AllowanceCharge(amount=Decimal("2.50"), reason_code="DI", percent=Decimal(5))
    assert _order(five).content_hash() != _order(discount).content_hash()
