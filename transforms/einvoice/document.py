"""The EN 16931 view of a canonical Invoice: parties, lines, allowances and VAT breakdown.

Every serializer (UBL, CII, the PDF) renders this one value, so the amounts are computed
once: positive for a credit note (EN 16931 carries the sign in the document type), a
negative-priced ERP line (a discount line) becomes a document-level allowance at its VAT
rate (BR-27: a net price is never negative), and each rate's VAT is the ERP's own amount.

A line's own allowances and charges (BG-27, BG-28: the order line's, as the EDI customer sees
them in INVOIC) are already in the canonical line amount (``InvoiceLine.unit_price`` is the
net price). The line net amount (BT-131) stays the ERP's and the price (BT-146) is the one
before them, so quantity x price - allowances + charges = BT-131 and no total changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import TypedDict

from schemas.einvoice_config import CustomerEInvoice, EInvoiceFormat, Seller
from schemas.errors import PermanentError
from schemas.model import AllowanceCharge, Invoice, InvoiceLine, Party
from transforms.edifact_orders_allowances import ADJUSTMENT_PRODUCTS

CENT = Decimal("0.01")
XRECHNUNG_ID = "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"
PEPPOL_ID = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PEPPOL_PROFILE = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
EN16931_ID = "urn:cen.eu:en16931:2017"
# UN/ECE Recommendation 20 codes for the ERP's unit symbols (C62 "one" otherwise)
UNIT_CODES = {
    "u": "C62",
    "unit": "C62",
    "pc": "H87",
    "kg": "KGM",
    "g": "GRM",
    "l": "LTR",
    "m": "MTR",
    "h": "HUR",
    "d": "DAY",
    "box": "XBX",
    "pallet": "XPX",
}
# UNCL 5189 allowance reasons EN 16931 accepts (BR-CL-19); UNCL 7161 names charges (BR-CL-20)
_REASONS = "41 42 60 62 63 64 65 66 67 68 70 71 88 95 100 102 103 104 105"
ALLOWANCE_REASONS = frozenset(_REASONS.split(" "))
# allowance codes of an EDIFACT ALC (UNTDID 7161) and their UNCL 5189 equivalent
_EDI_ALLOWANCES = {"DI": "95", "TD": "95"}


def customization_id(fmt: EInvoiceFormat) -> str:
    """The specification identifier (BT-24) a format declares."""
    if fmt == "peppol-bis":
        return PEPPOL_ID
    if fmt == "zugferd-en16931":
        return EN16931_ID
    return XRECHNUNG_ID


def money(value: Decimal) -> str:
    """An amount with exactly two decimals (BR-DEC-*)."""
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def number(value: Decimal) -> str:
    """A quantity, price or percentage without trailing zeros and never in exponent form."""
    text = format(value.normalize(), "f")
    return text if text not in ("-0", "") else "0"


@dataclass(frozen=True)
class Address:
    street: str | None
    postal_code: str | None
    city: str | None
    country: str


@dataclass(frozen=True)
class EParty:
    """A seller or buyer as an e-invoice names it."""

    name: str
    address: Address
    vat_id: str | None = None
    electronic_address: str | None = None  # an e-mail address (scheme EM)
    identifier: str | None = None  # the buyer's number at the seller, or a GLN
    gln: str | None = None
    legal_registration: str | None = None
    contact_name: str | None = None
    contact_phone: str | None = None
    contact_email: str | None = None


@dataclass(frozen=True)
class ETax:
    """A VAT category (UNCL 5305: S, Z, E, AE, K, G, O) and its rate; at zero, why no VAT is
    charged: the VATEX code (BT-121) and the text (BT-120)."""

    category: str
    rate: Decimal
    exemption_code: str | None = None
    exemption_reason: str | None = None

    @property
    def percent(self) -> Decimal | None:
        """The rate a line or allowance writes: none for O, not subject to VAT (BR-O-05..07);
        the breakdown always writes its rate (BT-119, XRechnung BR-DE-14)."""
        return None if self.category == "O" else self.rate


@dataclass(frozen=True)
class EAllowance:
    """A document-level allowance (BG-20) or charge (BG-21), or a line's (BG-27, BG-28: taxed
    as its line, so its ``tax`` is not written)."""

    charge: bool
    amount: Decimal  # BT-92 / BT-99; on a line BT-136 / BT-141
    reason: str  # BT-97 / BT-104; BT-139 / BT-144
    reason_code: str | None  # BT-98 / BT-105; BT-140 / BT-145
    tax: ETax  # BT-95, BT-96 / BT-102, BT-103
    percent: Decimal | None = None  # BT-94 / BT-101; BT-138 / BT-143
    base: Decimal | None = None  # BT-93 / BT-100; BT-137 / BT-142


@dataclass(frozen=True)
class ELine:
    """An invoice line (BG-25), by its business terms."""

    line_id: str  # BT-126
    name: str  # BT-153
    quantity: Decimal  # BT-129, with its unit (BT-130)
    unit_code: str
    price: Decimal  # BT-146, net of a price discount, before the line's allowances
    net: Decimal  # BT-131: quantity x price - allowances + charges
    tax: ETax  # BT-151, BT-152
    seller_item: str | None = None  # BT-155
    gtin: str | None = None  # BT-157
    allowances: tuple[EAllowance, ...] = ()  # BG-27, BG-28


@dataclass(frozen=True)
class EVat:
    """One VAT breakdown (BG-23): the category, its taxable base and the ERP's tax."""

    tax: ETax  # BT-118, BT-119, BT-120, BT-121
    base: Decimal  # BT-116
    amount: Decimal  # BT-117


