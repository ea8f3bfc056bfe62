"""E-invoices from the canonical Invoice: XRechnung (UBL, CII), PEPPOL BIS 3.0, Factur-X PDF."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.einvoice_config import EInvoiceFormat
from transforms.einvoice.document import EDocument


@dataclass(frozen=True)
class Rendered:
    """A built e-invoice: its bytes, file name and media type."""

    data: bytes
    file_name: str
    media_type: str
    xml: bytes  # the XML itself (inside the PDF for Factur-X)


def extension(fmt: EInvoiceFormat) -> tuple[str, str]:
    """File suffix and media type of a format."""
    return (".pdf", "application/pdf") if fmt.startswith("zugferd") else (".xml", "application/xml")


def render(doc: EDocument) -> Rendered:
    """The bytes of ``doc`` in its format."""
    from transforms.einvoice.cii import cii
    from transforms.einvoice.pdf import facturx_pdf
    from transforms.einvoice.ubl import ubl

    suffix, media = extension(doc.fmt)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in doc.number)
    name = f"{'CreditNote' if doc.credit_note else 'Invoice'}_{safe}_{doc.fmt}{suffix}"
    if doc.fmt in ("xrechnung-ubl", "peppol-bis"):
        xml = ubl(doc)
        return Rendered(xml, name, media, xml)
    xml = cii(doc)
    if doc.fmt == "xrechnung-cii":
        return Rendered(xml, name, media, xml)
    return Rendered(facturx_pdf(doc, xml), name, media, xml)
