"""ZUGFeRD / Factur-X: a PDF/A-3b invoice page (fpdf2) with the CII XML embedded (factur-x).

The page is drawn in Bitstream Vera (the TrueType fonts reportlab ships), embedded as
subsets with a ToUnicode map, with an sRGB OutputIntent (GTS_PDFA1, fpdf2's sRGB2014 ICC
profile) and a file identifier; nothing transparent, no scripts, no encryption.
``factur-x`` attaches the XML as ``factur-x.xml`` (AFRelationship "Data") and writes the
PDF/A-3 XMP metadata (pdfaid part 3, conformance B) for the EN 16931 level; it stamps the
current time into that metadata, so the PDF's bytes differ between two builds of the same
invoice. The flow therefore pins the bytes (archive by hash) before sending, like EDI
files, and a resend after a crash sends those pinned bytes, never a rebuild.
"""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime, time
from importlib.resources import files

from fpdf import FPDF
from fpdf.enums import OutputIntentSubType
from fpdf.output import PDFICCProfile

from transforms.einvoice.document import EAllowance, EDocument, EParty, ETax, money, number

# factur-x logs every level detection at INFO: chatter in a CLI or a flow log
logging.getLogger("factur-x").setLevel(logging.WARNING)
_WIDTHS = (10, 78, 18, 14, 24, 12, 26)
FONT = "Vera"
_FONT_FILES = {"": "Vera.ttf", "B": "VeraBd.ttf"}  # each embedded font costs a subset


def _latin1(text: str) -> str:
    """Vera has every Latin-1 glyph: anything else is replaced (PDF/A forbids .notdef)."""
    return text.encode("latin-1", "replace").decode("latin-1")


def _para(pdf: FPDF, height: int, text: str) -> None:
    pdf.multi_cell(0, height, text, new_x="LMARGIN", new_y="NEXT")


def _party_lines(p: EParty) -> list[str]:
    a = p.address
    city = f"{a.postal_code or ''} {a.city or ''}".strip()
    return [p.name, a.street or "", city, a.country, f"VAT {p.vat_id or '-'}"]


