"""Line-level allowances and charges (ALC in an ORDERS/INVOIC line group, issue 14.3): the
canonical fields, and content hashes unchanged for documents without them (journal keys)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from connectors.edi import validate
from hub.config import load_partners
from hub.edi_out import render, to_segments
from hub.ledger import Ledger
from hub.settings import PROJECT_ROOT
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
    TaxLine,
)
from tests.fixtures.ids import GTINS, NORD, US
from transforms import edifact_invoic as inv
from transforms.edifact_orders import orders_to_sales_order, sales_order_to_orders

Segments = list[tuple[object, ...]]
PROFILE = load_partners(PROJECT_ROOT / "config" / "partners")["kaufhaus-nord"]
R19 = Decimal(19)
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


def _orders_line(*alc: tuple[object, ...], quantity: int = 5, price: str = "11") -> Segments:
    """ORDERS of one line, ``quantity`` x ``price`` (PRI+AAB, gross), ``alc`` after the PRI."""
    order = SalesOrder(
        order_number="LA-1", order_date=dt.date(2026, 11, 2), buyer=PartyRef(gln=NORD),
        supplier=PartyRef(gln=US), currency="EUR",
        lines=(SalesOrderLine(line_no=1, gtin=GTINS[0], quantity=Decimal(quantity),
                              unit_price=Decimal(price)),),
    )  # fmt: skip
    body = [s if s[0] != "PRI" else ("PRI", ["AAB", price]) for s in sales_order_to_orders(order)]
    at = next(i for i, s in enumerate(body) if s[0] == "PRI") + 1
    return [*body[:at], *alc, *body[at:]]


DI = ("ALC", "A", "", "", "1", ["DI", "", "", "Volume"])
ABK = ("ALC", "C", "", "", "1", ["ABK"])


def test_a_line_keeps_its_amount_allowance_and_charge_with_reason_codes() -> None:
    # 5 x 11.00 = 55.00, less 4.00 (DI), plus 10% (ABK: 5.50) = 56.50, 11.30 each
    body = _orders_line(DI, ("MOA", ["204", "4"]), ABK, ("PCD", ["1", "10"]))
    order, errors = orders_to_sales_order(to_segments(body))
    assert errors == [] and order is not None
    (line,) = order.lines
    assert (line.unit_price, line.discount_percent) == (Decimal("11.3"), Decimal(0))
    assert line.allowance_charges == (
        AllowanceCharge(amount=Decimal(4), reason="Volume", reason_code="DI"),
        AllowanceCharge(charge=True, amount=Decimal("5.50"), reason_code="ABK",
                        percent=Decimal(10)),
    )  # fmt: skip
    # the partner's ORDERS of it says the same: gross price, then each ALC as it came
    again = sales_order_to_orders(order)
    assert [s for s in again if s[0] in ("PRI", "ALC", "PCD", "MOA")] == [
        ("PRI", ["AAB", "11"]), DI, ("MOA", ["204", "4"]),
        ABK, ("PCD", ["1", "10"]), ("MOA", ["23", "5.5"]),
    ]  # fmt: skip
    assert orders_to_sales_order(to_segments(again)) == (order, [])


def test_the_orders_percentage_is_the_lines_share_and_adds_up_to_the_cent() -> None:
    # 3 x 9.99 = 29.97 less the order's 10% (3.00) = 26.97, less 1.00 = 25.97 (8.6567 each)
    body = _orders_line(("ALC", "A", "", "", "1", ["DI"]), ("MOA", ["204", "1"]),
                        quantity=3, price="9.99")  # fmt: skip
    lin = next(i for i, s in enumerate(body) if s[0] == "LIN")
    body = [*body[:lin], ("ALC", "A"), ("PCD", ["1", "10"]), *body[lin:]]
    order, errors = orders_to_sales_order(to_segments(body))
    assert errors == [] and order is not None
    (line,) = order.lines
    assert [(a.amount, a.percent, a.reason_code) for a in line.allowance_charges] == [
        (Decimal("3.00"), Decimal(10), None), (Decimal(1), None, "DI")]  # fmt: skip
    assert line.unit_price is not None
    total = (line.unit_price * line.quantity).quantize(Decimal("0.01"))
    assert Decimal("29.97") - sum(a.amount for a in line.allowance_charges) == total


def test_a_percentage_line_keeps_a_reason_other_than_td_only() -> None:
    order, _ = orders_to_sales_order(to_segments(_orders_line(DI, ("PCD", ["1", "5"]))))
    assert order is not None and order.lines[0].discount_percent == 5
    assert order.lines[0].allowance_charges == (
        AllowanceCharge(amount=Decimal("2.75"), reason="Volume", reason_code="DI",
                        percent=Decimal(5)),
    )  # fmt: skip
    td = ("ALC", "A", "", "", "1", ["TD"])
    order, _ = orders_to_sales_order(to_segments(_orders_line(td, ("PCD", ["1", "5"]))))
    assert order is not None and order.lines[0].allowance_charges == ()  # hashes as before


def _sold(ordered: Decimal) -> ErpSale:
    """The sale the hub journaled: 11.30 net, 4.00 off (DI) and 10% on (ABK) for ``ordered``
    units, and an order-level allowance of 3.00 (reason DI) as a service line."""
    goods = ErpSaleLine(
        line_no=1, product_code="P1", quantity=ordered, unit_price=Decimal("11.3"),
        allowance_charges=(
            AllowanceCharge(amount=Decimal(4), reason="Volume", reason_code="DI"),
            AllowanceCharge(charge=True, amount=Decimal("5.50"), reason_code="ABK",
                            percent=Decimal(10)),
        ),
    )  # fmt: skip
    service = ErpSaleLine(
        line_no=3, product_code="ALLOWANCE", quantity=Decimal(1), unit_price=Decimal(-3),
        allowance_charges=(AllowanceCharge(amount=Decimal(3), reason_code="DI"),),
    )  # fmt: skip
    return ErpSale(
        erp_id="1", reference="LA-1", party_erp_id="2", state="processing", currency="EUR",
        lines=(goods, ErpSaleLine(line_no=2, product_code="P2", quantity=Decimal(2),
                                  unit_price=Decimal(10)), service),
    )  # fmt: skip


def _posted(quantity: Decimal, amount: Decimal) -> Invoice:
    """The ERP's invoice of ``quantity`` x 11.30 (``amount``), 2 x 10.00 and -3.00, 19%."""

    def line(no: int, code: str, qty: Decimal, price: Decimal, total: Decimal) -> InvoiceLine:
        return InvoiceLine(line_no=no, product_code=code, quantity=qty, unit_price=price,
                           amount=total, tax_rate=R19, order_number="LA-1")  # fmt: skip

    untaxed = amount + 20 - 3
    tax = (untaxed * R19 / 100).quantize(Decimal("0.01"))
    return Invoice(
        erp_id="9", number="INV/1", invoice_date=dt.date(2026, 12, 1),
        customer=PartyRef(gln=NORD, erp_id="2"), currency="EUR", order_numbers=("LA-1",),
        lines=(line(1, "P1", quantity, Decimal("11.3"), amount),
               line(2, "P2", Decimal(2), Decimal(10), Decimal(20)),
               line(3, "ALLOWANCE", Decimal(1), Decimal(-3), Decimal(-3))),
        taxes=(TaxLine(rate=R19, base=untaxed, amount=tax),),
        untaxed_amount=untaxed, tax_amount=tax, total_amount=untaxed + tax,
    )  # fmt: skip


