"""VAT categories E, AE, G and O: built from the ERP's zero-rated lines and the customer's
configuration, valid by the official rules (EN 16931, XRechnung) in every format, and a
mutated document fails with the rule that names the fault.

Needs ../shared/contracts/einvoicing; skips cleanly without it.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from connectors.einvoice.validator import Validator
from sandbox.einvoice_data import BUYERS, SELLER, customer, make_invoice
from schemas.einvoice_config import FORMATS, CustomerEInvoice
from schemas.errors import PermanentError
from schemas.model import Address, Invoice, InvoiceLine, Party, TaxLine
from tests.fixtures.einvoice import official_validator, zero_rated
from transforms.einvoice import render
from transforms.einvoice.document import EDocument, build

SWISS = Party(
    name="Zürcher Kaffee AG",
    code="C-CH",
    erp_id="14",
    addresses=(
        Address(street="Bahnhofstrasse 1", postal_code="8001", city="Zürich", country="CH"),
    ),
)
# category -> (customer settings, buyer, the BT-121 code the breakdown must carry)
CASES: dict[str, tuple[dict[str, Any], Party, str]] = {
    "E": (
        {"vat_category": "E", "vat_exemption_code": "VATEX-EU-132-1I"},
        BUYERS[0],
        "VATEX-EU-132-1I",
    ),
    "AE": ({"vat_category": "AE"}, BUYERS[1], "VATEX-EU-AE"),
    "G": ({}, SWISS, "VATEX-EU-G"),  # chosen from the countries: a buyer outside the EU
    "O": ({"vat_category": "O"}, BUYERS[0], "VATEX-EU-O"),
}


@pytest.fixture
def validator() -> Validator:
    return official_validator()


def _entry(buyer: Party, fmt: str, **settings: Any) -> CustomerEInvoice:
    return customer(buyer, fmt).model_copy(update=settings)  # type: ignore[arg-type]


def _doc(category: str, fmt: str, invoice: Invoice | None = None) -> EDocument:
    settings, buyer, _code = CASES[category]
    return build(
        invoice or zero_rated(21, buyer),
        fmt=fmt,  # type: ignore[arg-type]
        seller=SELLER,
        buyer=buyer,
        customer=_entry(buyer, fmt, **settings),
        delivery_date=date(2026, 11, 5),
    )


def _errors(validator: Validator, data: bytes, name: str) -> set[str]:
    return {f.rule for f in validator.validate(data, name).errors}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("category", sorted(CASES))
def test_each_category_validates_in_every_format(
    validator: Validator, category: str, fmt: str
) -> None:
    doc = _doc(category, fmt)
    assert [(v.tax.category, v.amount) for v in doc.vat] == [(category, Decimal(0))]
    assert doc.vat[0].tax.exemption_code == CASES[category][2]
    rendered = render(doc)
    assert CASES[category][2].encode() in rendered.xml
    report = validator.validate(rendered.data, rendered.file_name)
    assert report.valid, [f.line() for f in report.errors]


@pytest.mark.parametrize("fmt", ["xrechnung-ubl", "xrechnung-cii"])
def test_not_subject_to_vat_names_no_vat_id_and_no_rate(fmt: str) -> None:
    doc = _doc("O", fmt)
    assert doc.seller.vat_id is None and doc.buyer.vat_id is None
    xml = render(doc).xml
    assert SELLER.vat_id.encode() not in xml and b"DE811128135" not in xml
    # a rate only in the breakdown (BT-119), none on the lines (BR-O-05)
    assert xml.count(b"Percent>") == 2 and len(doc.lines) > 1


def test_exempt_lines_beside_standard_rated_ones_validate(validator: Validator) -> None:
    """A mixed invoice: S at 7% and 19%, and the gift voucher at 0% exempt (E)."""
    invoice = make_invoice(3)
    voucher = InvoiceLine(
        line_no=len(invoice.lines) + 1,
        product_code="P-GIFT",
        description="Gift voucher",
        quantity=Decimal(2),
        unit_price=Decimal("25.00"),
        amount=Decimal("50.00"),
        tax_rate=Decimal(0),
    )
    invoice = invoice.model_copy(
        update={
            "lines": (*invoice.lines, voucher),
            "untaxed_amount": invoice.untaxed_amount + 50,
            "total_amount": invoice.total_amount + 50,
            "taxes": (
                *invoice.taxes,
                TaxLine(rate=Decimal(0), base=Decimal(50), amount=Decimal(0)),
            ),
        }
    )
    for fmt in ("xrechnung-ubl", "zugferd-en16931"):
        doc = _doc("E", fmt, invoice)
        assert {v.tax.category for v in doc.vat} >= {"S", "E"}
        assert doc.payable == invoice.total_amount
        assert _errors(validator, render(doc).data, fmt) == set()


def _mutate(data: bytes, pattern: str, repl: str) -> bytes:
    text, count = re.subn(pattern, repl, data.decode(), flags=re.S)
    assert count, f"pattern {pattern!r} not found"
    return text.encode()


MUTATIONS = [
    # E without its exemption reason and code (BT-120/121)
    (
        "E",
        "xrechnung-ubl",
        r"<cbc:TaxExemptionReason(Code)?>[^<]*</cbc:TaxExemptionReason\1>",
        "",
        "BR-E-10",
    ),
    # AE without the buyer's VAT id (BT-48)
    (
        "AE",
        "xrechnung-ubl",
        r"(<cac:AccountingCustomerParty>.*?)<cac:PartyTaxScheme>.*?</cac:PartyTaxScheme>",
        r"\1",
        "BR-AE-02",
    ),
    (
        "AE",
        "xrechnung-cii",
        r"<ram:SpecifiedTaxRegistration>\s*<ram:ID schemeID=\"VA\">DE129273398</ram:ID>"
        r"\s*</ram:SpecifiedTaxRegistration>",
        "",
        "BR-AE-02",
    ),
    # G taxed on a line (BT-152 must be 0)
    (
        "G",
        "peppol-bis",
        r"(<cac:ClassifiedTaxCategory>\s*<cbc:ID>G</cbc:ID>\s*<cbc:Percent>)0<",
        r"\g<1>19<",
        "BR-G-05",
    ),
    # O with the seller's VAT id (BT-31)
    (
        "O",
        "xrechnung-cii",
        r"(<ram:SellerTradeParty>.*?)(</ram:SellerTradeParty>)",
        r'\1<ram:SpecifiedTaxRegistration><ram:ID schemeID="VA">DE136695976</ram:ID>'
        r"</ram:SpecifiedTaxRegistration>\2",
        "BR-O-02",
    ),
]


@pytest.mark.parametrize(("category", "fmt", "pattern", "repl", "rule"), MUTATIONS)
def test_mutated_category_fails_with_the_right_rule(
    validator: Validator, category: str, fmt: str, pattern: str, repl: str, rule: str
) -> None:
    data = render(_doc(category, fmt)).data
    assert _errors(validator, data, fmt) == set()
    assert rule in _errors(validator, _mutate(data, pattern, repl), fmt)


def test_reverse_charge_needs_the_buyers_vat_id() -> None:
    buyer = BUYERS[1].model_copy(update={"vat": None})
    entry = _entry(buyer, "xrechnung-ubl", vat_category="AE")
    with pytest.raises(PermanentError, match="reverse charge.*no VAT id.*BT-48"):
        build(
            zero_rated(22, buyer), fmt="xrechnung-ubl", seller=SELLER, buyer=buyer, customer=entry
        )


def test_config_requires_a_reason_for_exempt_and_a_category_for_a_reason() -> None:
    base = {"party": "C-KN", "format": "peppol-bis", "channel": "email", "email": "a@b.example"}
    with pytest.raises(ValidationError, match="needs vat_exemption_code"):
        CustomerEInvoice.model_validate({**base, "vat_category": "E"})
    with pytest.raises(ValidationError, match="needs vat_category"):
        CustomerEInvoice.model_validate({**base, "vat_exemption_reason": "Exempt, §4 UStG"})
    with pytest.raises(ValidationError, match="vat_exemption_code"):
        CustomerEInvoice.model_validate(
            {**base, "vat_category": "E", "vat_exemption_code": "EXEMPT"}
        )