@dataclass(frozen=True)
class EDocument:
    """Everything a serializer writes, amounts final (positive for credit notes)."""

    fmt: EInvoiceFormat
    number: str
    credit_note: bool
    issue_date: date
    due_date: date | None
    delivery_date: date | None
    currency: str
    buyer_reference: str | None
    order_reference: str | None
    seller: EParty
    buyer: EParty
    lines: tuple[ELine, ...]
    allowances: tuple[EAllowance, ...]
    vat: tuple[EVat, ...]
    line_total: Decimal
    allowance_total: Decimal
    charge_total: Decimal
    tax_exclusive: Decimal
    tax_total: Decimal
    tax_inclusive: Decimal
    payable: Decimal
    payment_terms: str | None
    iban: str | None
    bic: str | None
    deliver_to: Address | None = None  # BG-15 (BT-80 country), for intra-community supplies

    @property
    def type_code(self) -> str:
        """UNTDID 1001: 380 commercial invoice, 381 credit note."""
        return "381" if self.credit_note else "380"

    @property
    def customization(self) -> str:
        return customization_id(self.fmt)


_MEMBERS = "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK"
EU = frozenset(_MEMBERS.split(" "))
# why a zero-rated category is not taxed (UNCL 5305 -> VATEX code, text); E has no default
EXEMPTIONS = {
    "K": ("VATEX-EU-IC", "Intra-community supply"),
    "AE": ("VATEX-EU-AE", "Reverse charge"),
    "G": ("VATEX-EU-G", "Export outside the EU"),
    "O": ("VATEX-EU-O", "Not subject to VAT"),
}


@dataclass(frozen=True)
class VatPolicy:
    """How a document taxes: S above zero; at zero the customer's category (``zero``)."""

    zero: ETax

    def of(self, rate: Decimal) -> ETax:
        return ETax("S", rate) if rate > 0 else self.zero


def zero_tax(
    seller_country: str, buyer: Party, buyer_country: str, customer: CustomerEInvoice
) -> ETax:
    """The category of zero-rated amounts: the customer's configured one (E, AE, G, O), else
    K for a business (VAT id) in another EU state, G for a buyer outside the EU, else Z."""
    cross = buyer_country != seller_country and {buyer_country, seller_country} <= EU
    export = seller_country in EU and buyer_country not in EU
    default = "K" if cross and buyer.vat else "G" if export else "Z"
    cat = customer.vat_category or default
    code, reason = EXEMPTIONS.get(cat, (None, None))
    return ETax(
        cat,
        Decimal(0),
        customer.vat_exemption_code or code,
        customer.vat_exemption_reason or reason,
    )


def _seller(seller: Seller) -> EParty:
    a = seller.address
    return EParty(
        name=seller.name,
        address=Address(a.street, a.postal_code, a.city, a.country),
        vat_id=seller.vat_id,
        electronic_address=seller.electronic_address,
        gln=seller.gln,
        legal_registration=seller.legal_registration,
        contact_name=seller.contact.name,
        contact_phone=seller.contact.phone,
        contact_email=seller.contact.email,
    )


def _party_email(party: Party) -> str | None:
    for c in party.contacts:
        if c.email:
            return c.email
    for m in party.contact_mechanisms:
        if m.type == "email":
            return m.value
    return None


def _buyer(buyer: Party, customer: CustomerEInvoice, invoice: Invoice) -> EParty:
    address = next((a for a in buyer.addresses if a.country), None)
    if address is None or address.country is None:
        raise PermanentError(
            f"invoice {invoice.number}: customer {buyer.name!r} (ERP id {buyer.erp_id}) has no "
            "address with a country in the ERP; EN 16931 requires one (BT-55): add it",
            system="einvoice",
            code="buyer_address",
        )
    endpoint = customer.electronic_address or customer.email or _party_email(buyer)
    return EParty(
        name=buyer.name,
        address=Address(address.street, address.postal_code, address.city, address.country),
        vat_id=buyer.vat,
        electronic_address=endpoint,
        identifier=buyer.code or buyer.erp_id,
        gln=buyer.gln,
    )