def _header(pdf: FPDF, doc: EDocument) -> None:
    pdf.set_font(FONT, "B", 16)
    title = "Credit note" if doc.credit_note else "Invoice"
    pdf.cell(0, 10, _latin1(f"{title} {doc.number}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 9)
    s, b = doc.seller, doc.buyer
    left, right = _party_lines(s), _party_lines(b)
    pdf.cell(95, 5, "From", new_x="RIGHT")
    pdf.cell(95, 5, "To", new_x="LMARGIN", new_y="NEXT")
    for a, c in zip(left, right, strict=True):
        pdf.cell(95, 5, _latin1(a), new_x="RIGHT")
        pdf.cell(95, 5, _latin1(c), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    facts = [
        ("Date", doc.issue_date.isoformat()),
        ("Due", doc.due_date.isoformat() if doc.due_date else "-"),
        ("Buyer reference", doc.buyer_reference or "-"),
        ("Order", doc.order_reference or "-"),
        ("Delivered", doc.delivery_date.isoformat() if doc.delivery_date else "-"),
    ]
    for label, value in facts:
        pdf.cell(40, 5, label, new_x="RIGHT")
        pdf.cell(0, 5, _latin1(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)


def _lines(pdf: FPDF, doc: EDocument) -> None:
    pdf.set_font(FONT, "B", 9)
    labels = ("#", "Item", "Qty", "Unit", "Price", "VAT", "Net")
    for i, (w, label) in enumerate(zip(_WIDTHS, labels, strict=True)):
        pdf.cell(w, 6, label, border="B", align="R" if i >= 2 else "L", new_x="RIGHT")
    pdf.ln()
    pdf.set_font(FONT, "", 9)
    for ln in doc.lines:
        cells = (
            ln.line_id,
            ln.name[:48],
            number(ln.quantity),
            ln.unit_code,
            number(ln.price),
            _rate(ln.tax),
            money(ln.net),
        )
        for i, (w, text) in enumerate(zip(_WIDTHS, cells, strict=True)):
            pdf.cell(w, 5, _latin1(text), align="R" if i >= 2 else "L", new_x="RIGHT")
        pdf.ln()
        for a in ln.allowances:
            pdf.cell(_WIDTHS[0], 4, "", new_x="RIGHT")
            pdf.set_font(FONT, "", 8)
            text = _latin1(_allowance_text(a))
            pdf.cell(sum(_WIDTHS[1:-1]), 4, text, new_x="LMARGIN", new_y="NEXT")
            pdf.set_font(FONT, "", 9)
    for a in doc.allowances:
        sign = "" if a.charge else "-"
        pdf.cell(sum(_WIDTHS[:-1]), 5, _latin1(f"{a.reason} ({_rate(a.tax)} VAT)"), new_x="RIGHT")
        pdf.cell(
            _WIDTHS[-1], 5, f"{sign}{money(a.amount)}", align="R", new_x="LMARGIN", new_y="NEXT"
        )


def _allowance_text(a: EAllowance) -> str:
    """A line's allowance or charge (BG-27, BG-28) as printed under it: the line's price is
    the one before them, its net amount the one after."""
    share = f", {number(a.percent)}% of {money(a.base)}" if a.percent and a.base else ""
    return f"{a.reason}{share}: {'+' if a.charge else '-'}{money(a.amount)}"


def _totals(pdf: FPDF, doc: EDocument) -> None:
    pdf.ln(2)
    rows = [("Net", doc.tax_exclusive)]
    rows += [(f"VAT {_rate(v.tax)} on {money(v.base)}", v.amount) for v in doc.vat]
    rows.append((f"Total {doc.currency}", doc.payable))
    for label, value in rows:
        pdf.cell(sum(_WIDTHS[:-1]), 5, _latin1(label), align="R", new_x="RIGHT")
        pdf.cell(_WIDTHS[-1], 5, money(value), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    for v in doc.vat:  # why no VAT is charged (BT-120, BT-121)
        if v.tax.exemption_reason or v.tax.exemption_code:
            why = " ".join(x for x in (v.tax.exemption_reason, v.tax.exemption_code) if x)
            _para(pdf, 5, _latin1(f"{v.tax.category}: {why}"))
    if doc.payment_terms:
        _para(pdf, 5, _latin1(f"Payment terms: {doc.payment_terms}"))
    if doc.iban:
        _para(pdf, 5, _latin1(f"Pay to IBAN {doc.iban}, reference {doc.number}."))
    pdf.ln(2)
    pdf.set_font(FONT, "", 7)
    _para(
        pdf,
        4,
        "This PDF carries the structured invoice (EN 16931, CII) as factur-x.xml; "
        "the XML is the legally relevant invoice.",
    )


def _rate(tax: ETax) -> str:
    return tax.category if tax.percent is None else f"{number(tax.percent)}%"


def _pdfa_canvas() -> FPDF:
    """An A4 document ready for PDF/A: embedded Vera fonts and the sRGB OutputIntent."""
    pdf = FPDF(format="A4")
    fonts = files("reportlab") / "fonts"
    for style, name in _FONT_FILES.items():
        pdf.add_font(FONT, style, str(fonts / name))
    icc = (files("fpdf") / "data" / "color_profiles" / "sRGB2014.icc").read_bytes()
    pdf.add_output_intent(
        OutputIntentSubType.PDFA,
        output_condition_identifier="sRGB",
        output_condition="sRGB IEC61966-2.1",
        registry_name="http://www.color.org",
        dest_output_profile=PDFICCProfile(contents=icc, n=3, alternate="DeviceRGB"),
        info="sRGB2014 (v2)",
    )
    return pdf


def invoice_pdf(doc: EDocument) -> bytes:
    """A one-page readable rendering of ``doc`` (no XML yet)."""
    pdf = _pdfa_canvas()
    pdf.set_creation_date(datetime.combine(doc.issue_date, time(), tzinfo=UTC))
    pdf.set_title(_latin1(f"{doc.number}"))
    pdf.set_author(_latin1(doc.seller.name))
    pdf.add_page()
    _header(pdf, doc)
    _lines(pdf, doc)
    _totals(pdf, doc)
    return bytes(pdf.output())


def facturx_pdf(doc: EDocument, cii_xml: bytes) -> bytes:
    """The ZUGFeRD/Factur-X PDF/A-3b of ``doc``: the page with ``cii_xml`` embedded."""
    from facturx import generate_from_binary  # type: ignore[import-untyped]

    title = "Credit note" if doc.credit_note else "Invoice"
    result = generate_from_binary(
        invoice_pdf(doc),
        cii_xml,
        flavor="factur-x",
        level="en16931",
        check_xsd=False,  # validated with the official artefacts before anything is sent
        pdf_metadata={
            "author": doc.seller.name,
            "title": f"{doc.seller.name}: {title} {doc.number}",
            "subject": f"{title} {doc.number} dated {doc.issue_date.isoformat()}",
        },
        lang="en-GB",
        xmp_compression=False,
    )
    level = "XRECHNUNG" if doc.fmt == "zugferd-xrechnung" else "EN 16931"
    return _pdfa_trailer(bytes(result), level)


def _pdfa_trailer(data: bytes, level: str) -> bytes:
    """PDF 1.7 header (PDF/A-3 is built on ISO 32000-1), an Info dictionary whose every
    entry has its XMP twin (factur-x writes an empty /Keywords that the XMP lacks) and the
    XMP's Factur-X conformance level ``level`` (factur-x knows no XRECHNUNG level)."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import DictionaryObject, StreamObject

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.pdf_header = b"%PDF-1.7"
    info = writer._info.get_object() if writer._info is not None else None  # noqa: SLF001
    if isinstance(info, DictionaryObject):
        info.pop("/Keywords", None)
    xmp = writer.root_object["/Metadata"].get_object()
    if isinstance(xmp, StreamObject) and level != "EN 16931":
        text = xmp.get_data().replace(
            b"<fx:ConformanceLevel>EN 16931<", f"<fx:ConformanceLevel>{level}<".encode()
        )
        xmp.set_data(text)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
