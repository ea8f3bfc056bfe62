"""E-invoices against the official rules: EN 16931 (CEN XSLT), XRechnung CIUS, CII XSD.

Needs ../shared/contracts/einvoicing; skips cleanly without it.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from connectors.einvoice.validator import Report, Validator, rules_dir
from sandbox.einvoice_data import BUYERS, SELLER, customer, make_invoice
from schemas.einvoice_config import FORMATS
from schemas.errors import PermanentError
from schemas.model import Address, Invoice, Party
from tests.fixtures.einvoice import official_rules, official_validator, zero_rated
from transforms.einvoice import render
from transforms.einvoice.document import build


@pytest.fixture
def einvoice_rules() -> Path:
    return official_rules()


@pytest.fixture
def validator() -> Validator:
    return official_validator()


XR = "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"


def _generated(fmt: str, seed: int, credit: bool = False) -> bytes:
    buyer = BUYERS[seed % 2]
    doc = build(
        make_invoice(seed, buyer=buyer, credit_note=credit),
        fmt=fmt,  # type: ignore[arg-type]
        seller=SELLER,
        buyer=buyer,
        customer=customer(buyer, fmt),
    )  # type: ignore[arg-type]
    return render(doc).data


def test_a_delivery_date_leaves_no_warning(validator: Validator) -> None:
    from datetime import date

    buyer = BUYERS[0]
    for fmt in ("xrechnung-ubl", "xrechnung-cii"):
        doc = build(
            make_invoice(9, buyer=buyer),
            fmt=fmt,
            seller=SELLER,
            buyer=buyer,
            customer=customer(buyer, fmt),
            delivery_date=date(2026, 11, 2),
        )
        report = validator.validate(render(doc).data, fmt)
        assert report.valid and report.warnings == [], [f.line() for f in report.findings]


@pytest.mark.parametrize("fmt", ["zugferd-en16931", "peppol-bis"])
def test_a_buyer_with_a_gln_is_identified_once(validator: Validator, fmt: str) -> None:
    buyer = BUYERS[0].model_copy(update={"gln": "4012345000016"})
    doc = build(
        make_invoice(9, buyer=buyer),
        fmt=fmt,
        seller=SELLER,
        buyer=buyer,  # type: ignore[arg-type]
        customer=customer(buyer, fmt),
    )  # type: ignore[arg-type]
    report = validator.validate(render(doc).data, fmt)
    assert report.valid and report.warnings == [], [f.line() for f in report.findings]


def _intra_community(seed: int) -> tuple[Party, Invoice]:
    """A business buyer in Austria and an invoice of zero-rated lines (no VAT charged)."""
    buyer = Party(
        name="Alpenhandel GmbH",
        code="C-AT",
        erp_id="13",
        vat="ATU13585627",
        addresses=(Address(street="Ringstrasse 1", postal_code="1010", city="Wien", country="AT"),),
    )
    return buyer, zero_rated(seed, buyer)


@pytest.mark.parametrize("fmt", FORMATS)
def test_intra_community_supply_is_category_k_with_its_exemption(
    validator: Validator, fmt: str
) -> None:
    buyer, invoice = _intra_community(11)
    entry = customer(buyer, fmt)  # type: ignore[arg-type]
    doc = build(
        invoice,
        fmt=entry.format,
        seller=SELLER,
        buyer=buyer,
        customer=entry,
        delivery_date=date(2026, 11, 3),
    )
    assert (
        {v.tax.category for v in doc.vat} == {"K"}
        and doc.deliver_to is not None
        and doc.deliver_to.country == "AT"
    )
    data = render(doc).xml
    assert b"VATEX-EU-IC" in data
    report = validator.validate(render(doc).data, fmt)
    assert report.valid, _errors(report)
    missing = build(invoice, fmt=entry.format, seller=SELLER, buyer=buyer, customer=entry)
    report = validator.validate(render(missing).data, fmt)
    assert "BR-IC-11" in {f.rule for f in report.errors}  # K needs the delivery date


def test_zero_rate_at_home_stays_category_z() -> None:
    buyer, invoice = _intra_community(12)
    domestic = buyer.model_copy(update={"addresses": BUYERS[0].addresses, "vat": BUYERS[0].vat})
    doc = build(
        invoice,
        fmt="peppol-bis",
        seller=SELLER,
        buyer=domestic,
        customer=customer(domestic, "peppol-bis"),
    )
    assert {v.tax.category for v in doc.vat} == {"Z"} and doc.deliver_to is None


def _errors(report: Report) -> list[str]:
    return [f.line() for f in report.errors]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("seed", [1, 2, 3, 17, 42])
def test_generated_invoices_pass_the_official_rules(
    validator: Validator, fmt: str, seed: int
) -> None:
    report = validator.validate(_generated(fmt, seed), f"{fmt}-{seed}")
    assert report.syntax in ("UBL Invoice", "CII")
    assert report.valid, _errors(report)
    # only advisory findings remain (BR-DE-TMP-32: no delivery date given)
    assert {f.rule for f in report.warnings} <= {"BR-DE-TMP-32"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_generated_credit_notes_pass_the_official_rules(validator: Validator, fmt: str) -> None:
    report = validator.validate(_generated(fmt, 8, credit=True), fmt)
    assert report.valid, _errors(report)


def _official(rules: Path) -> list[Path]:
    suite = rules / "xrechnung-testsuite" / "src" / "test" / "business-cases"
    return sorted(suite.glob("*/*.xml")) + sorted((rules / "en16931").glob("*/examples/*"))


def test_official_positive_instances_validate(validator: Validator, einvoice_rules: Path) -> None:
    files = _official(einvoice_rules)
    assert len(files) > 100
    reports = {f.name: validator.validate(f.read_bytes(), f.name) for f in files}
    failed = {name: _errors(r) for name, r in reports.items() if not r.valid}
    assert failed == {}


def _mutate(data: bytes, pattern: str, repl: str) -> bytes:
    text, count = re.subn(pattern, repl, data.decode(), count=1)
    assert count == 1, pattern
    return text.encode()


@pytest.mark.parametrize(
    ("name", "pattern", "repl", "rule"),
    [
        (
            "wrong total",
            r"(<cbc:TaxInclusiveAmount currencyID=\"EUR\">)[0-9.]+",
            r"\g<1>1.00",
            "BR-CO-15",
        ),
        (
            "missing buyer reference",
            r"<cbc:BuyerReference>[^<]*</cbc:BuyerReference>",
            "",
            "BR-DE-15",
        ),
        ("bad VAT category", r"(<cac:ClassifiedTaxCategory>\s*<cbc:ID>)S<", r"\g<1>X<", "BR-CL-18"),
        ("no payment instructions", r"<cac:PaymentMeans>.*?</cac:PaymentMeans>", "", "BR-DE-1"),
    ],
)
def test_mutated_ubl_fails_with_the_right_rule(
    validator: Validator, name: str, pattern: str, repl: str, rule: str
) -> None:
    data = _generated("xrechnung-ubl", 3)
    flags = re.S if "PaymentMeans" in pattern else 0
    text, count = re.subn(pattern, repl, data.decode(), count=1, flags=flags)
    assert count == 1
    report = validator.validate(text.encode(), name)
    assert not report.valid
    assert rule in {f.rule for f in report.errors}, _errors(report)


@pytest.mark.parametrize(
    ("name", "pattern", "repl", "rule"),
    [
        ("wrong total", r"(<ram:GrandTotalAmount>)[0-9.]+", r"\g<1>1.00", "BR-CO-15"),
        (
            "missing buyer reference",
            r"<ram:BuyerReference>[^<]*</ram:BuyerReference>",
            "",
            "BR-DE-15",
        ),
        ("bad VAT category", r"(<ram:CategoryCode>)S<", r"\g<1>X<", "BR-CL-18"),
        (
            "element out of order",
            r"(<ram:TypeCode>380</ram:TypeCode>)",
            r"\g<1><ram:Bogus/>",
            "XSD",
        ),
    ],
)
def test_mutated_official_cii_fails_with_the_right_rule(
    validator: Validator,
    einvoice_rules: Path,
    name: str,
    pattern: str,
    repl: str,
    rule: str,
) -> None:
    suite = einvoice_rules / "xrechnung-testsuite/src/test/business-cases/standard"
    data = _mutate((suite / "01.01a-INVOICE_uncefact.xml").read_bytes(), pattern, repl)
    report = validator.validate(data, name)
    assert rule in {f.rule for f in report.errors}, _errors(report)
    found = next(f for f in report.errors if f.rule == rule)
    assert found.location and found.text


def test_pdf_is_validated_through_its_embedded_xml(validator: Validator) -> None:
    data = _generated("zugferd-xrechnung", 5)
    report = validator.validate(data, "invoice.pdf")
    assert (report.container, report.syntax, report.specification) == ("pdf", "CII", XR)
    assert report.valid, _errors(report)
    broken = validator.validate(b"%PDF-1.7\n%%EOF\n", "empty.pdf")
    assert not broken.valid and broken.errors[0].rule == "PDF"


def test_locations_are_readable_and_reports_serialise(validator: Validator) -> None:
    no_reference = r"<cbc:BuyerReference>[^<]*</cbc:BuyerReference>"
    data = _mutate(_generated("xrechnung-ubl", 3), no_reference, "")
    report = validator.validate(data, "x.xml")
    assert report.to_json()["verdict"] == "invalid"
    assert report.errors[0].location.startswith("/ubl:Invoice[1]")


def test_missing_rules_name_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HUB_EINVOICE_RULES", raising=False)
    with pytest.raises(PermanentError, match="HUB_EINVOICE_RULES"):
        rules_dir()
    with pytest.raises(PermanentError, match="missing en16931/ubl/xslt"):
        rules_dir(tmp_path)
