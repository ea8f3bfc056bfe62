"""ORDERS order-level allowances and charges (ALC before the first LIN): mapped and checked.

Pure. An ALC+A with a PCD percentage is every line's discount (``edifact_orders``); an
ALC+A with only an amount (MOA+204/8) and every ALC+C (MOA+23/8, or PCD of the order's net
line total) become ``SalesOrder.allowance_charges``: the ERP sale gets one service line
each (product ``ALLOWANCE_PRODUCT`` / ``CHARGE_PRODUCT``, a signed unit price) and the
INVOIC states them again as header ALC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from schemas.model import CENT, AllowanceCharge, SalesOrder

ALLOWANCE_PRODUCT = "ALLOWANCE"  # the ERP's service product of order-level allowances
CHARGE_PRODUCT = "CHARGE"  # ... and of order-level charges
ADJUSTMENT_PRODUCTS = frozenset({ALLOWANCE_PRODUCT, CHARGE_PRODUCT})


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


def adjustment_lines(order: SalesOrder) -> list[Adjustment]:
    """The ERP sale lines of the order's allowances and charges, numbered after its lines."""
    after = max(line.line_no for line in order.lines)
    return [adjustment_line(after + i, a) for i, a in enumerate(order.allowance_charges, 1)]


def adjustment_line(sequence: int, a: AllowanceCharge) -> Adjustment:
    """One allowance (negative unit price) or charge as a sale line of quantity 1."""
    code = CHARGE_PRODUCT if a.charge else ALLOWANCE_PRODUCT
    what = "Charge" if a.charge else "Allowance"
    label = " ".join(filter(None, (a.reason_code, a.reason))) or what.lower()
    return Adjustment(sequence, code, a.amount if a.charge else -a.amount, f"{what}: {label}")
