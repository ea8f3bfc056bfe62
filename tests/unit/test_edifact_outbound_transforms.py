"""DESADV, INVOIC and INVRPT builders: EANCOM content, our own validator, amounts to the cent."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from connectors.edi import EdifactReader, Message, validate
from hub.config import load_partners
from hub.edi_out import render
from hub.ledger import Ledger
from hub.settings import PROJECT_ROOT
from schemas.model import (
    Address,
    Invoice,
    InvoiceLine,
    Package,
    PartyRef,
    Shipment,
    ShipmentLine,
    StockLevel,
    TaxLine,
)
from tests.fixtures.ids import GTINS as ALL_GTINS
from tests.fixtures.ids import NORD as BUYER
from tests.fixtures.ids import US
from transforms import edifact_desadv as d
from transforms import edifact_invoic as inv
from transforms import edifact_invrpt as ir
from transforms.edifact_outbound import MissingField
from transforms.sscc import is_valid, sscc

GTINS = ALL_GTINS[:3]

PARTNERS = load_partners(PROJECT_ROOT / "config" / "partners")


def shipment(**kw: object) -> Shipment:
    values: dict[str, object] = {
        "erp_id": "7",
        "number": "OUT7",
        "state": "done",
        "customer": PartyRef(gln=BUYER, erp_id="1", name="Kaufhaus Nord"),
        "delivery_address": Address(city="Hamburg", gln="4300000000045"),
        "order_numbers": ("PO1",),
        "effective_date": dt.date(2024, 3, 4),
        "planned_date": dt.date(2024, 3, 5),
        "lines": tuple(
            ShipmentLine(
                line_no=i,
                product_code=f"P{i}",
                gtin=GTINS[i - 1],
                quantity=Decimal(i) + Decimal("0.5"),
                order_number="PO1",
            )
            for i in (1, 2, 3)
        ),  # fmt: skip
        "updated_at": dt.datetime(2024, 3, 4, 10, 30, tzinfo=dt.UTC),
    }
    values.update(kw)
    return Shipment(**values)  # type: ignore[arg-type]


def invoice(**kw: object) -> Invoice:
    lines = (
        InvoiceLine(line_no=1, product_code="P1", gtin=GTINS[0], quantity=Decimal(3),
                    unit_price=Decimal("1.3333"), amount=Decimal("4.00"), tax_rate=Decimal(19),
                    order_number="PO1"),
        InvoiceLine(line_no=2, product_code="P2", gtin=GTINS[1], quantity=Decimal("7"),
                    unit_price=Decimal("2.15"), amount=Decimal("15.05"), tax_rate=Decimal(7),
                    order_number="PO1"),
    )  # fmt: skip
    values: dict[str, object] = {
        "erp_id": "9",
        "number": "INV/2024/0009",
        "invoice_date": dt.date(2024, 3, 6),
        "customer": PartyRef(gln=BUYER, erp_id="1"),
        "currency": "EUR",
        "lines": lines,
        "taxes": (
            TaxLine(rate=Decimal(19), base=Decimal("4.00"), amount=Decimal("0.76")),
            TaxLine(rate=Decimal(7), base=Decimal("15.05"), amount=Decimal("1.05")),
        ),
        "untaxed_amount": Decimal("19.05"),
        "tax_amount": Decimal("1.81"),
        "total_amount": Decimal("20.86"),
        "order_numbers": ("PO1",),
        "due_date": dt.date(2024, 4, 5),
    }
    values.update(kw)
    return Invoice(**values)  # type: ignore[arg-type]


def roundtrip(ledger: Ledger, partner: str, doc_type: str, mtype: tuple[str, ...],
              body: list) -> tuple[bytes, Message]:  # fmt: skip
    doc = render(ledger, PARTNERS[partner], doc_type=doc_type, doc_key=f"{doc_type}:t",
                 message_type=":".join(mtype), body=body,
                 prepared=dt.datetime(2024, 3, 6, 8, 0, tzinfo=dt.UTC))  # fmt: skip
    result = validate(doc.data)
    assert result.verdict == "accepted", result.to_dict()
    (msg,) = [e for e in EdifactReader(doc.data) if isinstance(e, Message)]
    return doc.data, msg


def seg(msg: Message, tag: str, first: str | None = None) -> list:
    return [s for s in msg.segments if s.tag == tag and (first is None or s.element(1) == first)]


def test_sscc_is_18_digits_with_the_gs1_check_digit() -> None:
    assert sscc("0614141", 123456789, extension=1) == "106141411234567897"  # GS1's example
    code = sscc("400638", 42)
    assert len(code) == 18 and code.startswith("0400638") and is_valid(code)
    assert not is_valid(code[:-1] + str((int(code[-1]) + 1) % 10))
    with pytest.raises(ValueError, match="does not fit"):
        sscc("400638123456", 10**4)


def test_desadv_has_parties_dates_packages_with_ssccs_and_gtin_lines(ledger: Ledger) -> None:
    ship = shipment(
        tracking_number="JD0146001",
        packages=(Package(line_nos=(1, 2), weight_kg=Decimal("12.5")),),
    )
    plans = d.plan_packages(ship)
    assert [p.line_nos for p in plans] == [(1, 2), (3,)]  # loose line 3 gets its own package
    packages = [(plan, sscc("400638", plan.index)) for plan in plans]
    body = d.desadv(ship, document_number="OUT7", issued=dt.date(2024, 3, 4), buyer_gln=BUYER,
                    supplier_gln=US, delivery_gln="4300000000045", packages=packages,
                    gtin_by_code={})  # fmt: skip
    _, msg = roundtrip(ledger, "kaufhaus-nord", "DESADV", d.DESADV_TYPE, body)
    assert msg.type == "DESADV:D:96A:UN:EAN007"
    assert seg(msg, "BGM")[0].elements[:3] == ["351", "OUT7", "9"]
    assert {s.element(1, 1): s.element(1, 2) for s in seg(msg, "DTM")} == {
        "137": "20240304", "11": "20240304", "17": "20240305"}  # fmt: skip
    assert [s.element(1, 2) for s in seg(msg, "RFF", "ON")][0] == "PO1"
    assert seg(msg, "RFF", "CN")[0].element(1, 2) == "JD0146001"
    assert [(s.element(1), s.element(2, 1)) for s in seg(msg, "NAD")] == [
        ("BY", BUYER), ("SU", US), ("DP", "4300000000045")]  # fmt: skip
    assert [s.element(2) for s in seg(msg, "GIN", "BJ")] == [code for _, code in packages]
    assert [s.elements[:2] for s in seg(msg, "CPS")] == [["1"], ["2", "1"], ["3", "1"]]
    assert [s.element(3, 1) for s in seg(msg, "LIN")] == GTINS
    assert [s.element(1, 2) for s in seg(msg, "QTY", None)] == ["1.5", "2.5", "3.5"]
    assert seg(msg, "CNT")[0].element(1, 2) == "3"


def test_desadv_missing_gln_and_gtin_name_document_record_and_field() -> None:
    ship = shipment(lines=(ShipmentLine(line_no=1, product_code="NOGTIN", quantity=Decimal(1)),))
    problems = d.check(ship, buyer_gln=None, supplier_gln=US, delivery_gln=None, gtin_by_code={})
    fields = [p.field for p in problems]
    assert fields == ["customer.gln", "delivery_address.gln", "gtin"]
    assert "DESADV" in str(problems[2]) and "shipment OUT7" in str(problems[2])
    assert "line 1 (product NOGTIN)" in str(problems[2])
    assert d.check(ship, buyer_gln=BUYER, supplier_gln=US, delivery_gln=BUYER,
                   gtin_by_code={"NOGTIN": GTINS[0]}) == []  # fmt: skip


def test_invoic_amounts_equal_the_erp_invoice_to_the_cent(ledger: Ledger) -> None:
    source = invoice()
    body = inv.invoic(source, buyer_gln=BUYER, supplier_gln=US, buyer_vat="DE135735793",
                      supplier_vat="DE136695976", gtin_by_code={}, despatch_numbers=["OUT7"],
                      delivery_date=dt.date(2024, 3, 4))  # fmt: skip
    _, msg = roundtrip(ledger, "kaufhaus-nord", "INVOIC", inv.INVOIC_TYPE, body)
    assert seg(msg, "BGM")[0].elements[:2] == ["380", "INV/2024/0009"]
    dtms = {s.element(1, 1): s.element(1, 2) for s in seg(msg, "DTM")}
    assert (dtms["137"], dtms["35"], dtms["13"]) == ("20240306", "20240304", "20240405")
    assert {s.element(1, 1): s.element(1, 2) for s in seg(msg, "RFF")
            if s.element(1, 1) in ("ON", "DQ")} == {"ON": "PO1", "DQ": "OUT7"}  # fmt: skip
    vats = [s.element(1, 2) for s in seg(msg, "RFF") if s.element(1, 1) == "VA"]
    assert vats == ["DE135735793", "DE136695976", "DE135735793"]  # BY, SU, IV
    moa = [(s.element(1, 1), Decimal(s.element(1, 2))) for s in seg(msg, "MOA")]
    assert [a for q, a in moa if q == "203"] == [ln.amount for ln in source.lines]
    summary = dict(moa[2:6])
    assert summary == {"77": source.total_amount, "79": source.untaxed_amount,
                       "125": source.untaxed_amount, "176": source.tax_amount}  # fmt: skip
    assert [a for q, a in moa[6:] if q == "124"] == [t.amount for t in source.taxes]
    assert [Decimal(s.element(1, 2)) for s in seg(msg, "PRI")] == [Decimal("1.3333"),
                                                                   Decimal("2.15")]  # fmt: skip
    rates = [s.element(5, 4) for s in seg(msg, "TAX")]
    assert rates == ["19", "7", "19", "7"]  # per line, then one summary group per rate
    assert seg(msg, "CNT")[0].element(1, 2) == "2"
    assert seg(msg, "CUX")[0].elements == [["2", "EUR", "4"]]


def test_credit_note_is_381_with_positive_amounts_and_foreign_currency_has_a_rate(
    ledger: Ledger,
) -> None:
    neg = invoice()
    credit = neg.model_copy(update={
        "kind": "credit_note", "currency": "USD", "company_currency": "EUR",
        "currency_rate": Decimal("1.0825"),
        "lines": tuple(ln.model_copy(update={"quantity": -ln.quantity, "amount": -ln.amount})
                       for ln in neg.lines),
        "taxes": tuple(t.model_copy(update={"base": -t.base, "amount": -t.amount})
                       for t in neg.taxes),
        "untaxed_amount": -neg.untaxed_amount, "tax_amount": -neg.tax_amount,
        "total_amount": -neg.total_amount,
    })  # fmt: skip
    body = inv.invoic(credit, buyer_gln=BUYER, supplier_gln=US, gtin_by_code={},
                      decimal_mark=",")  # fmt: skip
    data, msg = roundtrip(ledger, "markt-sued", "INVOIC", inv.INVOIC_TYPE, body)
    assert b"\n" not in data.rstrip(b"\n")  # markt-sued: one line, decimal comma
    assert seg(msg, "BGM")[0].element(1) == "381"
    assert seg(msg, "MOA", None)[-1].element(1, 2) == "15,05"  # taxable base, positive
    assert [s.element(1, 2) for s in seg(msg, "MOA") if s.element(1, 1) == "77"] == ["20,86"]
    assert seg(msg, "CUX")[0].elements == [["2", "USD", "4"], ["3", "EUR", "11"], "1,0825"]
    with pytest.raises(MissingField, match="currency_rate"):
        inv.invoic(credit.model_copy(update={"currency_rate": None}), buyer_gln=BUYER,
                   supplier_gln=US, gtin_by_code={})  # fmt: skip


def test_invoic_missing_vat_where_required_names_the_field() -> None:
    problems = inv.check(invoice(), buyer_gln=BUYER, supplier_gln=US, buyer_vat=None,
                         supplier_vat="DE136695976", require_vat=True, gtin_by_code={})  # fmt: skip
    assert [p.field for p in problems] == ["customer.vat"]
    assert "INVOIC: invoice INV/2024/0009 (ERP id 9)" in str(problems[0])
    assert inv.check(invoice(), buyer_gln=BUYER, supplier_gln=US, buyer_vat=None,
                     supplier_vat=None, require_vat=False, gtin_by_code={}) == []  # fmt: skip


def test_invrpt_reports_qty_145_per_gtin_and_location(ledger: Ledger) -> None:
    at = dt.datetime(2024, 3, 6, tzinfo=dt.UTC)
    levels = [
        StockLevel(product_code="P1", gtin=GTINS[0], location="WH", quantity=Decimal(5), as_of=at),
        StockLevel(product_code="P1", gtin=GTINS[0], location="WH2", quantity=Decimal(2), as_of=at),
        StockLevel(product_code="P2", location="WH", quantity=Decimal("1.5"), as_of=at),
        StockLevel(product_code="P3", location="WH", quantity=Decimal(9), as_of=at),
    ]
    stock, without = ir.stock_by_gtin(levels, {"P2": GTINS[1]})
    assert without == ["P3"]
    body = ir.invrpt(stock, document_number="IR1", issued=at.date(), as_of=at.date(),
                     supplier_gln=US, partner_gln=BUYER)  # fmt: skip
    _, msg = roundtrip(ledger, "kaufhaus-nord", "INVRPT", ir.INVRPT_TYPE, body)
    assert seg(msg, "BGM")[0].elements[:2] == ["35", "IR1"]
    pairs = [(s.tag, s.element(1, 2) if s.tag == "QTY" else s.element(2, 1))
             for s in msg.segments if s.tag in ("QTY", "LOC")]  # fmt: skip
    assert pairs == [("QTY", "5"), ("LOC", "WH"), ("QTY", "2"), ("LOC", "WH2"),
                     ("QTY", "1.5"), ("LOC", "WH")]  # fmt: skip
    assert [s.element(3, 1) for s in seg(msg, "LIN")] == GTINS[:2]
