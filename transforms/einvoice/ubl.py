"""UBL 2.1 Invoice / CreditNote for XRechnung 3.0 and PEPPOL BIS Billing 3.0 (pure)."""

from __future__ import annotations

from decimal import Decimal
from typing import TypeAlias

from lxml import etree

from transforms.einvoice.document import (
    PEPPOL_PROFILE,
    Address,
    EAllowance,
    EDocument,
    ELine,
    EParty,
    ETax,
    money,
    number,
)

INVOICE_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
CREDIT_NS = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"

El: TypeAlias = etree._Element


def _cac(parent: El, tag: str) -> El:
    return etree.SubElement(parent, f"{{{CAC}}}{tag}")


def _cbc(parent: El, tag: str, text: str | None, **attrs: str) -> El | None:
    if text is None or text == "":
        return None
    el = etree.SubElement(parent, f"{{{CBC}}}{tag}", attrs)
    el.text = text
    return el


def _amount(parent: El, tag: str, value: Decimal, currency: str) -> None:
    _cbc(parent, tag, money(value), currencyID=currency)


def _tax_category(parent: El, tag: str, tax: ETax, *, exemption: bool = False) -> None:
    """A VAT category; the exemption (BT-120/121) only in the breakdown (BG-23)."""
    cat = _cac(parent, tag)
    _cbc(cat, "ID", tax.category)
    percent = tax.rate if exemption else tax.percent  # XRechnung wants BT-119 even for O
    if percent is not None:
        _cbc(cat, "Percent", number(percent))
    if exemption:
        _cbc(cat, "TaxExemptionReasonCode", tax.exemption_code)
        _cbc(cat, "TaxExemptionReason", tax.exemption_reason)
    _cbc(_cac(cat, "TaxScheme"), "ID", "VAT")


def _address(el: El, address: Address) -> None:
    """A postal address (BG-5, BG-8, BG-15) in UBL's order."""
    _cbc(el, "StreetName", address.street)
    _cbc(el, "CityName", address.city)
    _cbc(el, "PostalZone", address.postal_code)
    _cbc(_cac(el, "Country"), "IdentificationCode", address.country)


def _endpoint(party: EParty, peppol: bool) -> tuple[str, str] | None:
    """The electronic address and its EAS scheme: a GLN (0088) for PEPPOL, else e-mail (EM)."""
    if peppol and party.gln:
        return party.gln, "0088"
    if party.electronic_address:
        return party.electronic_address, "EM"
    if party.gln:
        return party.gln, "0088"
    return None


def _party(parent: El, tag: str, party: EParty, *, seller: bool, peppol: bool) -> None:
    p = _cac(_cac(parent, tag), "Party")
    endpoint = _endpoint(party, peppol)
    if endpoint is not None:
        _cbc(p, "EndpointID", endpoint[0], schemeID=endpoint[1])
    if party.gln:
        _cbc(_cac(p, "PartyIdentification"), "ID", party.gln, schemeID="0088")
    elif party.identifier and not seller:
        _cbc(_cac(p, "PartyIdentification"), "ID", party.identifier)
    _cbc(_cac(p, "PartyName"), "Name", party.name)
    _address(_cac(p, "PostalAddress"), party.address)
    if party.vat_id:
        tax = _cac(p, "PartyTaxScheme")
        _cbc(tax, "CompanyID", party.vat_id)
        _cbc(_cac(tax, "TaxScheme"), "ID", "VAT")
    legal = _cac(p, "PartyLegalEntity")
    _cbc(legal, "RegistrationName", party.name)
    _cbc(legal, "CompanyID", party.legal_registration)
    if party.contact_name or party.contact_phone or party.contact_email:
        contact = _cac(p, "Contact")
        _cbc(contact, "Name", party.contact_name)
        _cbc(contact, "Telephone", party.contact_phone)
        _cbc(contact, "ElectronicMail", party.contact_email)


def _payment(root: El, doc: EDocument) -> None:
    means = _cac(root, "PaymentMeans")
    _cbc(means, "PaymentMeansCode", "58" if doc.iban else "1")
    if doc.credit_note and doc.due_date:
        _cbc(means, "PaymentDueDate", doc.due_date.isoformat())
    _cbc(means, "PaymentID", doc.number)
    if doc.iban:
        account = _cac(means, "PayeeFinancialAccount")
        for tag, text in (("ID", doc.iban), ("Name", doc.seller.name)):
            _cbc(account, tag, text)
        if doc.bic:
            _cbc(_cac(account, "FinancialInstitutionBranch"), "ID", doc.bic)
    if doc.payment_terms:
        _cbc(_cac(root, "PaymentTerms"), "Note", doc.payment_terms)


