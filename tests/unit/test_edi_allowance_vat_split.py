"""An order-level allowance or charge split over the goods' VAT rates in proportion to their
net amounts (one sale line, and one INVOIC header ALC, per rate; issue 14 item 3)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from schemas.model import (
    AllowanceCharge,
    Invoice,
    InvoiceLine,
    PartyRef,
    SalesOrder,
    SalesOrderLine,
    TaxLine,
)
from tests.fixtures.ids import GTINS, NORD, US
from transforms.edifact_invoic import invoic
from transforms.edifact_orders_allowances import (
    ADJUSTMENT_PRODUCTS,
    adjustment_code,
    adjustment_lines,
    split_over_rates,
)

R19, R7 = Decimal(19), Decimal(7)


def _order(*adjustments: AllowanceCharge) -> SalesOrder:
    """3 x 10.00 at one rate, 7 x 10.00 at another (the rates are the ERP's to know)."""
    lines = tuple(
        SalesOrderLine(
            line_no=no, gtin=GTINS[no - 1], quantity=Decimal(quantity), unit_price=Decimal(10)
        )
        for no, quantity in ((1, 3), (2, 7))
    )
    return SalesOrder(order_number="VS-1", order_date=dt.date(2026, 11, 2),
                      buyer=PartyRef(gln=NORD), supplier=PartyRef(gln=US), currency="EUR",
                      allowance_charges=adjustments, lines=lines)  # fmt: skip


def test_codes_per_rate() -> None:
    assert adjustment_code(False) == "ALLOWANCE" and adjustment_code(True, R7) == "CHARGE-7"
    assert adjustment_code(False, Decimal("7.0000")) == "ALLOWANCE-7"
    assert {"ALLOWANCE", "CHARGE", "ALLOWANCE-7", "CHARGE-7"} == ADJUSTMENT_PRODUCTS


def test_split_is_proportional_and_adds_up_to_the_cent() -> None:
    assert split_over_rates(Decimal(10), {R19: Decimal(70), R7: Decimal(30)}) == {
        R19: Decimal(7), R7: Decimal(3)}  # fmt: skip
    # 10 / 3: 3.33 at each smaller base, the largest base takes the rest
    thirds = split_over_rates(
        Decimal(10), {R19: Decimal(1), R7: Decimal(1), Decimal(0): Decimal(1)}
    )
    assert sum(thirds.values()) == Decimal(10) and sorted(thirds.values()) == [
        Decimal("3.33"), Decimal("3.33"), Decimal("3.34")]  # fmt: skip
    # one rate, no base, or a share that rounds to nothing: one line
    assert split_over_rates(Decimal(5), {R7: Decimal(80)}) == {R7: Decimal(5)}
    assert split_over_rates(Decimal(5), {}) == {R19: Decimal(5)}
    assert split_over_rates(Decimal("0.01"), {R19: Decimal(99), R7: Decimal(1)}) == {
        R19: Decimal("0.01")}  # fmt: skip


def test_adjustment_lines_one_per_rate_after_the_goods() -> None:
    order = _order(AllowanceCharge(amount=Decimal(10), reason_code="TD"),
                   AllowanceCharge(charge=True, amount=Decimal(4), reason_code="FC"))  # fmt: skip
    lines = adjustment_lines(order, {R19: Decimal(70), R7: Decimal(30)})
    assert [(a.sequence, a.product_code, a.unit_price) for a in lines] == [
        (3, "ALLOWANCE", Decimal(-7)), (4, "ALLOWANCE-7", Decimal(-3)),
        (5, "CHARGE", Decimal("2.80")), (6, "CHARGE-7", Decimal("1.20"))]  # fmt: skip
    # without the bases (the FakeErp's one rate): one line each, as before
    assert [a.product_code for a in adjustment_lines(order)] == ["ALLOWANCE", "CHARGE"]


def test_invoic_states_one_header_alc_per_rate_with_its_tax() -> None:
    def line(no: int, code: str, amount: str, rate: Decimal) -> InvoiceLine:
        return InvoiceLine(line_no=no, product_code=code, gtin=GTINS[no - 1] if no < 3 else None,
                           quantity=Decimal(1), unit_price=Decimal(amount),
                           amount=Decimal(amount), tax_rate=rate)  # fmt: skip

    invoice = Invoice(
        erp_id="1", number="INV-1", invoice_date=dt.date(2026, 11, 3),
        customer=PartyRef(gln=NORD), currency="EUR", order_numbers=("VS-1",),
        lines=(line(1, "A", "70", R19), line(2, "B", "30", R7),
               line(3, "ALLOWANCE", "-7", R19), line(4, "ALLOWANCE-7", "-3", R7)),
        taxes=(TaxLine(rate=R19, base=Decimal(63), amount=Decimal("11.97")),
               TaxLine(rate=R7, base=Decimal(27), amount=Decimal("1.89"))),
        untaxed_amount=Decimal(90), tax_amount=Decimal("13.86"), total_amount=Decimal("103.86"),
    )  # fmt: skip
    segments = invoic(invoice, buyer_gln=NORD, supplier_gln=US,
                      gtin_by_code={"A": GTINS[0], "B": GTINS[1]})  # fmt: skip
    first_lin = next(i for i, s in enumerate(segments) if s[0] == "LIN")
    header = [s for s in segments[:first_lin] if s[0] in ("ALC", "MOA", "TAX")]
    assert [(s[0], s[1]) for s in header] == [("ALC", "A"), ("MOA", ["204", "7.00"]),
                                              ("TAX", "7"), ("ALC", "A"),
                                              ("MOA", ["204", "3.00"]), ("TAX", "7")]  # fmt: skip
    assert [s[5] for s in header if s[0] == "TAX"] == [["", "", "", "19"], ["", "", "", "7"]]
    moa = [s[1] for s in segments[first_lin:] if s[0] == "MOA"]
    assert ["79", "100.00"] in moa and ["131", "-10.00"] in moa
    assert len([s for s in segments if s[0] == "CNT"]) == 1 and ("CNT", ["2", "2"]) in segments
