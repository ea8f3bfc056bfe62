"""Invoice line allowances (BG-27) and charges (BG-28) in the e-invoices: UBL and CII elements,
the official EN 16931 + XRechnung rules, and read back (the EDI customer's ALC, for all).

The canonical line amount is net of the line's allowances and charges (``InvoiceLine.unit_price``
is the net price, its ``allowance_charges`` are "in unit_price"): the e-invoice keeps that
amount as BT-131 and states the price before them (BT-146), so quantity x price - allowances +
charges = BT-131 and the sum of line net amounts (BT-106) is the ERP's, counted once.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from lxml import etree

from connectors.einvoice.validator import Validator
from sandbox.einvoice_data import BUYERS, SELLER, customer
from schemas.einvoice_config import FORMATS, EInvoiceFormat
from schemas.model import (
    AllowanceCharge,
    ErpSale,
    ErpSaleLine,
    Invoice,
    InvoiceLine,
    PartyRef,
    TaxLine,
)
from tests.fixtures.einvoice import official_validator
from transforms.edifact_invoic import with_order_allowances
from transforms.einvoice import render
from transforms.einvoice.cii import RAM, UDT
from transforms.einvoice.document import EDocument, build
from transforms.einvoice.read import summarize
from transforms.einvoice.ubl import CAC, CBC

R19 = Decimal(19)
BUYER = BUYERS[0]
# 5 x 11.00 = 55.00, less 10% (5.50, EDIFACT reason DI), plus 2.00 packing (ABL) = 51.50
VOLUME = AllowanceCharge(amount=Decimal("5.50"), reason="Volume", reason_code="DI",
                         percent=Decimal(10))  # fmt: skip
PACKING = AllowanceCharge(charge=True, amount=Decimal("2.00"), reason="Packing", reason_code="ABL")


def _invoice(credit: bool = False) -> Invoice:
    """Coffee 5 x 10.30 net (51.50, after its allowance and charge) and mugs 2 x 6.95, 19%."""
    sign = Decimal(-1) if credit else Decimal(1)
    lines = (
        InvoiceLine(line_no=1, product_code="P-COFFEE", description="Coffee beans 1 kg",
                    quantity=5 * sign, unit_price=Decimal("10.30"), amount=Decimal("51.50") * sign,
                    tax_rate=R19, allowance_charges=(VOLUME, PACKING)),
        InvoiceLine(line_no=2, product_code="P-MUG", description="Stoneware mug",
                    quantity=2 * sign, unit_price=Decimal("6.95"), amount=Decimal("13.90") * sign,
                    tax_rate=R19),
    )  # fmt: skip
    untaxed, tax = Decimal("65.40") * sign, Decimal("12.43") * sign
    return Invoice(
        erp_id="77", number="CN-2026-0077" if credit else "INV-2026-0077",
        kind="credit_note" if credit else "invoice", invoice_date=dt.date(2026, 11, 30),
        customer=PartyRef(erp_id=BUYER.erp_id, name=BUYER.name), currency="EUR", lines=lines,
        taxes=(TaxLine(rate=R19, base=untaxed, amount=tax),), untaxed_amount=untaxed,
        tax_amount=tax, total_amount=untaxed + tax, due_date=dt.date(2026, 12, 30),
        order_numbers=("PO-77",),
    )  # fmt: skip


def _doc(invoice: Invoice, fmt: EInvoiceFormat) -> EDocument:
    return build(
        invoice,
        fmt=fmt,
        seller=SELLER,
        buyer=BUYER,
        customer=customer(BUYER, fmt),
        delivery_date=dt.date(2026, 11, 28),
    )


def _children(el: etree._Element) -> list[str]:
    return [etree.QName(c).localname for c in el]


def test_the_line_keeps_the_erps_net_and_states_the_price_before_its_allowances() -> None:
    doc = _doc(_invoice(), "xrechnung-ubl")
    coffee, mug = doc.lines
    assert (coffee.price, coffee.net, mug.price, mug.allowances) == (
        Decimal(11),
        Decimal("51.50"),
        Decimal("6.95"),
        (),
    )
    assert [(a.charge, a.amount, a.reason, a.reason_code, a.percent, a.base)
            for a in coffee.allowances] == [
        (False, Decimal("5.50"), "Volume", "95", Decimal(10), Decimal("55.00")),  # DI -> 95
        (True, Decimal("2.00"), "Packing", "ABL", None, None),
    ]  # fmt: skip
    off = sum(a.amount for a in coffee.allowances if not a.charge)
    on = sum(a.amount for a in coffee.allowances if a.charge)
    assert coffee.quantity * coffee.price - off + on == coffee.net
    # counted once: BT-106 is the ERP's sum of line amounts, no document-level allowance
    assert doc.line_total == doc.tax_exclusive == Decimal("65.40")
    assert doc.allowances == () and doc.allowance_total == doc.charge_total == 0


@pytest.mark.parametrize("credit", [False, True])
def test_ubl_writes_each_line_allowance_charge_in_the_invoice_lines_order(credit: bool) -> None:
    root = etree.fromstring(render(_doc(_invoice(credit), "xrechnung-ubl")).xml)
    line_tag = "CreditNoteLine" if credit else "InvoiceLine"
    coffee, mug = root.findall(f"{{{CAC}}}{line_tag}")
    qty = "CreditedQuantity" if credit else "InvoicedQuantity"
    assert _children(coffee) == [
        "ID", qty, "LineExtensionAmount", "AllowanceCharge", "AllowanceCharge", "Item", "Price"
    ]  # fmt: skip
    assert "AllowanceCharge" not in _children(mug)
    off, on = coffee.findall(f"{{{CAC}}}AllowanceCharge")
    assert [(etree.QName(c).localname, c.text) for c in off] == [
        ("ChargeIndicator", "false"), ("AllowanceChargeReasonCode", "95"),
        ("AllowanceChargeReason", "Volume"), ("MultiplierFactorNumeric", "10"),
        ("Amount", "5.50"), ("BaseAmount", "55.00"),
    ]  # fmt: skip
    assert [(etree.QName(c).localname, c.text) for c in on] == [
        ("ChargeIndicator", "true"), ("AllowanceChargeReasonCode", "ABL"),
        ("AllowanceChargeReason", "Packing"), ("Amount", "2.00"),
    ]  # fmt: skip
    assert {c.get("currencyID") for c in (*off[-2:], on[-1])} == {"EUR"}
    assert coffee.findtext(f"{{{CBC}}}LineExtensionAmount") == "51.50"
    assert coffee.findtext(f"{{{CAC}}}Price/{{{CBC}}}PriceAmount") == "11"
    total = root.find(f"{{{CAC}}}LegalMonetaryTotal")
    assert total is not None and _children(total) == [
        "LineExtensionAmount", "TaxExclusiveAmount", "TaxInclusiveAmount", "PayableAmount"
    ]  # fmt: skip
    assert total.findtext(f"{{{CBC}}}LineExtensionAmount") == "65.40"
    assert root.findall(f"{{{CAC}}}AllowanceCharge") == []  # none at document level


def test_cii_writes_them_in_the_line_settlement_before_its_summation() -> None:
    root = etree.fromstring(render(_doc(_invoice(), "xrechnung-cii")).xml)
    coffee, mug = root.iter(f"{{{RAM}}}SpecifiedLineTradeSettlement")
    assert _children(coffee) == [
        "ApplicableTradeTax", "SpecifiedTradeAllowanceCharge", "SpecifiedTradeAllowanceCharge",
        "SpecifiedTradeSettlementLineMonetarySummation",
    ]  # fmt: skip
    assert "SpecifiedTradeAllowanceCharge" not in _children(mug)
    off, on = coffee.findall(f"{{{RAM}}}SpecifiedTradeAllowanceCharge")
    assert off.findtext(f"{{{RAM}}}ChargeIndicator/{{{UDT}}}Indicator") == "false"
    assert [(etree.QName(c).localname, c.text) for c in off][1:] == [
        ("CalculationPercent", "10"), ("BasisAmount", "55.00"), ("ActualAmount", "5.50"),
        ("ReasonCode", "95"), ("Reason", "Volume"),
    ]  # fmt: skip
    assert on.findtext(f"{{{RAM}}}ChargeIndicator/{{{UDT}}}Indicator") == "true"
    assert [(etree.QName(c).localname, c.text) for c in on][1:] == [
        ("ActualAmount", "2.00"), ("ReasonCode", "ABL"), ("Reason", "Packing"),
    ]  # fmt: skip
    summation = f"{{{RAM}}}SpecifiedTradeSettlementLineMonetarySummation/{{{RAM}}}LineTotalAmount"
    assert coffee.findtext(summation) == "51.50"
    price = f".//{{{RAM}}}NetPriceProductTradePrice/{{{RAM}}}ChargeAmount"
    assert root.findtext(price) == "11"
    header = f".//{{{RAM}}}SpecifiedTradeSettlementHeaderMonetarySummation"
    assert root.findtext(f"{header}/{{{RAM}}}LineTotalAmount") == "65.40"
    assert root.find(f"{header}/{{{RAM}}}AllowanceTotalAmount") is None


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_passes_the_official_rules(fmt: EInvoiceFormat) -> None:
    validator: Validator = official_validator()  # skips without ../shared
    for credit in (False, True):
        rendered = render(_doc(_invoice(credit), fmt))
        assert len(summarize(rendered.xml).line_allowances) == 2
        report = validator.validate(rendered.data, fmt)
        assert report.valid and report.warnings == [], [f.line() for f in report.findings]


@pytest.mark.parametrize("fmt", ["xrechnung-ubl", "xrechnung-cii"])
def test_reading_back_gives_each_lines_allowances_and_the_erps_totals(fmt: EInvoiceFormat) -> None:
    summary = summarize(render(_doc(_invoice(), fmt)).xml)
    assert summary.line_allowances == [
        {"line": "1", "kind": "allowance", "code": "95", "reason": "Volume", "percent": "10",
         "base": "55.00", "amount": "5.50"},
        {"line": "1", "kind": "charge", "code": "ABL", "reason": "Packing", "percent": "",
         "base": "", "amount": "2.00"},
    ]  # fmt: skip
    assert [(ln["price"], ln["net"]) for ln in summary.lines] == [
        ("11", "51.50"),
        ("6.95", "13.90"),
    ]
    assert summary.allowances == []
    assert (summary.totals["lines"], summary.totals["net"], summary.totals["payable"]) == (
        "65.40",
        "65.40",
        "77.83",
    )


def test_the_edi_customers_allowances_reach_the_einvoice_customer() -> None:
    """The order line the hub journaled (11.00 gross, 4.00 off for DI Volume, 10% on for ABK)
    invoiced at 11.30 net: the same gross price and amounts as that line's INVOIC ALC."""
    sold = ErpSaleLine(
        line_no=1, product_code="P-COFFEE", quantity=Decimal(5), unit_price=Decimal("11.3"),
        allowance_charges=(
            AllowanceCharge(amount=Decimal(4), reason="Volume", reason_code="DI"),
            AllowanceCharge(charge=True, amount=Decimal("5.50"), reason_code="ABK",
                            percent=Decimal(10)),
        ),
    )  # fmt: skip
    sale = ErpSale(erp_id="1", reference="PO-77", party_erp_id=BUYER.erp_id or "",
                   state="done", currency="EUR", lines=(sold,))  # fmt: skip
    posted = _invoice()
    line = posted.lines[0].model_copy(
        update={"unit_price": Decimal("11.3"), "amount": Decimal("56.50"),
                "allowance_charges": (), "order_number": "PO-77"}
    )  # fmt: skip
    untaxed, tax = Decimal("70.40"), Decimal("13.38")
    posted = posted.model_copy(
        update={"lines": (line, posted.lines[1]), "untaxed_amount": untaxed, "tax_amount": tax,
                "total_amount": untaxed + tax,
                "taxes": (TaxLine(rate=R19, base=untaxed, amount=tax),)}
    )  # fmt: skip
    doc = _doc(with_order_allowances(posted, [sale]), "zugferd-en16931")
    coffee = doc.lines[0]
    assert (coffee.price, coffee.net, doc.line_total) == (Decimal(11), Decimal("56.50"), untaxed)
    assert [(a.charge, a.amount, a.reason_code, a.percent, a.base) for a in coffee.allowances] == [
        (False, Decimal(4), "95", None, None),
        (True, Decimal("5.50"), "ABK", Decimal(10), Decimal("55.00")),
    ]  # fmt: skip


def test_an_order_percentage_alone_is_one_allowance_of_the_difference() -> None:
    posted = _invoice()
    line = posted.lines[1].model_copy(update={"discount_percent": Decimal(5)})
    doc = _doc(posted.model_copy(update={"lines": (posted.lines[0], line)}), "peppol-bis")
    mug = doc.lines[1]
    # 6.95 net is 7.3158 before 5%: 2 x 7.3158 = 14.63 (7.315 each), 0.73 off, 13.90 net
    assert (mug.price, mug.net) == (Decimal("7.315"), Decimal("13.90"))
    assert [(a.charge, a.amount, a.reason, a.reason_code, a.percent, a.base)
            for a in mug.allowances] == [
        (False, Decimal("0.73"), "Discount", "95", Decimal(5), Decimal("14.63"))
    ]  # fmt: skip