def reason_code(charge: bool, code: str | None) -> str | None:
    """The code EN 16931 takes for an allowance's or charge's reason: a charge's UNCL 7161 code
    as it came; an allowance's UNCL 5189 one, an EDIFACT discount (7161 DI, TD) as 95, any
    other left out (the reason text says it); 95 (discount) for an allowance without one."""
    if charge:
        return code
    if code is None:
        return "95"
    return code if code in ALLOWANCE_REASONS else _EDI_ALLOWANCES.get(code)


def _allowance(a: AllowanceCharge, tax: ETax, base: Decimal | None = None) -> EAllowance:
    reason = a.reason or ("Charge" if a.charge else "Discount")
    percent = a.percent if base is not None else None
    code = reason_code(a.charge, a.reason_code)
    return EAllowance(a.charge, a.amount, reason, code, tax, percent, base)


def _unit_price(gross: Decimal, quantity: Decimal) -> Decimal:
    """The price of one unit of ``gross``: to 0.0001 (the ERP's price digits) when that gives
    ``gross`` back to the cent, else to as many digits as it takes (up to 8)."""
    for digits in (4, 6, 8):
        price = (gross / quantity).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
        if money(price * quantity) == money(gross):
            break
    return price


def _own(ln: InvoiceLine, net: Decimal) -> list[AllowanceCharge]:
    """The line's allowances and charges: its own, else its order's percentage as one
    allowance of the difference to the price before it (as the EDI INVOIC writes it)."""
    if ln.allowance_charges or not 0 < ln.discount_percent < 100:
        return list(ln.allowance_charges)
    before = (abs(ln.unit_price) / (1 - ln.discount_percent / 100)).quantize(Decimal("0.0001"))
    off = (before * abs(ln.quantity)).quantize(CENT, rounding=ROUND_HALF_UP) - net
    return [AllowanceCharge(amount=off, percent=ln.discount_percent)] if off > 0 else []


def _priced(ln: InvoiceLine, net: Decimal, tax: ETax) -> tuple[Decimal, tuple[EAllowance, ...]]:
    """The line's price before its allowances and charges (BT-146) and those (BG-27, BG-28);
    the net price and none for a line without them, or an order's allowance line."""
    found = _own(ln, net) if ln.quantity and ln.product_code not in ADJUSTMENT_PRODUCTS else []
    gross = net + sum((-a.amount if a.charge else a.amount for a in found), Decimal(0))
    if not found or gross < 0:  # a negative price is never written (BR-27)
        return abs(ln.unit_price), ()
    price = _unit_price(gross, abs(ln.quantity))
    return price, tuple(_allowance(a, tax, gross if a.percent else None) for a in found)


def _lines_and_allowances(
    invoice: Invoice, sign: Decimal, policy: VatPolicy
) -> tuple[list[ELine], list[EAllowance]]:
    lines: list[ELine] = []
    allowances: list[EAllowance] = []
    for ln in invoice.lines:
        tax = policy.of(ln.tax_rate or Decimal(0))
        net = ln.amount * sign
        name = ln.description or ln.product_code or f"line {ln.line_no}"
        if net < 0:  # a discount line: EN 16931 has no negative line prices (BR-27)
            allowances.append(EAllowance(False, -net, name, "95", tax))
            continue
        unit = UNIT_CODES.get(ln.unit.lower(), "C62")
        price, own = _priced(ln, net, tax)
        item, qty = ln.product_code, abs(ln.quantity)
        lines.append(ELine(str(ln.line_no), name, qty, unit, price, net, tax, item, ln.gtin, own))
    for a in invoice.allowance_charges:
        allowances.append(_allowance(a, policy.of(a.tax_rate or Decimal(0))))
    return lines, allowances


def _vat(
    invoice: Invoice,
    lines: Iterable[ELine],
    allowances: Iterable[EAllowance],
    sign: Decimal,
    policy: VatPolicy,
) -> tuple[EVat, ...]:
    """One breakdown per rate: base from lines and allowances, tax as the ERP computed it."""
    bases: dict[Decimal, Decimal] = {}
    for ln in lines:
        bases[ln.tax.rate] = bases.get(ln.tax.rate, Decimal(0)) + ln.net
    for a in allowances:
        change = a.amount if a.charge else -a.amount
        bases[a.tax.rate] = bases.get(a.tax.rate, Decimal(0)) + change
    erp_tax: dict[Decimal, Decimal] = {}
    for t in invoice.taxes:
        erp_tax[t.rate] = erp_tax.get(t.rate, Decimal(0)) + t.amount * sign
    out = []
    for rate in sorted(bases, reverse=True):
        computed = (bases[rate] * rate / 100).quantize(CENT, rounding=ROUND_HALF_UP)
        out.append(EVat(policy.of(rate), bases[rate], erp_tax.get(rate, computed)))
    return tuple(out)


