"""INVOIC with document-level allowances and charges (issue 14.3): an ERP discount line and
the invoice's own allowances/charges go before the lines as ALC, totals to the ERP's cent."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from connectors.edi import EdifactReader, Message, validate
from hub.config import load_partners
from hub.edi_out import render
from hub.ledger import Ledger
from hub.settings import PROJECT_ROOT
from schemas.model import AllowanceCharge, Invoice, InvoiceLine, PartyRef, TaxLine
from tests.fixtures.ids import GTINS, US
from tests.fixtures.ids import NORD as BUYER
from transforms import edifact_invoic as inv

NORD = load_partners(PROJECT_ROOT / "config" / "partners")["kaufhaus-nord"]
R19, R7 = Decimal(19), Decimal(7)


def _invoice() -> Invoice:
    """Goods 100.00 (19%) + 50.00 (7%), a discount line -10.00 (19%, no GTIN: a service in
    the ERP), freight 5.00 (19%) and an allowance 2.50 (7%) on the invoice itself."""
    line = InvoiceLine
    lines = (
        line(line_no=1, product_code="P1", gtin=GTINS[0], quantity=Decimal(10),
             unit_price=Decimal(10), amount=Decimal("100.00"), tax_rate=R19),
        line(line_no=2, product_code="P2", gtin=GTINS[1], quantity=Decimal(5),
             unit_price=Decimal(10), amount=Decimal("50.00"), tax_rate=R7),
        line(line_no=3, product_code="ALLOWANCE", description="Aktionsrabatt",
             quantity=Decimal(1), unit_price=Decimal(-10), amount=Decimal("-10.00"),
             tax_rate=R19),
    )  # fmt: skip
    return Invoice(
        erp_id="9", number="INV/2026/0042", invoice_date=dt.date(2026, 12, 1),
        customer=PartyRef(gln=BUYER, erp_id="1"), currency="EUR", lines=lines,
        allowance_charges=(
            AllowanceCharge(charge=True, amount=Decimal("5.00"), reason="Fracht", tax_rate=R19),
            AllowanceCharge(amount=Decimal("2.50"), reason="Skonto", tax_rate=R7),
        ),
        taxes=(TaxLine(rate=R19, base=Decimal("95.00"), amount=Decimal("18.05")),
               TaxLine(rate=R7, base=Decimal("47.50"), amount=Decimal("3.33"))),
        untaxed_amount=Decimal("142.50"), tax_amount=Decimal("21.38"),
        total_amount=Decimal("163.88"),
    )  # fmt: skip


def test_allowances_and_charges_go_before_the_lines_and_totals_add_up(ledger: Ledger) -> None:
    source = _invoice()
    assert inv.check(source, buyer_gln=BUYER, supplier_gln=US, buyer_vat=None,
                     supplier_vat=None, require_vat=False, gtin_by_code={}) == []  # fmt: skip
    body = inv.invoic(source, buyer_gln=BUYER, supplier_gln=US, gtin_by_code={})
    doc = render(ledger, NORD, doc_type="INVOIC", doc_key="INVOIC:alc",
                 message_type=":".join(inv.INVOIC_TYPE), body=body,
                 prepared=dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC))  # fmt: skip
    result = validate(doc.data)
    assert result.verdict == "accepted", result.to_dict()  # the codec's INVOIC D96A table
    (msg,) = [e for e in EdifactReader(doc.data) if isinstance(e, Message)]
    tags = [s.tag for s in msg.segments]
    assert tags.index("ALC") < tags.index("LIN")  # SG15 before SG25
    alc = [(s.element(1), s.element(5, 1)) for s in msg.segments if s.tag == "ALC"]
    assert alc == [("A", "TD"), ("C", "FC"), ("A", "TD")]
    moa = [(s.element(1, 1), Decimal(s.element(1, 2))) for s in msg.segments if s.tag == "MOA"]
    assert [(q, a) for q, a in moa if q in ("204", "23")] == [
        ("204", Decimal("10.00")), ("23", Decimal("5.00")), ("204", Decimal("2.50"))]  # fmt: skip
    lins = [s.element(3, 1) for s in msg.segments if s.tag == "LIN"]
    assert lins == [GTINS[0], GTINS[1]]  # the discount line is no item
    totals = {q: a for q, a in moa if q in ("77", "79", "131")}
    assert totals == {"77": Decimal("163.88"), "79": Decimal("150.00"), "131": Decimal("-7.50")}
    assert totals["79"] + totals["131"] == source.untaxed_amount  # to the ERP's cent
    assert next(s for s in msg.segments if s.tag == "CNT").element(1, 2) == "2"


def test_without_allowances_the_invoic_is_unchanged() -> None:
    plain = _invoice().model_copy(update={
        "lines": _invoice().lines[:2], "allowance_charges": (),
        "taxes": (TaxLine(rate=R19, base=Decimal("100.00"), amount=Decimal("19.00")),
                  TaxLine(rate=R7, base=Decimal("50.00"), amount=Decimal("3.50"))),
        "untaxed_amount": Decimal("150.00"), "tax_amount": Decimal("22.50"),
        "total_amount": Decimal("172.50"),
    })  # fmt: skip
    body = inv.invoic(plain, buyer_gln=BUYER, supplier_gln=US, gtin_by_code={})
    assert not [s for s in body if s[0] == "ALC" or (s[0] == "MOA" and s[1][0] == "131")]
