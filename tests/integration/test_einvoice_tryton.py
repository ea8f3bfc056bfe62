"""E-invoices from a real Tryton invoice: two VAT rates, payment term and due date, amounts
equal to the ERP's to the cent, and valid by the official rules in every format."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from lxml import etree

from connectors.erp.tryton import TrytonErp
from sandbox.einvoice_data import SELLER
from sandbox.erp_seed import customers
from schemas.einvoice_config import FORMATS, CustomerEInvoice
from tests.fixtures.einvoice import invoiced_in_tryton, official_validator
from transforms.einvoice import render
from transforms.einvoice.document import build
from transforms.einvoice.read import summarize

pytestmark = pytest.mark.integration


def test_tryton_invoice_with_two_rates_becomes_valid_einvoices_equal_to_the_erp(
    erp: TrytonErp, erp_operator: object, unique: str
) -> None:
    validator = official_validator()
    seed = customers()[1]
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)
    order, items = invoiced_in_tryton(
        erp, erp_operator, seed.gln, f"PO-{unique}-EI", 2, lambda k: k + 3
    )
    assert len(items) == 4
    (invoice,) = [
        i for i in erp.invoices_posted_since(since) if order.order_number in i.order_numbers
    ]
    assert invoice.payment_terms == "30 days net"
    assert invoice.delivery_date is not None and invoice.delivery_date <= invoice.invoice_date
    names = {p.code: p.name for p in items}
    assert [ln.description for ln in invoice.lines] == [
        names[ln.product_code or ""] for ln in invoice.lines
    ]
    assert invoice.due_date is not None and invoice.due_date >= invoice.invoice_date
    assert {t.rate for t in invoice.taxes} == {Decimal(7), Decimal(19)}
    (row,) = erp_operator.search_read(  # type: ignore[attr-defined]
        "account.invoice",
        [("id", "=", int(invoice.erp_id))],
        ["untaxed_amount", "tax_amount", "total_amount"],
    )
    (buyer,) = erp.get_parties([invoice.customer.erp_id or ""])
    for fmt in FORMATS:
        customer = CustomerEInvoice(
            party=seed.code,
            format=fmt,
            channel="email",  # type: ignore[arg-type]
            email="ap@example.com",
            buyer_reference="04011000-1-23",
        )
        rendered = render(
            build(
                invoice,
                fmt=fmt,
                seller=SELLER,
                buyer=buyer,  # type: ignore[arg-type]
                customer=customer,
            )
        )
        report = validator.validate(rendered.data, rendered.file_name)
        assert report.valid, [f.line() for f in report.errors]
        assert report.warnings == [], [f.line() for f in report.warnings]  # BT-72 is set
        summary = summarize(rendered.xml)
        assert Decimal(summary.totals["net"]) == Decimal(str(row["untaxed_amount"]))
        assert Decimal(summary.totals["vat"]) == Decimal(str(row["tax_amount"]))
        assert Decimal(summary.totals["payable"]) == Decimal(str(row["total_amount"]))
        assert {Decimal(v["rate"]): Decimal(v["amount"]) for v in summary.vat} == {
            t.rate: t.amount for t in invoice.taxes
        }
        assert summary.payment["terms"] == "30 days net"
    root = etree.fromstring(
        render(
            build(
                invoice,
                fmt="xrechnung-ubl",
                seller=SELLER,
                buyer=buyer,
                customer=CustomerEInvoice(
                    party=seed.code,
                    format="xrechnung-ubl",
                    channel="email",
                    email="ap@example.com",
                    buyer_reference="04011000-1-23",
                ),
            )
        ).xml
    )
    ns = {"cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"}
    assert root.findtext("cbc:DueDate", namespaces=ns) == invoice.due_date.isoformat()
