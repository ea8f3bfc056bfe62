"""The ZUGFeRD/Factur-X PDF is PDF/A-3b by structure: read with pikepdf (independently of the
hub's own pypdf check) and through ``check_pdfa3``; broken copies fail with their clause.

veraPDF is not available here: these are the clauses a structural reading can prove.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import pikepdf
import pytest
from fpdf import FPDF

from connectors.einvoice.pdfa import check_pdfa3
from sandbox.einvoice_data import BUYERS, SELLER, customer, make_invoice
from transforms.einvoice import Rendered, render
from transforms.einvoice.document import build


def _rendered(fmt: str = "zugferd-en16931", credit: bool = False) -> Rendered:
    buyer = BUYERS[1]  # "Markt Süd AG, München": text beyond ASCII
    invoice = make_invoice(3, buyer=buyer, credit_note=credit)
    entry = customer(buyer, fmt)  # type: ignore[arg-type]
    return render(build(invoice, fmt=entry.format, seller=SELLER, buyer=buyer, customer=entry))


def _changed(data: bytes, change: Callable[[pikepdf.Pdf], None], **save: object) -> bytes:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        change(pdf)
        out = io.BytesIO()
        pdf.save(out, **save)  # type: ignore[arg-type]
        return out.getvalue()


@pytest.mark.parametrize(
    ("fmt", "credit"),
    [("zugferd-en16931", False), ("zugferd-xrechnung", False), ("zugferd-en16931", True)],
)
def test_the_invoice_pdf_is_pdfa3b_by_structure(fmt: str, credit: bool) -> None:
    rendered = _rendered(fmt, credit)
    data = rendered.data
    assert data.startswith(b"%PDF-1.7\n%") and check_pdfa3(data) == []
    with pikepdf.open(io.BytesIO(data)) as pdf:
        assert not pdf.is_encrypted and len(pdf.trailer.ID) == 2
        with pdf.open_metadata() as xmp:
            assert (xmp["pdfaid:part"], xmp["pdfaid:conformance"]) == ("3", "B")
            level = "XRECHNUNG" if fmt == "zugferd-xrechnung" else "EN 16931"
            fx = "{urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#}"
            assert xmp[f"{fx}ConformanceLevel"] == level
        intent = pdf.Root.OutputIntents[0]
        assert intent.S == "/GTS_PDFA1" and intent.DestOutputProfile.N == 3
        assert intent.DestOutputProfile.read_bytes()[36:40] == b"acsp"
        fonts = list(pdf.pages[0].Resources.Font.values())
        assert fonts and all("+BitstreamVeraSans" in str(f.BaseFont) for f in fonts)
        for font in fonts:
            descriptor = font.DescendantFonts[0].FontDescriptor
            assert "/FontFile2" in descriptor and "/ToUnicode" in font
        spec = pdf.Root.AF[0]
        assert spec.AFRelationship == "/Data" and spec.UF == "factur-x.xml"
        assert spec.EF.F.read_bytes() == rendered.xml
        assert "/JavaScript" not in pdf.Root.Names and "/Encrypt" not in pdf.trailer


def test_a_plain_pdf_with_a_core_font_is_not_pdfa() -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica")
    pdf.cell(0, 10, "Invoice")
    rules = {f.rule for f in check_pdfa3(bytes(pdf.output())) if f.severity == "error"}
    assert rules == {"PDFA-6.2.11.4.1", "PDFA-6.2.3", "PDFA-6.6.2.1"}


def _no_intent(pdf: pikepdf.Pdf) -> None:
    del pdf.Root.OutputIntents


def _keywords(pdf: pikepdf.Pdf) -> None:
    pdf.docinfo["/Keywords"] = "invoice"


def _script(pdf: pikepdf.Pdf) -> None:
    pdf.Root.OpenAction = pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS="app.alert(1)")


def _unassociated(pdf: pikepdf.Pdf) -> None:
    del pdf.Root.AF


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        (_no_intent, "PDFA-6.2.3"),
        (_keywords, "PDFA-6.6.2.3.1"),
        (_script, "PDFA-6.6.1"),
        (_unassociated, "PDFA-6.8"),
    ],
)
def test_a_broken_copy_fails_with_its_clause(
    change: Callable[[pikepdf.Pdf], None], rule: str
) -> None:
    broken = _changed(_rendered().data, change)
    assert rule in {f.rule for f in check_pdfa3(broken) if f.severity == "error"}


def test_an_encrypted_copy_is_refused() -> None:
    encrypted = _changed(
        _rendered().data, lambda pdf: None, encryption=pikepdf.Encryption(owner="o", user="")
    )
    assert [f.rule for f in check_pdfa3(encrypted)] == ["PDFA-6.1.3"]


def test_validation_of_a_pdf_includes_the_pdfa_check() -> None:
    from tests.fixtures.einvoice import official_validator

    validator = official_validator()
    good = _rendered().data
    assert validator.validate(good, "good.pdf").valid
    report = validator.validate(_changed(good, _no_intent), "no-intent.pdf")
    assert not report.valid and {f.rule for f in report.errors} == {"PDFA-6.2.3"}