def _refused(invoice: Invoice, why: str, code: str) -> PermanentError:
    return PermanentError(f"invoice {invoice.number}: {why}", system="einvoice", code=code)


def _policy(
    invoice: Invoice, seller: Seller, buyer: Party, customer: CustomerEInvoice
) -> VatPolicy:
    """The document's VAT policy; PermanentError when the ERP lacks what its category needs."""
    country = next((a.country for a in buyer.addresses if a.country), None) or ""
    zero = zero_tax(seller.address.country, buyer, country, customer)
    if zero.category == "AE" and not buyer.vat:
        raise _refused(
            invoice,
            f"customer {buyer.name!r} (ERP id {buyer.erp_id}) is invoiced under reverse charge "
            "(vat_category AE) but has no VAT id in the ERP (BT-48, BR-AE-02): add it",
            "buyer_vat_id",
        )
    return VatPolicy(zero)


def build(
    invoice: Invoice,
    *,
    fmt: EInvoiceFormat,
    seller: Seller,
    buyer: Party,
    delivery_date: date | None = None,
    customer: CustomerEInvoice,
) -> EDocument:
    """The e-invoice view of ``invoice``; PermanentError naming what the ERP lacks."""
    credit = invoice.kind == "credit_note"
    sign = Decimal(-1) if credit and invoice.total_amount < 0 else Decimal(1)
    buyer_party = _buyer(buyer, customer, invoice)
    policy = _policy(invoice, seller, buyer, customer)
    lines, allowances = _lines_and_allowances(invoice, sign, policy)
    if not lines:
        raise _refused(invoice, "no line with a positive amount to invoice", "no_lines")
    vat = _vat(invoice, lines, allowances, sign, policy)
    totals = _totals(lines, allowances, vat)
    _check_totals(invoice, totals["tax_exclusive"], totals["tax_total"], sign)
    seller_party = _seller(seller)
    if {v.tax.category for v in vat} == {"O"}:  # no VAT id on either side (BR-O-02..04)
        seller_party = replace(seller_party, vat_id=None)
        buyer_party = replace(buyer_party, vat_id=None)
    return EDocument(
        fmt=fmt,
        number=invoice.number,
        credit_note=credit,
        issue_date=invoice.invoice_date,
        due_date=invoice.due_date,
        currency=invoice.currency,
        buyer_reference=customer.buyer_reference or invoice.buyer_reference,
        order_reference=invoice.order_numbers[0] if invoice.order_numbers else None,
        seller=seller_party,
        delivery_date=delivery_date or invoice.delivery_date,
        buyer=buyer_party,
        deliver_to=buyer_party.address if policy.zero.category == "K" else None,
        lines=tuple(lines),
        allowances=tuple(allowances),
        vat=vat,
        **totals,
        payment_terms=invoice.payment_terms,
        iban=invoice.payee_iban or seller.iban,
        bic=seller.bic,
    )


class _Totals(TypedDict):
    """The document totals (BG-22)."""

    line_total: Decimal  # BT-106
    allowance_total: Decimal  # BT-107
    charge_total: Decimal  # BT-108
    tax_exclusive: Decimal  # BT-109
    tax_total: Decimal  # BT-110
    tax_inclusive: Decimal  # BT-112
    payable: Decimal  # BT-115


def _totals(lines: list[ELine], allowances: list[EAllowance], vat: tuple[EVat, ...]) -> _Totals:
    net = sum((ln.net for ln in lines), Decimal(0))
    off = sum((a.amount for a in allowances if not a.charge), Decimal(0))
    on = sum((a.amount for a in allowances if a.charge), Decimal(0))
    tax = sum((v.amount for v in vat), Decimal(0))
    gross = net - off + on + tax
    return _Totals(
        line_total=net,
        allowance_total=off,
        charge_total=on,
        tax_exclusive=net - off + on,
        tax_total=tax,
        tax_inclusive=gross,
        payable=gross,
    )


def _check_totals(invoice: Invoice, net: Decimal, tax: Decimal, sign: Decimal) -> None:
    """The document's totals are the ERP's, to the cent, or nothing is built."""
    erp_net, erp_tax = invoice.untaxed_amount * sign, invoice.tax_amount * sign
    if (net - erp_net).quantize(CENT) or (tax - erp_tax).quantize(CENT):
        why = (
            f"the e-invoice totals (net {net}, VAT {tax}) differ from the ERP's "
            f"({invoice.untaxed_amount}, {invoice.tax_amount}); check the invoice's taxes "
            "in the ERP"
        )
        raise _refused(invoice, why, "totals_differ")
