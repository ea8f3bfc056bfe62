"""E-invoice serializers (pure): amounts equal to the ERP's to the cent in every format."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from pydantic import ValidationError

from sandbox.einvoice_data import BUYERS, SELLER, customer, make_invoice
from schemas.einvoice_config import FORMATS, CustomerEInvoice, EInvoiceConfig
from schemas.errors import PermanentError
from schemas.model import Invoice
from transforms.einvoice import render
from transforms.einvoice.cii import cii
from transforms.einvoice.document import build
from transforms.einvoice.ubl import ubl

NS = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
}


def _doc(invoice: Invoice, fmt: str = "xrechnung-ubl"):  # type: ignore[no-untyped-def]
    return build(
        invoice,
        fmt=fmt,
        seller=SELLER,
        buyer=BUYERS[0],  # type: ignore[arg-type]
        customer=customer(BUYERS[0], fmt),
    )  # type: ignore[arg-type]


def _d(root: etree._Element, path: str) -> Decimal:
    return Decimal(root.xpath(f"string({path})", namespaces=NS))


def test_ubl_totals_are_the_erps_with_two_rates_allowance_and_charge() -> None:
    invoice = make_invoice(3)
    assert {t.rate for t in invoice.taxes} >= {Decimal(7), Decimal(19)}
    assert invoice.allowance_charges, "seed 3 has a discount and a freight charge"
    root = etree.fromstring(ubl(_doc(invoice)))
    total = "/*/cac:LegalMonetaryTotal"
    assert _d(root, f"{total}/cbc:TaxExclusiveAmount") == invoice.untaxed_amount
    assert _d(root, f"{total}/cbc:PayableAmount") == invoice.total_amount
    assert _d(root, "/*/cac:TaxTotal/cbc:TaxAmount") == invoice.tax_amount
    by_rate = {
        Decimal(s.findtext("cac:TaxCategory/cbc:Percent", namespaces=NS)): Decimal(
            s.findtext("cbc:TaxAmount", namespaces=NS)
        )
        for s in root.iterfind("cac:TaxTotal/cac:TaxSubtotal", NS)
    }
    assert by_rate == {t.rate: t.amount for t in invoice.taxes}
    assert root.findtext("cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID", namespaces=NS) == (
        SELLER.iban
    )
    assert root.findtext("cbc:DueDate", namespaces=NS) == invoice.due_date.isoformat()  # type: ignore[union-attr]
    assert root.findtext("cac:PaymentTerms/cbc:Note", namespaces=NS) == "30 days net"


def test_cii_totals_are_the_erps() -> None:
    invoice = make_invoice(3)
    root = etree.fromstring(cii(_doc(invoice, "xrechnung-cii")))
    s = "//ram:SpecifiedTradeSettlementHeaderMonetarySummation"
    assert _d(root, f"{s}/ram:TaxBasisTotalAmount") == invoice.untaxed_amount
    assert _d(root, f"{s}/ram:TaxTotalAmount") == invoice.tax_amount
    assert _d(root, f"{s}/ram:DuePayableAmount") == invoice.total_amount


def test_credit_note_is_positive_with_its_own_type() -> None:
    invoice = make_invoice(4, credit_note=True)
    assert invoice.total_amount < 0
    doc = _doc(invoice)
    assert doc.credit_note and doc.type_code == "381" and doc.payable == -invoice.total_amount
    root = etree.fromstring(ubl(doc))
    assert etree.QName(root).localname == "CreditNote"
    assert root.findall("cac:CreditNoteLine", NS) and not root.findall("cac:InvoiceLine", NS)
    assert all(Decimal(q.text) > 0 for q in root.iterfind(".//cbc:CreditedQuantity", NS))


def test_negative_erp_line_becomes_a_document_allowance() -> None:
    base = make_invoice(5, allowances=False, lines=2)
    discount = base.lines[0].model_copy(
        update={
            "line_no": 3,
            "quantity": Decimal(1),
            "unit_price": Decimal("-2.00"),
            "amount": Decimal("-2.00"),
            "description": "Promotion",
        }
    )
    rate = discount.tax_rate or Decimal(0)
    taxes = tuple(
        t.model_copy(
            update={
                "base": t.base - 2,
                "amount": ((t.base - 2) * t.rate / 100).quantize(Decimal("0.01")),
            }
        )
        if t.rate == rate
        else t
        for t in base.taxes
    )
    tax = sum((t.amount for t in taxes), Decimal(0))
    invoice = base.model_copy(
        update={
            "lines": (*base.lines, discount),
            "taxes": taxes,
            "untaxed_amount": base.untaxed_amount - 2,
            "tax_amount": tax,
            "total_amount": base.untaxed_amount - 2 + tax,
        }
    )
    doc = _doc(invoice)
    assert [ln.line_id for ln in doc.lines] == ["1", "2"]
    assert [(a.charge, a.amount, a.reason) for a in doc.allowances] == [
        (False, Decimal("2.00"), "Promotion")
    ]
    assert doc.tax_exclusive == invoice.untaxed_amount


def test_totals_that_differ_from_the_erp_are_refused() -> None:
    invoice = make_invoice(6)
    wrong = invoice.model_copy(
        update={
            "taxes": tuple(
                t.model_copy(update={"amount": t.amount + Decimal("0.01")}) for t in invoice.taxes
            )
        }
    )
    with pytest.raises(PermanentError, match="differ from the ERP"):
        _doc(wrong)


def test_buyer_without_country_is_a_permanent_error_naming_the_party() -> None:
    buyer = BUYERS[0].model_copy(update={"addresses": ()})
    with pytest.raises(PermanentError, match="Kaufhaus Nord GmbH.*BT-55"):
        build(
            make_invoice(1),
            fmt="peppol-bis",
            seller=SELLER,
            buyer=buyer,
            customer=customer(BUYERS[0], "peppol-bis"),
        )


def test_config_rejects_incomplete_customers() -> None:
    with pytest.raises(ValidationError, match="buyer_reference"):
        CustomerEInvoice(party="C1", format="xrechnung-ubl", channel="email", email="a@b.example")
    with pytest.raises(ValidationError, match="needs 'partner'"):
        CustomerEInvoice(party="C1", format="peppol-bis", channel="outbox")
    with pytest.raises(ValidationError, match="IBAN"):
        SELLER.model_validate({**SELLER.model_dump(), "iban": "DE00120300000000202051"})
    with pytest.raises(ValidationError, match="listed twice"):
        EInvoiceConfig(seller=SELLER, customers=(customer(BUYERS[0], "peppol-bis"),) * 2)


def test_facturx_pdf_embeds_the_cii_xml() -> None:
    from facturx import get_xml_from_pdf

    rendered = render(_doc(make_invoice(7), "zugferd-en16931"))
    assert rendered.data.startswith(b"%PDF") and rendered.file_name.endswith(".pdf")
    name, xml = get_xml_from_pdf(rendered.data, check_xsd=False)
    assert name == "factur-x.xml" and xml == rendered.xml


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    credit=st.booleans(),
    fmt=st.sampled_from(["xrechnung-ubl", "peppol-bis", "xrechnung-cii"]),
)
def test_any_invoice_serializes_to_the_erps_amounts(seed: int, credit: bool, fmt: str) -> None:
    invoice = make_invoice(seed, credit_note=credit)
    doc = _doc(invoice, fmt)
    sign = -1 if credit else 1
    data = cii(doc) if fmt == "xrechnung-cii" else ubl(doc)
    root = etree.fromstring(data)
    if fmt == "xrechnung-cii":
        lines = root.xpath(
            "//ram:IncludedSupplyChainTradeLineItem//ram:LineTotalAmount/text()", namespaces=NS
        )
        payable = _d(root, "//ram:DuePayableAmount")
    else:
        lines = root.xpath(
            "/*/cac:*[self::cac:InvoiceLine or self::cac:CreditNoteLine]"
            "/cbc:LineExtensionAmount/text()",
            namespaces=NS,
        )
        payable = _d(root, "/*/cac:LegalMonetaryTotal/cbc:PayableAmount")
    assert sum(Decimal(x) for x in lines) == doc.line_total
    assert payable == invoice.total_amount * sign


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), credit=st.booleans(), fmt=st.sampled_from(FORMATS))
def test_reading_back_any_einvoice_gives_the_erps_figures(
    seed: int, credit: bool, fmt: str
) -> None:
    from transforms.einvoice.read import summarize

    invoice = make_invoice(seed, credit_note=credit)
    rendered = render(_doc(invoice, fmt))
    summary = summarize(rendered.xml)
    sign = -1 if credit else 1
    assert summary.number == invoice.number
    assert summary.type_code == ("381" if credit else "380")
    assert Decimal(summary.totals["net"]) == invoice.untaxed_amount * sign
    assert Decimal(summary.totals["vat"]) == invoice.tax_amount * sign
    assert Decimal(summary.totals["payable"]) == invoice.total_amount * sign
    assert {Decimal(v["rate"]): Decimal(v["amount"]) for v in summary.vat} == {
        t.rate: t.amount * sign for t in invoice.taxes
    }
    assert len(summary.lines) == len(invoice.lines)
    assert len(summary.allowances) == len(invoice.allowance_charges)