def _invoic(invoice: Invoice, ledger: Ledger) -> list[str]:
    """The INVOIC's segments as sent (validated by the codec first)."""
    codes = {"P1": GTINS[0], "P2": GTINS[1]}
    body = inv.invoic(invoice, buyer_gln=NORD, supplier_gln=US, gtin_by_code=codes)
    doc = render(ledger, PROFILE, doc_type="INVOIC", doc_key=f"INVOIC:{invoice.number}",
                 message_type=":".join(inv.INVOIC_TYPE), body=body,
                 prepared=dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC))  # fmt: skip
    result = validate(doc.data)
    assert result.verdict == "accepted", result.to_dict()  # the codec's INVOIC D96A table
    return doc.data.decode().replace("\n", "").split("'")


def _first_line(segments: list[str]) -> list[str]:
    start = next(i for i, s in enumerate(segments) if s.startswith("LIN+"))
    end = next(i for i, s in enumerate(segments) if s.startswith("LIN+") and i > start)
    return segments[start:end]


def test_invoic_states_the_lines_allowances_and_charges_with_the_orders_reasons(
    ledger: Ledger,
) -> None:
    invoice = inv.with_order_allowances(_posted(Decimal(5), Decimal("56.50")), [_sold(Decimal(5))])
    sent = _invoic(invoice, ledger)
    assert _first_line(sent) == [
        f"LIN+1++{GTINS[0]}:EN", "QTY+47:5", "MOA+203:56.50",
        "PRI+AAA:11.3", "PRI+AAB:11", "RFF+ON:LA-1", "TAX+7+VAT+++:::19+S",
        "ALC+A+++1+DI:::Volume", "MOA+204:4.00",
        "ALC+C+++1+ABK", "PCD+1:10", "MOA+23:5.50",
    ]  # fmt: skip
    # 55.00 gross less 4.00 plus 5.50 is MOA 203; the order-level allowance keeps its DI
    alc = [s for s in sent if s.startswith(("ALC+", "MOA+"))]
    assert alc[:2] == ["ALC+A+++1+DI", "MOA+204:3.00"]
    moa = {s[4:].split(":")[0]: Decimal(s.split(":")[1]) for s in sent if s.startswith("MOA+")}
    assert moa["79"] + moa["131"] == moa["125"] == invoice.untaxed_amount == Decimal("73.50")


def test_a_partial_invoice_states_its_share_of_the_lines_amounts(ledger: Ledger) -> None:
    # 2 of 5 units (22.60 net): 2/5 of 4.00 and of 5.50; 22.60 + 1.60 - 2.20 = 22.00 gross
    invoice = inv.with_order_allowances(_posted(Decimal(2), Decimal("22.60")), [_sold(Decimal(5))])
    assert [a.amount for a in invoice.lines[0].allowance_charges] == [Decimal("1.60"),
                                                                      Decimal("2.20")]  # fmt: skip
    line = _first_line(_invoic(invoice, ledger))
    assert "PRI+AAB:11" in line and "MOA+204:1.60" in line and "MOA+23:2.20" in line
