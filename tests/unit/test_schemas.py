"""The canonical model refuses invalid data with the field and the value."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from stdnum import ean

from schemas import Invoice, InvoiceLine, Party, PartyRef, SalesOrder, SalesOrderLine, TaxLine


def _order(**over: object) -> SalesOrder:
    data: dict[str, object] = {
        "order_number": "PO-1",
        "order_date": date(2026, 11, 2),
        "buyer": {"gln": "4012345000009"},
        "currency": "EUR",
        "lines": [{"line_no": 1, "gtin": "4006381333931", "quantity": "3"}],
    }
    data.update(over)
    return SalesOrder.model_validate(data)


def test_valid_order_parses_decimals_exactly() -> None:
    order = _order(
        lines=[{"line_no": 1, "gtin": "4006381333931", "quantity": "2.5", "unit_price": "0.10"}]
    )
    assert order.lines[0].quantity == Decimal("2.5")
    assert order.lines[0].unit_price == Decimal("0.10")


@pytest.mark.parametrize(
    ("override", "field", "needle"),
    [
        ({"buyer": {"gln": "4012345000001"}}, "buyer.gln", "check digit (expected 9)"),
        ({"currency": "EUX"}, "currency", "ISO 4217"),
        (
            {"lines": [{"line_no": 1, "gtin": "4006381333932", "quantity": 1}]},
            "lines.0.gtin",
            "check digit",
        ),
        (
            {"lines": [{"line_no": 1, "gtin": "4006381333931", "quantity": 0}]},
            "lines.0.quantity",
            "greater than 0",
        ),
        ({"lines": []}, "lines", "at least 1"),
        ({"buyer": {"name": "x"}}, "buyer", "needs a gln or an erp_id"),
    ],
)
def test_invalid_order_names_field_and_value(
    override: dict[str, object], field: str, needle: str
) -> None:
    with pytest.raises(ValidationError) as info:
        _order(**override)
    errors = info.value.errors()
    locs = [".".join(str(p) for p in e["loc"]) for e in errors]
    assert field in locs
    assert any(needle in e["msg"] for e in errors)


def test_duplicate_line_numbers_refused() -> None:
    line = {"line_no": 1, "gtin": "4006381333931", "quantity": 1}
    with pytest.raises(ValidationError, match="line_no 1 appears twice"):
        _order(lines=[line, line])


def test_party_vat_and_email_checked() -> None:
    with pytest.raises(ValidationError, match="VAT id"):
        Party(name="ACME", vat="DE136695977")
    with pytest.raises(ValidationError, match="email"):
        Party(name="ACME", contact_mechanisms=[{"type": "email", "value": "not-an-email"}])
    party = Party(
        name="ACME",
        vat="DE 136 695 976",
        contact_mechanisms=[{"type": "email", "value": "Ops@ACME.example"}],
    )
    assert party.vat == "DE136695976"
    assert party.email == "Ops@ACME.example"


def test_invoice_totals_must_add_up_to_the_cent() -> None:
    line = InvoiceLine(
        line_no=1, quantity=Decimal(3), unit_price=Decimal("1.99"), amount=Decimal("5.97")
    )
    tax = TaxLine(rate=Decimal(19), base=Decimal("5.97"), amount=Decimal("1.13"))
    ok = Invoice(
        erp_id="1",
        number="INV1",
        invoice_date=date(2026, 1, 1),
        customer=PartyRef(erp_id="7"),
        currency="EUR",
        lines=[line],
        taxes=[tax],
        untaxed_amount=Decimal("5.97"),
        tax_amount=Decimal("1.13"),
        total_amount=Decimal("7.10"),
    )
    assert ok.total_amount == Decimal("7.10")
    with pytest.raises(ValidationError, match="total_amount"):
        Invoice(**{**ok.model_dump(), "total_amount": Decimal("7.11")})


def test_content_hash_is_stable_and_sensitive() -> None:
    assert _order().content_hash() == _order().content_hash()
    assert _order().content_hash() != _order(order_number="PO-2").content_hash()


@given(st.text(alphabet="0123456789", min_size=12, max_size=12))
def test_any_gtin_with_computed_check_digit_is_accepted(body: str) -> None:
    gtin = body + ean.calc_check_digit(body)
    line = SalesOrderLine(line_no=1, gtin=gtin, quantity=Decimal(1))
    assert line.gtin == gtin
    wrong = body + str((int(ean.calc_check_digit(body)) + 1) % 10)
    with pytest.raises(ValidationError):
        SalesOrderLine(line_no=1, gtin=wrong, quantity=Decimal(1))
