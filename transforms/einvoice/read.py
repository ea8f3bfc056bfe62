"""Read an e-invoice (UBL or CII XML) back into a summary a support person can check (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, TypeAlias

from lxml import etree

NS = {
    "ubl": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "cn": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}
El: TypeAlias = etree._Element
Rows: TypeAlias = list[dict[str, str]]
_LINE = "ram:IncludedSupplyChainTradeLineItem"
_LINE_SETTLEMENT = "ram:SpecifiedLineTradeSettlement"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


@dataclass
class PartySummary:
    name: str
    vat_id: str
    address: str
    electronic_address: str


@dataclass
class Summary:
    """Parties, lines, totals and VAT breakdown of one e-invoice, as text from the file."""

    syntax: str
    specification: str
    number: str
    type_code: str
    issue_date: str
    due_date: str
    currency: str
    buyer_reference: str
    seller: PartySummary
    buyer: PartySummary
    lines: list[dict[str, str]] = field(default_factory=list)
    line_allowances: list[dict[str, str]] = field(default_factory=list)  # BG-27, BG-28
    allowances: list[dict[str, str]] = field(default_factory=list)
    vat: list[dict[str, str]] = field(default_factory=list)
    totals: dict[str, str] = field(default_factory=dict)
    payment: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _iso(text: str) -> str:
    """A CII date (format 102, ``20261130``) as ``2026-11-30``."""
    return f"{text[:4]}-{text[4:6]}-{text[6:]}" if len(text) == 8 and text.isdigit() else text


def _t(node: El, path: str) -> str:
    return " ".join(str(node.xpath(f"string({path})", namespaces=NS)).split())


def _address(root: El, at: str, parts: tuple[str, str, str, str]) -> str:
    """ "street, postcode city, country" from the four paths below ``at``."""
    street, postcode, city, country = (_t(root, f"{at}/{part}") for part in parts)
    return ", ".join(x for x in (street, f"{postcode} {city}".strip(), country) if x)


def _ubl_party(root: El, role: str) -> PartySummary:
    p = f"cac:{role}/cac:Party"
    parts = (
        "cbc:StreetName",
        "cbc:PostalZone",
        "cbc:CityName",
        "cac:Country/cbc:IdentificationCode",
    )
    address = _address(root, f"{p}/cac:PostalAddress", parts)
    name = _t(root, f"{p}/cac:PartyLegalEntity/cbc:RegistrationName") or _t(
        root, f"{p}/cac:PartyName/cbc:Name"
    )
    return PartySummary(
        name,
        _t(root, f"{p}/cac:PartyTaxScheme/cbc:CompanyID"),
        address,
        _t(root, f"{p}/cbc:EndpointID"),
    )


_CHARGE_KEYS = ("kind", "code", "reason", "percent", "base", "amount")
# where each of _CHARGE_KEYS stands in an allowance or charge, in UBL and in CII
_UBL_CHARGE = (
    "cbc:ChargeIndicator",
    "cbc:AllowanceChargeReasonCode",
    "cbc:AllowanceChargeReason",
    "cbc:MultiplierFactorNumeric",
    "cbc:BaseAmount",
    "cbc:Amount",
)
_CII_CHARGE = (
    "ram:ChargeIndicator/udt:Indicator",
    "ram:ReasonCode",
    "ram:Reason",
    "ram:CalculationPercent",
    "ram:BasisAmount",
    "ram:ActualAmount",
)


def _charge(a: El, paths: tuple[str, ...]) -> dict[str, str]:
    """One allowance or charge: kind, reason code and text, percentage, base and amount."""
    found = {key: _t(a, path) for key, path in zip(_CHARGE_KEYS, paths, strict=True)}
    found["kind"] = "charge" if found["kind"] == "true" else "allowance"
    return found


def _ubl_lines(root: El, line_tag: str, qty: str) -> tuple[Rows, Rows]:
    """The lines, and each line's allowances and charges (BG-27, BG-28) under its id."""
    lines: Rows = []
    charges: Rows = []
    for ln in root.iterfind(line_tag, NS):
        category = "cac:Item/cac:ClassifiedTaxCategory"
        lines.append(
            {
                "id": _t(ln, "cbc:ID"),
                "name": _t(ln, "cac:Item/cbc:Name"),
                "quantity": _t(ln, qty),
                "unit": _t(ln, f"{qty}/@unitCode"),
                "price": _t(ln, "cac:Price/cbc:PriceAmount"),
                "vat": f"{_t(ln, f'{category}/cbc:ID')} {_t(ln, f'{category}/cbc:Percent')}%",
                "net": _t(ln, "cbc:LineExtensionAmount"),
            }
        )
        for a in ln.iterfind("cac:AllowanceCharge", NS):
            charges.append({"line": lines[-1]["id"], **_charge(a, _UBL_CHARGE)})
    return lines, charges