def _allowance(parent: El, a: EAllowance, currency: str) -> El:
    """An allowance or charge in UBL's order; a line's (BG-27, BG-28) has no TaxCategory
    (UBL-CR-558), the caller adds a document-level one's."""
    el = _cac(parent, "AllowanceCharge")
    _cbc(el, "ChargeIndicator", "true" if a.charge else "false")
    _cbc(el, "AllowanceChargeReasonCode", a.reason_code)
    _cbc(el, "AllowanceChargeReason", a.reason)
    if a.percent is not None:
        _cbc(el, "MultiplierFactorNumeric", number(a.percent))
    _amount(el, "Amount", a.amount, currency)
    if a.base is not None:
        _amount(el, "BaseAmount", a.base, currency)
    return el


def _totals(root: El, doc: EDocument) -> None:
    cur = doc.currency
    tax_total = _cac(root, "TaxTotal")
    _amount(tax_total, "TaxAmount", doc.tax_total, cur)
    for v in doc.vat:
        sub = _cac(tax_total, "TaxSubtotal")
        _amount(sub, "TaxableAmount", v.base, cur)
        _amount(sub, "TaxAmount", v.amount, cur)
        _tax_category(sub, "TaxCategory", v.tax, exemption=True)
    legal = _cac(root, "LegalMonetaryTotal")
    _amount(legal, "LineExtensionAmount", doc.line_total, cur)
    _amount(legal, "TaxExclusiveAmount", doc.tax_exclusive, cur)
    _amount(legal, "TaxInclusiveAmount", doc.tax_inclusive, cur)
    if doc.allowance_total:
        _amount(legal, "AllowanceTotalAmount", doc.allowance_total, cur)
    if doc.charge_total:
        _amount(legal, "ChargeTotalAmount", doc.charge_total, cur)
    _amount(legal, "PayableAmount", doc.payable, cur)


def _line(root: El, ln: ELine, doc: EDocument) -> None:
    tag, qty_tag = (
        ("CreditNoteLine", "CreditedQuantity")
        if doc.credit_note
        else ("InvoiceLine", "InvoicedQuantity")
    )
    el = _cac(root, tag)
    _cbc(el, "ID", ln.line_id)
    _cbc(el, qty_tag, number(ln.quantity), unitCode=ln.unit_code)
    _amount(el, "LineExtensionAmount", ln.net, doc.currency)
    for a in ln.allowances:  # after the amount, before the item (UBL 2.1 InvoiceLine)
        _allowance(el, a, doc.currency)
    item = _cac(el, "Item")
    _cbc(item, "Name", ln.name)
    if ln.seller_item:
        _cbc(_cac(item, "SellersItemIdentification"), "ID", ln.seller_item)
    if ln.gtin:
        _cbc(_cac(item, "StandardItemIdentification"), "ID", ln.gtin, schemeID="0160")
    _tax_category(item, "ClassifiedTaxCategory", ln.tax)
    _cbc(_cac(el, "Price"), "PriceAmount", number(ln.price), currencyID=doc.currency)


def ubl(doc: EDocument) -> bytes:
    """The UBL 2.1 Invoice (or CreditNote) of ``doc``, UTF-8 with an XML declaration."""
    ns = CREDIT_NS if doc.credit_note else INVOICE_NS
    root_tag = "CreditNote" if doc.credit_note else "Invoice"
    root = etree.Element(f"{{{ns}}}{root_tag}", nsmap={None: ns, "cac": CAC, "cbc": CBC})
    _cbc(root, "CustomizationID", doc.customization)
    _cbc(root, "ProfileID", PEPPOL_PROFILE)
    _cbc(root, "ID", doc.number)
    _cbc(root, "IssueDate", doc.issue_date.isoformat())
    if not doc.credit_note and doc.due_date:
        _cbc(root, "DueDate", doc.due_date.isoformat())
    _cbc(root, "CreditNoteTypeCode" if doc.credit_note else "InvoiceTypeCode", doc.type_code)
    _cbc(root, "DocumentCurrencyCode", doc.currency)
    _cbc(root, "BuyerReference", doc.buyer_reference)
    if doc.order_reference:
        _cbc(_cac(root, "OrderReference"), "ID", doc.order_reference)
    peppol = doc.fmt == "peppol-bis"
    _party(root, "AccountingSupplierParty", doc.seller, seller=True, peppol=peppol)
    _party(root, "AccountingCustomerParty", doc.buyer, seller=False, peppol=peppol)
    if doc.delivery_date or doc.deliver_to:
        delivery = _cac(root, "Delivery")
        if doc.delivery_date:
            _cbc(delivery, "ActualDeliveryDate", doc.delivery_date.isoformat())
        if doc.deliver_to:
            _address(_cac(_cac(delivery, "DeliveryLocation"), "Address"), doc.deliver_to)
    _payment(root, doc)
    for a in doc.allowances:
        _tax_category(_allowance(root, a, doc.currency), "TaxCategory", a.tax)
    _totals(root, doc)
    for ln in doc.lines:
        _line(root, ln, doc)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
