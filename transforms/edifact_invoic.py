"""EANCOM INVOIC (D96A EAN008) from a canonical Invoice: pure segment builder.

Invoice (BGM+380) or credit note (BGM+381, amounts sent positive), DTM 137/35, RFF+ON per
order and RFF+DQ per despatch advice, NAD BY/SU/IV with RFF+VA, CUX (with the rate when the
invoice currency is not the company's), PAT with the due date, lines (LIN, QTY+47, MOA+203,
PRI+AAA, TAX+7+VAT), then UNS, CNT+2, MOA 77/79/125/176 and one TAX group (MOA 124/125) per
rate. Every amount is the ERP's own Decimal, rounded to the cent exactly as the ERP did.
Document-level allowances and charges, and an ERP line of negative amount (a discount line),
go before the lines as ALC+A/C with MOA 204/23 and their VAT rate (the lines keep only
goods); MOA 131 then states their total, so MOA 79 less allowances plus charges is MOA 125.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal

from schemas.model import CENT, AllowanceCharge, ErpSale, ErpSaleLine, Invoice, InvoiceLine
from transforms.edifact_orders_allowances import ADJUSTMENT_PRODUCTS, PRICE_DIGITS, alc_segments
from transforms.edifact_outbound import MissingField, SegmentTuple, dtm, money, nad, num
from transforms.edifact_outbound_checks import line_gtins, party_glns

INVOIC_TYPE = ("INVOIC", "D", "96A", "UN", "EAN008")
DOCUMENT = "INVOIC"


def record_name(invoice: Invoice) -> str:
    """How a person finds the invoice in the ERP."""
    kind = "credit note" if invoice.kind == "credit_note" else "invoice"
    return f"{kind} {invoice.number} (ERP id {invoice.erp_id})"


def check(
    invoice: Invoice,
    *,
    buyer_gln: str | None,
    supplier_gln: str | None,
    buyer_vat: str | None,
    supplier_vat: str | None,
    require_vat: bool,
    gtin_by_code: Mapping[str, str],
) -> list[MissingField]:
    """Everything that would make the INVOIC invalid or unacceptable to the partner."""
    record = record_name(invoice)
    who = invoice.customer.name or invoice.customer.erp_id
    missing = party_glns(DOCUMENT, record, who, buyer=buyer_gln, supplier=supplier_gln)
    if require_vat and not buyer_vat:
        missing.append(
            MissingField(
                DOCUMENT,
                f"{record}, customer {who}",
                "customer.vat",
                "the partner requires VAT numbers: add the customer's VAT id in the ERP",
            )
        )
    if require_vat and not supplier_vat:
        missing.append(
            MissingField(
                DOCUMENT,
                record,
                "outbound.supplier_vat",
                "the partner requires VAT numbers: set our VAT id in the partner profile",
            )
        )
    if (
        invoice.company_currency
        and invoice.company_currency != invoice.currency
        and invoice.currency_rate is None
    ):
        missing.append(
            MissingField(
                DOCUMENT,
                record,
                "currency_rate",
                f"invoiced in {invoice.currency}, company currency {invoice.company_currency}: "
                "CUX needs the exchange rate",
            )
        )
    goods, _ = split_adjustments(invoice)
    return missing + line_gtins(DOCUMENT, record, goods, gtin_by_code)


def _sign(invoice: Invoice) -> Decimal:
    """-1 for a credit note whose ERP amounts are negative (sent positive), else 1."""
    credit = invoice.kind == "credit_note"
    return Decimal(-1) if credit and invoice.total_amount < 0 else Decimal(1)


def split_adjustments(invoice: Invoice) -> tuple[list[InvoiceLine], list[AllowanceCharge]]:
    """The goods lines, and the document's allowances and charges: its own and each line of
    the opposite sign (a discount line in the ERP: an allowance at that line's VAT rate) or
    of an order-level allowance or charge product (``ADJUSTMENT_PRODUCTS``)."""
    sign = _sign(invoice)

    def adjusts(ln: InvoiceLine) -> bool:
        return ln.amount * sign < 0 or ln.product_code in ADJUSTMENT_PRODUCTS

    goods = [ln for ln in invoice.lines if not adjusts(ln)]
    header = [AllowanceCharge(charge=ln.amount * sign > 0, amount=abs(ln.amount),
                              reason=ln.description or ln.product_code, tax_rate=ln.tax_rate,
                              reason_code=_order_reason(ln))
              for ln in invoice.lines if adjusts(ln)]  # fmt: skip
    return goods, header + list(invoice.allowance_charges)


def with_order_allowances(invoice: Invoice, sales: Sequence[ErpSale]) -> Invoice:
    """The invoice with each line's allowances and charges as the hub journaled its order's
    ``sales`` (``sale_with_allowances``), matched by order and product, in line order.

    A line invoicing part of its order line gets the amounts in proportion to its quantity
    (to the cent); percentages stay."""
    journaled: dict[tuple[str, str], list[ErpSaleLine]] = {}
    for sale in sales:
        for ln in sale.lines:
            if ln.discount_percent or ln.allowance_charges:
                journaled.setdefault((sale.reference, ln.product_code), []).append(ln)
    if not journaled:
        return invoice
    lines: list[InvoiceLine] = []
    for line in invoice.lines:
        found = journaled.get((line.order_number or "", line.product_code or ""))
        lines.append(_allowances_of(line, found.pop(0)) if found else line)
    return invoice.model_copy(update={"lines": tuple(lines)})


def _allowances_of(line: InvoiceLine, sold: ErpSaleLine) -> InvoiceLine:
    """``line`` with the sale line's percentage and allowances, for the invoiced quantity."""
    share = abs(line.quantity / sold.quantity) if sold.quantity else Decimal(1)
    adjustments = tuple(
        a if share == 1 else a.model_copy(update={"amount": (a.amount * share).quantize(CENT)})
        for a in sold.allowance_charges
    )
    return line.model_copy(
        update={"discount_percent": sold.discount_percent, "allowance_charges": adjustments}
    )


def _order_reason(line: InvoiceLine) -> str | None:
    """The reason code of the order's allowance or charge an ERP service line is, if known."""
    return next((a.reason_code for a in line.allowance_charges if a.reason_code), None)


def _tax(rate: Decimal, decimal_mark: str) -> SegmentTuple:
    category = "S" if rate > 0 else "Z"
    return ("TAX", "7", "VAT", "", "", ["", "", "", num(rate, decimal_mark)], category)


def invoic(invoice: Invoice, *, buyer_gln: str, supplier_gln: str, buyer_vat: str | None = None,
           supplier_vat: str | None = None, require_vat: bool = False,
           gtin_by_code: Mapping[str, str], despatch_numbers: Sequence[str] = (),
           delivery_date: date | None = None, decimal_mark: str = ".",
           ) -> list[SegmentTuple]:  # fmt: skip
    """INVOIC body (UNH/UNT excluded)."""
    problems = check(invoice, buyer_gln=buyer_gln, supplier_gln=supplier_gln, buyer_vat=buyer_vat,
                     supplier_vat=supplier_vat, require_vat=require_vat,
                     gtin_by_code=gtin_by_code)  # fmt: skip
    if problems:
        raise problems[0]
    credit = invoice.kind == "credit_note"
    # a credit note states its amounts as positive numbers; the document code says "credit"
    sign = _sign(invoice)
    dm = decimal_mark
    segments: list[SegmentTuple] = [
        ("BGM", "381" if credit else "380", invoice.number[:35], "9"),
        dtm("137", invoice.invoice_date),
        dtm("35", delivery_date or invoice.invoice_date),
    ]
    for order in invoice.order_numbers[:49]:
        segments.append(("RFF", ["ON", order[:35]]))
    for number in list(dict.fromkeys(despatch_numbers))[:49]:
        segments.append(("RFF", ["DQ", number[:35]]))
    for qualifier, gln, vat in (
        ("BY", buyer_gln, buyer_vat),
        ("SU", supplier_gln, supplier_vat),
        ("IV", buyer_gln, buyer_vat),
    ):
        segments.append(nad(qualifier, gln))
        if vat:
            segments.append(("RFF", ["VA", vat[:35]]))
    cux: list[object] = ["CUX", ["2", invoice.currency, "4"]]
    if invoice.company_currency and invoice.company_currency != invoice.currency:
        rate = invoice.currency_rate or Decimal(0)
        cux += [["3", invoice.company_currency, "11"], num(rate, dm)]
    segments.append(tuple(cux))
    if invoice.due_date:
        segments.append(("PAT", "1"))
        segments.append(dtm("13", invoice.due_date))
    goods, adjustments = split_adjustments(invoice)
    segments += [seg for a in adjustments for seg in _adjustment(a, dm)]
    segments += _lines(invoice, goods, gtin_by_code, sign, dm)
    return segments + _totals(invoice, goods, adjustments, sign, dm)


def _adjustment(a: AllowanceCharge, dm: str) -> list[SegmentTuple]:
    """One document-level allowance (ALC+A, MOA+204) or charge (ALC+C, MOA+23), with the
    order's reason code (else TD/FC), and its VAT."""
    segments: list[SegmentTuple] = alc_segments(a.model_copy(update={"reason": None}), dm, money)
    if a.tax_rate is not None:
        segments.append(_tax(a.tax_rate, dm))
    return segments


def _lines(invoice: Invoice, goods: list[InvoiceLine], gtin_by_code: Mapping[str, str],
           sign: Decimal, dm: str) -> list[SegmentTuple]:  # fmt: skip
    """LIN/QTY/MOA/PRI per goods line, with its order number and VAT rate."""
    segments: list[SegmentTuple] = []
    single_rate = invoice.taxes[0].rate if len({t.rate for t in invoice.taxes}) == 1 else None
    for line in goods:
        gtin = line.gtin or gtin_by_code[line.product_code or ""]
        segments.append(("LIN", str(line.line_no), "", [gtin, "EN"]))
        segments.append(("QTY", ["47", num(line.quantity * sign, dm)]))
        segments.append(("MOA", ["203", money(line.amount * sign, dm)]))
        segments.append(("PRI", ["AAA", num(line.unit_price, dm)]))
        gross, adjustments = _line_adjustments(line, sign)
        if gross is not None:  # the order's allowances: gross price, then ALC/PCD/MOA below
            segments.append(("PRI", ["AAB", num(gross, dm)]))
        if line.order_number:
            segments.append(("RFF", ["ON", line.order_number[:35]]))
        line_rate = line.tax_rate if line.tax_rate is not None else single_rate
        if line_rate is not None:
            segments.append(_tax(line_rate, dm))
        segments += [seg for a in adjustments for seg in alc_segments(a, dm, money)]
    return segments


def _line_adjustments(
    line: InvoiceLine, sign: Decimal
) -> tuple[Decimal | None, list[AllowanceCharge]]:
    """The line's price before its allowances and charges, and those (None, [] without any).

    The order line's own (``allowance_charges``, amounts for the invoiced quantity): the gross
    price is the line amount plus the allowances less the charges, per unit. Else the order's
    percentage (``discount_percent``): the gross price is the net one before it."""
    if line.allowance_charges and line.quantity:
        net = sum((-a.amount if a.charge else a.amount for a in line.allowance_charges),
                  Decimal(0))  # fmt: skip
        gross = ((line.amount * sign + net) / (line.quantity * sign)).quantize(PRICE_DIGITS)
        return gross, list(line.allowance_charges)
    before = _gross(line.unit_price, line.discount_percent)
    if before is None:
        return None, []
    allowance = ((before - line.unit_price) * line.quantity * sign).quantize(CENT)
    return before, [AllowanceCharge(amount=allowance, percent=line.discount_percent)]


def _gross(net: Decimal, discount_percent: Decimal) -> Decimal | None:
    """The price before the line's allowance (None without one)."""
    if not discount_percent or discount_percent >= 100:
        return None
    return (net / (1 - discount_percent / 100)).quantize(PRICE_DIGITS)


def _totals(invoice: Invoice, goods: list[InvoiceLine], adjustments: list[AllowanceCharge],
            sign: Decimal, dm: str) -> list[SegmentTuple]:  # fmt: skip
    """The summary section: line count, invoice totals, and each VAT rate's amounts."""
    lines_total = sum((line.amount for line in goods), Decimal(0))
    segments: list[SegmentTuple] = [
        ("UNS", "S"),
        ("CNT", ["2", str(len(goods))]),
        ("MOA", ["77", money(invoice.total_amount * sign, dm)]),
        ("MOA", ["79", money(lines_total * sign, dm)]),
        ("MOA", ["125", money(invoice.untaxed_amount * sign, dm)]),
        ("MOA", ["176", money(invoice.tax_amount * sign, dm)]),
    ]
    if adjustments:  # charges less allowances: MOA 79 + MOA 131 = MOA 125
        net = sum((a.amount if a.charge else -a.amount for a in adjustments), Decimal(0))
        segments.append(("MOA", ["131", money(net, dm)]))
    by_rate: dict[Decimal, tuple[Decimal, Decimal]] = {}  # one group per rate (Tryton may
    for tax in invoice.taxes:  # keep a negative base, e.g. an allowance line, apart)
        amount, base = by_rate.get(tax.rate, (Decimal(0), Decimal(0)))
        by_rate[tax.rate] = (amount + tax.amount, base + tax.base)
    for rate, (amount, base) in by_rate.items():
        segments.append(_tax(rate, dm))
        segments.append(("MOA", ["124", money(amount * sign, dm)]))
        segments.append(("MOA", ["125", money(base * sign, dm)]))
    return segments