def _ubl(root: El, credit: bool) -> Summary:
    line_tag, qty = (
        ("cac:CreditNoteLine", "cbc:CreditedQuantity")
        if credit
        else ("cac:InvoiceLine", "cbc:InvoicedQuantity")
    )
    s = Summary(
        syntax="UBL CreditNote" if credit else "UBL Invoice",
        specification=_t(root, "cbc:CustomizationID"),
        number=_t(root, "cbc:ID"),
        type_code=_t(root, "cbc:CreditNoteTypeCode" if credit else "cbc:InvoiceTypeCode"),
        issue_date=_t(root, "cbc:IssueDate"),
        due_date=_t(root, "cbc:DueDate") or _t(root, "cac:PaymentMeans/cbc:PaymentDueDate"),
        currency=_t(root, "cbc:DocumentCurrencyCode"),
        buyer_reference=_t(root, "cbc:BuyerReference"),
        seller=_ubl_party(root, "AccountingSupplierParty"),
        buyer=_ubl_party(root, "AccountingCustomerParty"),
    )
    s.lines, s.line_allowances = _ubl_lines(root, line_tag, qty)
    for a in root.iterfind("cac:AllowanceCharge", NS):
        tax = "cac:TaxCategory"
        vat = f"{_t(a, f'{tax}/cbc:ID')} {_t(a, f'{tax}/cbc:Percent')}%"
        s.allowances.append({**_charge(a, _UBL_CHARGE), "vat": vat})
    for v in root.iterfind("cac:TaxTotal/cac:TaxSubtotal", NS):
        s.vat.append(
            {
                "category": _t(v, "cac:TaxCategory/cbc:ID"),
                "rate": _t(v, "cac:TaxCategory/cbc:Percent"),
                "base": _t(v, "cbc:TaxableAmount"),
                "amount": _t(v, "cbc:TaxAmount"),
            }
        )
    total = "cac:LegalMonetaryTotal"
    s.totals = {
        "lines": _t(root, f"{total}/cbc:LineExtensionAmount"),
        "net": _t(root, f"{total}/cbc:TaxExclusiveAmount"),
        "vat": _t(root, "cac:TaxTotal/cbc:TaxAmount"),
        "gross": _t(root, f"{total}/cbc:TaxInclusiveAmount"),
        "payable": _t(root, f"{total}/cbc:PayableAmount"),
    }
    s.payment = {
        "means": _t(root, "cac:PaymentMeans/cbc:PaymentMeansCode"),
        "iban": _t(root, "cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID"),
        "terms": _t(root, "cac:PaymentTerms/cbc:Note"),
    }
    return s


def _cii_party(agreement: str, role: str, root: El) -> PartySummary:
    p = f"{agreement}/ram:{role}"
    parts = ("ram:LineOne", "ram:PostcodeCode", "ram:CityName", "ram:CountryID")
    address = _address(root, f"{p}/ram:PostalTradeAddress", parts)
    return PartySummary(
        _t(root, f"{p}/ram:Name"),
        _t(root, f"{p}/ram:SpecifiedTaxRegistration/ram:ID"),
        address,
        _t(root, f"{p}/ram:URIUniversalCommunication/ram:URIID"),
    )


