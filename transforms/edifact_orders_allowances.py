"""ORDERS order-level allowances and charges (ALC before the first LIN): mapped and checked.

Pure. An ALC+A with a PCD percentage is every line's discount (``edifact_orders``); an
ALC+A with only an amount (MOA+204/8) and every ALC+C (MOA+23/8, or PCD of the order's net
line total) become ``SalesOrder.allowance_charges``: the ERP sale gets one service line
each and VAT rate of the goods (``adjustment_code``: ALLOWANCE, ALLOWANCE-7, ..., a signed
unit price, split in proportion to the goods per rate) and the INVOIC states them again as
header ALC, one per rate. A line's own amounts and percentage charges make its net price
(``line_net_price``); the line keeps them, each for its whole quantity and with its reason
code (``line_adjustments``), so that the INVOIC states them again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from schemas.model import CENT, AllowanceCharge, ErpSale, ErpSaleLine, SalesOrder, SalesOrderLine
from transforms.edifact_outbound import num

PRICE_DIGITS = Decimal("0.0001")  # the ERP's unit price digits (Tryton's default)
ALLOWANCE_PRODUCT = "ALLOWANCE"  # the ERP's service product of order-level allowances
CHARGE_PRODUCT = "CHARGE"  # ... and of order-level charges
STANDARD_RATE = Decimal(19)  # the VAT rate of those two; another rate's has it as suffix
ADJUSTMENT_RATES = (STANDARD_RATE, Decimal(7))  # the rates the ERP has such products for


def adjustment_code(charge: bool, rate: Decimal = STANDARD_RATE) -> str:
    """The service product of an allowance or charge at VAT ``rate`` (ALLOWANCE, CHARGE-7)."""
    base = CHARGE_PRODUCT if charge else ALLOWANCE_PRODUCT
    return base if rate == STANDARD_RATE else f"{base}-{format(rate.normalize(), 'f')}"


ADJUSTMENT_PRODUCTS = frozenset(
    adjustment_code(c, r) for c in (False, True) for r in ADJUSTMENT_RATES
)


@dataclass(frozen=True)
class AlcError:
    """A wrong order-level allowance: message, segment position, tag and element."""

    message: str
    pos: int | None
    tag: str
    element: int


@dataclass(frozen=True)
class Adjustment:
    """One ERP sale line of an order-level allowance (negative price) or charge."""

    sequence: int
    product_code: str
    unit_price: Decimal
    description: str


def lines_total(lines: Sequence[dict[str, Any]]) -> Decimal | None:
    """The order's net line total (quantity x price less the line's discount), or None when a
    line has no price (the ERP prices it: the total is not known yet)."""
    total = Decimal(0)
    for line in lines:
        price, quantity = line.get("unit_price"), line.get("quantity")
        if not isinstance(price, Decimal) or not isinstance(quantity, Decimal):
            return None
        discount = Decimal(str(line.get("discount_percent", 0)))
        total += (quantity * price * (1 - discount / 100)).quantize(CENT)
    return total


def order_level(
    header: Sequence[dict[str, Any]], lines: Sequence[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[AlcError]]:
    """The order-level amount allowances and charges of ``header`` (ALC groups before the
    first LIN, each ``kind``/``percent``/``amount`` and positions), as AllowanceCharge
    values, and what is wrong with them. Percentage allowances are not among them (they are
    the lines' discount); a charge's MOA, if any, is checked against its percentage."""
    total = lines_total(lines)
    found: list[dict[str, Any]] = []
    errors: list[AlcError] = []
    for alc in header:
        amount, error = _amount(alc, total)
        if error is not None:
            errors.append(error)
        elif amount is not None:
            found.append({"charge": alc["kind"] == "C", "amount": amount,
                          "reason": alc.get("text") or None,
                          "reason_code": alc.get("code") or None})  # fmt: skip
    if total is not None and found:
        allowances = sum((a["amount"] for a in found if not a["charge"]), Decimal(0))
        charges = sum((a["amount"] for a in found if a["charge"]), Decimal(0))
        if total - allowances + charges < 0:
            errors.append(AlcError(f"order-level allowances {allowances} exceed the lines' net "
                                   f"total {total} plus charges {charges}: the order would be "
                                   "negative", header[0]["pos"], "ALC", 1))  # fmt: skip
    return found, errors


def _amount(alc: dict[str, Any], total: Decimal | None) -> tuple[Decimal | None, AlcError | None]:
    """One ALC group's amount (None for a percentage allowance: the lines' discount), or
    what is wrong with it."""
    percent, amount, where = alc["percent"], alc["amount"], f"order-level ALC+{alc['kind']}"
    if percent is None and amount is None:
        return None, AlcError(f"{where}: neither PCD+1 (percentage) nor MOA+204/23 (amount) "
                              "follows: send one of them", alc["pos"], "ALC", 1)  # fmt: skip
    if amount is not None and amount <= 0:
        return None, AlcError(f"{where}: MOA amount {amount} must be more than 0 (an allowance "
                              "is ALC+A, a charge ALC+C)", alc["amount_pos"], "MOA", 1)  # fmt: skip
    if percent is None:
        return amount, None
    if alc["kind"] == "A":
        return None, None  # every line's discount (its MOA is information)
    if total is None:
        return None, AlcError(f"{where}: a percentage charge needs every line's price (PRI): "
                              "send it as MOA+23", alc["percent_pos"], "PCD", 1)  # fmt: skip
    share = (total * percent / 100).quantize(CENT)
    if amount is not None and abs(share - amount) > CENT:
        return None, AlcError(f"{where}: MOA {amount} is not PCD {percent}% of the lines' net "
                              f"total {total} ({share}): correct one of them",
                              alc["amount_pos"], "MOA", 1)  # fmt: skip
    return share, None


def line_net_price(
    line: dict[str, Any], percent: Decimal, alcs: Sequence[dict[str, Any]]
) -> tuple[Decimal | None, AlcError | None]:
    """The net unit price of an ORDERS line with amount allowances or charges among ``alcs``
    (its own ALC groups; ``percent``: the order's percentage allowances), or what is wrong.

    Percentages first (a charge's raises the price), then the amounts (an allowance lowers
    the line total, a charge raises it): the line total is rounded to the cent, and the net
    price to the ERP's 4 price digits must give that total again, or the line is refused."""
    gross, quantity, where = line.get("unit_price"), line.get("quantity"), f"line {line['line_no']}"
    first = alcs[0]
    if not isinstance(gross, Decimal) or not isinstance(quantity, Decimal) or quantity <= 0:
        return None, AlcError(f"{where}: an allowance or charge amount needs the line's "
                              "price (PRI) and quantity (QTY+21): send them",
                              first["pos"], "ALC", 1)  # fmt: skip
    amount = Decimal(0)
    for alc in alcs:
        sign = 1 if alc["kind"] == "C" else -1
        if alc["amount"] is None and alc["percent"] is None:
            return None, AlcError(f"{where}: ALC+{alc['kind']} has neither PCD+1 "
                                  "(percentage) nor MOA+204/23 (amount): send one",
                                  alc["pos"], "ALC", 1)  # fmt: skip
        if alc["percent"] is not None:
            percent -= sign * alc["percent"]
        elif alc["amount"] <= 0:
            return None, AlcError(f"{where}: MOA amount {alc['amount']} must be more than 0 (an "
                                  "allowance is ALC+A, a charge ALC+C)", alc["amount_pos"],
                                  "MOA", 1)  # fmt: skip
        else:
            amount += sign * alc["amount"]
    total = (quantity * gross * (1 - percent / 100)).quantize(CENT) + amount
    net = (total / quantity).quantize(PRICE_DIGITS)
    last = next(a for a in reversed(alcs) if a["amount"] is not None or a["percent"] is not None)
    at = (last.get("amount_pos") or last["pos"], "MOA" if last.get("amount_pos") else "ALC", 1)
    if total < 0:
        return None, AlcError(f"{where}: the allowances ({amount}) exceed the line's amount: "
                              f"its total would be {total}", *at)  # fmt: skip
    got = (net * quantity).quantize(CENT)
    if got != total:
        return None, AlcError(f"{where}: the line total after its allowances and charges is "
                              f"{total}, but no net unit price of 4 decimals (the ERP's) times "
                              f"{quantity} gives it ({net} gives {got}): send the allowance as "
                              "a percentage (PCD+1) or the net price (PRI+AAA)", *at)  # fmt: skip
    return net, None


def line_adjustments(line: dict[str, Any], alcs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The line's allowances and charges (``alcs``: the order's percentage allowances, then its
    own ALC groups) as AllowanceCharge values for its whole quantity, with reason and PCD.

    A percentage is of the line's gross amount (rounded to the cent; the last one takes the
    rounding rest), so that the gross amount less the allowances plus the charges is the line
    total ``line_net_price`` made, to the cent."""
    gross, quantity = line.get("unit_price"), line.get("quantity")
    if not isinstance(gross, Decimal) or not isinstance(quantity, Decimal):
        return []
    stated = [a for a in alcs if a["percent"] is not None or a["amount"] is not None]
    signs = [Decimal(1) if a["kind"] == "C" else Decimal(-1) for a in stated]
    percents = [i for i, a in enumerate(stated) if a["percent"] is not None]
    net_percent = sum((signs[i] * stated[i]["percent"] for i in percents), Decimal(0))
    rest = (quantity * gross * (1 + net_percent / 100)).quantize(CENT)
    rest -= (quantity * gross).quantize(CENT)
    amounts: list[Decimal] = []
    for i, a in enumerate(stated):
        if a["percent"] is None:
            amounts.append(a["amount"])
            continue
        share = signs[i] * (quantity * gross * a["percent"] / 100).quantize(CENT)
        share = rest if i == percents[-1] else share
        rest -= share
        amounts.append(max(signs[i] * share, Decimal(0)))
    return [{"charge": a["kind"] == "C", "amount": amount, "reason": a.get("text") or None,
             "reason_code": a.get("code") or None, "percent": a["percent"]}
            for a, amount in zip(stated, amounts, strict=True)]  # fmt: skip


def alc_segments(
    a: AllowanceCharge, decimal_mark: str, amount: Callable[[Decimal, str], str] = num
) -> list[tuple[object, ...]]:
    """ALC+A/C (the reason code, else TD/FC, and text), PCD+1 if a percentage, MOA+204/23
    (``amount`` formats it: ``money`` where a document states cents)."""
    code = a.reason_code or ("FC" if a.charge else "TD")
    reason = [code, "", "", a.reason] if a.reason else [code]
    segments: list[tuple[object, ...]] = [("ALC", "C" if a.charge else "A", "", "", "1", reason)]
    if a.percent is not None:
        segments.append(("PCD", ["1", num(a.percent, decimal_mark)]))
    segments.append(("MOA", ["23" if a.charge else "204", amount(a.amount, decimal_mark)]))
    return segments


def line_price_segments(line: SalesOrderLine, decimal_mark: str) -> list[tuple[object, ...]]:
    """PRI+AAA net price; or PRI+AAB gross price and the line's allowances and charges (the
    gross price is the net line total plus allowances less charges, per unit)."""
    if line.unit_price is None:
        return []
    if not (line.discount_percent or line.allowance_charges):
        return [("PRI", ["AAA", num(line.unit_price, decimal_mark)])]
    gross = line.unit_price
    if line.allowance_charges and not line.discount_percent:  # unit_price is the net one
        total = (line.quantity * line.unit_price).quantize(CENT)
        total += sum((-a.amount if a.charge else a.amount for a in line.allowance_charges),
                     Decimal(0))  # fmt: skip
        gross = (total / line.quantity).quantize(PRICE_DIGITS)
    segments: list[tuple[object, ...]] = [("PRI", ["AAB", num(gross, decimal_mark)])]
    if not line.allowance_charges:
        segments.append(("ALC", "A", "", "", "1", ["TD"]))
        segments.append(("PCD", ["1", num(line.discount_percent, decimal_mark)]))
    return segments + [seg for a in line.allowance_charges for seg in alc_segments(a, decimal_mark)]


def adjustment_lines(
    order: SalesOrder, bases: Mapping[Decimal, Decimal] | None = None
) -> list[Adjustment]:
    """The ERP sale lines of the order's allowances and charges, numbered after its lines.

    ``bases`` (VAT rate -> the sale's net goods amount at that rate) splits each one over
    the rates in proportion (EN 16931: an allowance belongs to one VAT rate), one line per
    rate; without it, or with one rate, each is one line at the standard rate's product."""
    after = max(line.line_no for line in order.lines)
    split = [(a, rate, share) for a in order.allowance_charges
             for rate, share in split_over_rates(a.amount, bases or {}).items()]  # fmt: skip
    return [adjustment_line(after + i, a, rate, share)
            for i, (a, rate, share) in enumerate(split, 1)]  # fmt: skip


def split_over_rates(amount: Decimal, bases: Mapping[Decimal, Decimal]) -> dict[Decimal, Decimal]:
    """``amount`` over the VAT rates in proportion to their net ``bases``, to the cent: the
    largest base takes the rounding rest, so the shares add up to ``amount``; a rate whose
    share rounds to 0 gets none. Without a positive base: all of it at the standard rate."""
    positive = {rate: base for rate, base in bases.items() if base > 0}
    total = sum(positive.values(), Decimal(0))
    if len(positive) < 2:
        return {next(iter(positive), STANDARD_RATE): amount}
    ordered = sorted(positive, key=lambda rate: (positive[rate], rate), reverse=True)
    shares = {rate: (amount * positive[rate] / total).quantize(CENT) for rate in ordered[1:]}
    shares = {ordered[0]: amount - sum(shares.values(), Decimal(0)), **shares}
    return {rate: share for rate, share in shares.items() if share}


def adjustment_line(
    sequence: int, a: AllowanceCharge, rate: Decimal = STANDARD_RATE, amount: Decimal | None = None
) -> Adjustment:
    """One allowance (negative unit price) or charge, or its ``amount`` share at VAT
    ``rate``, as a sale line of quantity 1."""
    share = a.amount if amount is None else amount
    what = "Charge" if a.charge else "Allowance"
    label = " ".join(filter(None, (a.reason_code, a.reason))) or what.lower()
    return Adjustment(sequence, adjustment_code(a.charge, rate), share if a.charge else -share,
                      f"{what}: {label}")  # fmt: skip


def sale_with_allowances(order: SalesOrder, sale: ErpSale) -> ErpSale:
    """The sale as the hub journals it: each goods line with its order line's percentage
    (``discount_percent``) and allowances and charges, each order-level allowance or charge
    line with the order's (its reason code): the ERP keeps only prices, the INVOIC states
    them again from this."""
    by_no = {ln.line_no: ln for ln in order.lines}
    order_level = _order_level_by_line(order, sale)
    lines: list[ErpSaleLine] = []
    for ln in sale.lines:
        own = by_no.get(ln.line_no)
        update: dict[str, Any] = {}
        if ln.line_no in order_level:
            update["allowance_charges"] = (order_level[ln.line_no],)
        elif own is not None and ln.product_code not in ADJUSTMENT_PRODUCTS:
            if own.discount_percent:
                update["discount_percent"] = own.discount_percent
            if own.allowance_charges:
                update["allowance_charges"] = own.allowance_charges
        lines.append(ln.model_copy(update=update) if update else ln)
    return sale.model_copy(update={"lines": tuple(lines)})


def _order_level_by_line(order: SalesOrder, sale: ErpSale) -> dict[int, AllowanceCharge]:
    """Which order-level allowance or charge each of the sale's service lines is (in order:
    one line each, or one per VAT rate whose shares add up to its amount)."""
    service = iter(sorted((ln for ln in sale.lines if ln.product_code in ADJUSTMENT_PRODUCTS),
                          key=lambda ln: ln.line_no))  # fmt: skip
    found: dict[int, AllowanceCharge] = {}
    for a in order.allowance_charges:
        left = a.amount
        while left > 0 and (ln := next(service, None)) is not None:
            share = abs(ln.unit_price * ln.quantity).quantize(CENT)
            found[ln.line_no] = a.model_copy(update={"amount": share})
            left -= share
    return found
