"""UN/CEFACT Cross Industry Invoice D16B for XRechnung 3.0 and Factur-X/ZUGFeRD EN 16931 (pure).

Elements are written in the order of the D16B schema (the CII XSD checks sequence).
"""

from __future__ import annotations

from datetime import date
from typing import TypeAlias

from lxml import etree

from transforms.einvoice import document as model
from transforms.einvoice.document import PEPPOL_PROFILE, EDocument, money, number

RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"

El: TypeAlias = etree._Element


def _el(parent: El, ns: str, tag: str, text: str | None = None, **attrs: str) -> El:
    el = etree.SubElement(parent, f"{{{ns}}}{tag}", attrs)
    if text is not None:
        el.text = text
    return el


def _ram(parent: El, tag: str, text: str | None = None, **attrs: str) -> El:
    return _el(parent, RAM, tag, text, **attrs)


def _opt(parent: El, tag: str, text: str | None, **attrs: str) -> None:
    if text:
        _ram(parent, tag, text, **attrs)


def _date(parent: El, tag: str, value: date) -> None:
    _el(_ram(parent, tag), UDT, "DateTimeString", value.strftime("%Y%m%d"), format="102")


def _tax(parent: El, tax: model.ETax, tag: str = "ApplicableTradeTax") -> None:
    el = _ram(parent, tag)
    _ram(el, "TypeCode", "VAT")
    _ram(el, "CategoryCode", tax.category)
    if tax.percent is not None:  # none on a line or allowance not subject to VAT (O)
        _ram(el, "RateApplicablePercent", number(tax.percent))


def _line(parent: El, ln: model.ELine) -> None:
    item = _ram(parent, "IncludedSupplyChainTradeLineItem")
    _ram(_ram(item, "AssociatedDocumentLineDocument"), "LineID", ln.line_id)
    product = _ram(item, "SpecifiedTradeProduct")
    if ln.gtin:
        _ram(product, "GlobalID", ln.gtin, schemeID="0160")
    _opt(product, "SellerAssignedID", ln.seller_item)
    _ram(product, "Name", ln.name)
    agreement = _ram(item, "SpecifiedLineTradeAgreement")
    _ram(_ram(agreement, "NetPriceProductTradePrice"), "ChargeAmount", number(ln.price))
    delivery = _ram(item, "SpecifiedLineTradeDelivery")
    _ram(delivery, "BilledQuantity", number(ln.quantity), unitCode=ln.unit_code)
    settlement = _ram(item, "SpecifiedLineTradeSettlement")
    _tax(settlement, ln.tax)
    for a in ln.allowances:  # before the line summation (D16B LineTradeSettlement)
        _allowance(settlement, a)
    summation = _ram(settlement, "SpecifiedTradeSettlementLineMonetarySummation")
    _ram(summation, "LineTotalAmount", money(ln.net))


def _postal(el: El, address: model.Address) -> None:
    """A postal address (BG-5, BG-8, BG-15) in the D16B order."""
    _opt(el, "PostcodeCode", address.postal_code)
    _opt(el, "LineOne", address.street)
    _opt(el, "CityName", address.city)
    _ram(el, "CountryID", address.country)


def _party(parent: El, tag: str, party: model.EParty, *, seller: bool) -> None:
    p = _ram(parent, tag)
    if not seller and party.identifier and not party.gln:  # one buyer id (CII-SR-450)
        _ram(p, "ID", party.identifier)
    if party.gln:
        _ram(p, "GlobalID", party.gln, schemeID="0088")
    _ram(p, "Name", party.name)
    if party.legal_registration:
        _ram(_ram(p, "SpecifiedLegalOrganization"), "ID", party.legal_registration)
    if party.contact_name or party.contact_phone or party.contact_email:
        contact = _ram(p, "DefinedTradeContact")
        _opt(contact, "PersonName", party.contact_name)
        if party.contact_phone:
            _ram(
                _ram(contact, "TelephoneUniversalCommunication"),
                "CompleteNumber",
                party.contact_phone,
            )
        if party.contact_email:
            _ram(_ram(contact, "EmailURIUniversalCommunication"), "URIID", party.contact_email)
    _postal(_ram(p, "PostalTradeAddress"), party.address)
    if party.electronic_address:
        uri = _ram(p, "URIUniversalCommunication")
        _ram(uri, "URIID", party.electronic_address, schemeID="EM")
    if party.vat_id:
        _ram(_ram(p, "SpecifiedTaxRegistration"), "ID", party.vat_id, schemeID="VA")


def _agreement(parent: El, doc: EDocument) -> None:
    agreement = _ram(parent, "ApplicableHeaderTradeAgreement")
    _opt(agreement, "BuyerReference", doc.buyer_reference)
    _party(agreement, "SellerTradeParty", doc.seller, seller=True)
    _party(agreement, "BuyerTradeParty", doc.buyer, seller=False)
    if doc.order_reference:
        order = _ram(agreement, "BuyerOrderReferencedDocument")
        _ram(order, "IssuerAssignedID", doc.order_reference)