def _cii_lines(items: Iterable[El]) -> tuple[Rows, Rows]:
    """The lines, and each line's allowances and charges (BG-27, BG-28) under its id."""
    lines: Rows = []
    charges: Rows = []
    price = "ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice/ram:ChargeAmount"
    quantity = "ram:SpecifiedLineTradeDelivery/ram:BilledQuantity"
    tax = f"{_LINE_SETTLEMENT}/ram:ApplicableTradeTax"
    for ln in items:
        lines.append(
            {
                "id": _t(ln, "ram:AssociatedDocumentLineDocument/ram:LineID"),
                "name": _t(ln, "ram:SpecifiedTradeProduct/ram:Name"),
                "quantity": _t(ln, quantity),
                "unit": _t(ln, f"{quantity}/@unitCode"),
                "price": _t(ln, price),
                "vat": f"{_t(ln, f'{tax}/ram:CategoryCode')} "
                f"{_t(ln, f'{tax}/ram:RateApplicablePercent')}%",
                "net": _t(
                    ln,
                    f"{_LINE_SETTLEMENT}/ram:SpecifiedTradeSettlementLineMonetarySummation"
                    "/ram:LineTotalAmount",
                ),
            }
        )
        for a in ln.iterfind(f"{_LINE_SETTLEMENT}/ram:SpecifiedTradeAllowanceCharge", NS):
            charges.append({"line": lines[-1]["id"], **_charge(a, _CII_CHARGE)})
    return lines, charges


def _cii(root: El) -> Summary:
    tx = "rsm:SupplyChainTradeTransaction"
    agreement, st = (
        f"{tx}/ram:ApplicableHeaderTradeAgreement",
        f"{tx}/ram:ApplicableHeaderTradeSettlement",
    )
    s = Summary(
        syntax="CII",
        specification=_t(
            root,
            "rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID",
        ),
        number=_t(root, "rsm:ExchangedDocument/ram:ID"),
        type_code=_t(root, "rsm:ExchangedDocument/ram:TypeCode"),
        issue_date=_iso(_t(root, "rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString")),
        due_date=_iso(_t(root, f"{st}/ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/*")),
        currency=_t(root, f"{st}/ram:InvoiceCurrencyCode"),
        buyer_reference=_t(root, f"{agreement}/ram:BuyerReference"),
        seller=_cii_party(agreement, "SellerTradeParty", root),
        buyer=_cii_party(agreement, "BuyerTradeParty", root),
    )
    s.lines, s.line_allowances = _cii_lines(root.iterfind(f"{tx}/{_LINE}", NS))
    for a in root.iterfind(f"{st}/ram:SpecifiedTradeAllowanceCharge", NS):
        tax = "ram:CategoryTradeTax"
        vat = f"{_t(a, f'{tax}/ram:CategoryCode')} {_t(a, f'{tax}/ram:RateApplicablePercent')}%"
        s.allowances.append({**_charge(a, _CII_CHARGE), "vat": vat})
    for v in root.iterfind(f"{st}/ram:ApplicableTradeTax", NS):
        s.vat.append(
            {
                "category": _t(v, "ram:CategoryCode"),
                "rate": _t(v, "ram:RateApplicablePercent"),
                "base": _t(v, "ram:BasisAmount"),
                "amount": _t(v, "ram:CalculatedAmount"),
            }
        )
    m = f"{st}/ram:SpecifiedTradeSettlementHeaderMonetarySummation"
    s.totals = {
        "lines": _t(root, f"{m}/ram:LineTotalAmount"),
        "net": _t(root, f"{m}/ram:TaxBasisTotalAmount"),
        "vat": _t(root, f"{m}/ram:TaxTotalAmount"),
        "gross": _t(root, f"{m}/ram:GrandTotalAmount"),
        "payable": _t(root, f"{m}/ram:DuePayableAmount"),
    }
    pm = f"{st}/ram:SpecifiedTradeSettlementPaymentMeans"
    s.payment = {
        "means": _t(root, f"{pm}/ram:TypeCode"),
        "iban": _t(root, f"{pm}/ram:PayeePartyCreditorFinancialAccount/ram:IBANID"),
        "terms": _t(root, f"{st}/ram:SpecifiedTradePaymentTerms/ram:Description"),
    }
    return s


def summarize(xml: bytes) -> Summary:
    """The summary of a UBL Invoice/CreditNote or CII document; ValueError for anything else."""
    root = etree.fromstring(xml, parser=_PARSER)
    ns = etree.QName(root).namespace
    if ns == NS["ubl"]:
        return _ubl(root, credit=False)
    if ns == NS["cn"]:
        return _ubl(root, credit=True)
    if ns == NS["rsm"]:
        return _cii(root)
    raise ValueError(f"not a UBL or CII e-invoice (root element {root.tag})")