def _allowance(parent: El, a: model.EAllowance) -> El:
    """An allowance or charge in the D16B order; a line's (BG-27, BG-28) has no VAT of its
    own, the caller adds a document-level one's (CategoryTradeTax)."""
    el = _ram(parent, "SpecifiedTradeAllowanceCharge")
    _el(_ram(el, "ChargeIndicator"), UDT, "Indicator", "true" if a.charge else "false")
    if a.percent is not None:
        _ram(el, "CalculationPercent", number(a.percent))
    if a.base is not None:
        _ram(el, "BasisAmount", money(a.base))
    _ram(el, "ActualAmount", money(a.amount))
    _opt(el, "ReasonCode", a.reason_code)
    _opt(el, "Reason", a.reason)
    return el


def _settlement(parent: El, doc: EDocument) -> None:
    s = _ram(parent, "ApplicableHeaderTradeSettlement")
    _ram(s, "PaymentReference", doc.number)
    _ram(s, "InvoiceCurrencyCode", doc.currency)
    means = _ram(s, "SpecifiedTradeSettlementPaymentMeans")
    _ram(means, "TypeCode", "58" if doc.iban else "1")
    if doc.iban:
        account = _ram(means, "PayeePartyCreditorFinancialAccount")
        _ram(account, "IBANID", doc.iban)
        _ram(account, "AccountName", doc.seller.name)
        if doc.bic:
            _ram(_ram(means, "PayeeSpecifiedCreditorFinancialInstitution"), "BICID", doc.bic)
    for v in doc.vat:
        tax = _ram(s, "ApplicableTradeTax")
        _ram(tax, "CalculatedAmount", money(v.amount))
        _ram(tax, "TypeCode", "VAT")
        _opt(tax, "ExemptionReason", v.tax.exemption_reason)
        _ram(tax, "BasisAmount", money(v.base))
        _ram(tax, "CategoryCode", v.tax.category)
        _opt(tax, "ExemptionReasonCode", v.tax.exemption_code)
        _ram(tax, "RateApplicablePercent", number(v.tax.rate))  # BT-119, even for O (BR-DE-14)
    for a in doc.allowances:
        _tax(_allowance(s, a), a.tax, tag="CategoryTradeTax")
    if doc.payment_terms or doc.due_date:
        terms = _ram(s, "SpecifiedTradePaymentTerms")
        _opt(terms, "Description", doc.payment_terms)
        if doc.due_date:
            _date(terms, "DueDateDateTime", doc.due_date)
    total = _ram(s, "SpecifiedTradeSettlementHeaderMonetarySummation")
    _ram(total, "LineTotalAmount", money(doc.line_total))
    if doc.charge_total:
        _ram(total, "ChargeTotalAmount", money(doc.charge_total))
    if doc.allowance_total:
        _ram(total, "AllowanceTotalAmount", money(doc.allowance_total))
    _ram(total, "TaxBasisTotalAmount", money(doc.tax_exclusive))
    _ram(total, "TaxTotalAmount", money(doc.tax_total), currencyID=doc.currency)
    _ram(total, "GrandTotalAmount", money(doc.tax_inclusive))
    _ram(total, "DuePayableAmount", money(doc.payable))


def cii(doc: EDocument) -> bytes:
    """The CrossIndustryInvoice of ``doc``, UTF-8 with an XML declaration."""
    root = etree.Element(
        f"{{{RSM}}}CrossIndustryInvoice",
        nsmap={"rsm": RSM, "ram": RAM, "udt": UDT, "qdt": QDT},
    )
    context = _el(root, RSM, "ExchangedDocumentContext")
    if doc.fmt != "zugferd-en16931":
        process = _ram(context, "BusinessProcessSpecifiedDocumentContextParameter")
        _ram(process, "ID", PEPPOL_PROFILE)
    _ram(_ram(context, "GuidelineSpecifiedDocumentContextParameter"), "ID", doc.customization)
    header = _el(root, RSM, "ExchangedDocument")
    _ram(header, "ID", doc.number)
    _ram(header, "TypeCode", doc.type_code)
    _date(header, "IssueDateTime", doc.issue_date)
    transaction = _el(root, RSM, "SupplyChainTradeTransaction")
    for ln in doc.lines:
        _line(transaction, ln)
    _agreement(transaction, doc)
    delivery = _ram(transaction, "ApplicableHeaderTradeDelivery")
    if doc.deliver_to:
        _postal(_ram(_ram(delivery, "ShipToTradeParty"), "PostalTradeAddress"), doc.deliver_to)
    if doc.delivery_date:
        event = _ram(delivery, "ActualDeliverySupplyChainEvent")
        _date(event, "OccurrenceDateTime", doc.delivery_date)
    _settlement(transaction, doc)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
