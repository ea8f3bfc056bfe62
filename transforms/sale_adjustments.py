"""A changed sale's order-level allowances and charges, split again over its goods' VAT rates.

Pure. An order's allowance or charge is one service line per VAT rate of its goods
(``edifact_orders_allowances``: ALLOWANCE, ALLOWANCE-7, ...), in proportion to their net
amounts. When a change adds, deletes or changes goods, or restates the order-level
allowances (its own ALC before the first LIN), the proportions move: ``resplit`` gives the
service lines the sale must have now (each allowance's total kept, or the restated ones),
``plan`` what to do with the lines it has (rewrite, create, empty), to the cent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from schemas.model import CENT, AllowanceCharge
from transforms.edifact_orders_allowances import (
    CHARGE_PRODUCT,
    Adjustment,
    adjustment_code,
    adjustment_line,
    split_over_rates,
)


@dataclass(frozen=True)
class SaleAdjustment:
    """An allowance or charge service line the sale has now (quantity 0: emptied earlier)."""

    sequence: int
    product_code: str
    quantity: Decimal
    unit_price: Decimal
    description: str
    ref: str = ""  # the ERP's id of the line

    @property
    def amount(self) -> Decimal:
        return (self.quantity * self.unit_price).quantize(CENT)


@dataclass(frozen=True)
class _Total:
    """One allowance or charge over all its rates: signed amount and the lines' description."""

    charge: bool
    amount: Decimal
    description: str


@dataclass
class AdjustmentPlan:
    """What becomes of the sale's service lines: rewritten to a target, created, emptied."""

    write: list[tuple[SaleAdjustment, Adjustment]] = field(default_factory=list)
    create: list[Adjustment] = field(default_factory=list)
    empty: list[SaleAdjustment] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.write or self.create or self.empty)


def goods_bases(lines: Iterable[tuple[Decimal, Decimal, Decimal]]) -> dict[Decimal, Decimal]:
    """VAT rate -> the net amount of the goods at it, from (rate, quantity, unit price) per
    line, each line's amount rounded to the cent as the ERP does."""
    bases: dict[Decimal, Decimal] = {}
    for rate, quantity, price in lines:
        bases[rate] = bases.get(rate, Decimal(0)) + (quantity * price).quantize(CENT)
    return bases


def _totals(current: Sequence[SaleAdjustment]) -> list[_Total]:
    """The sale's allowances and charges, each one's lines over the rates added up (by kind
    and description, in the order of their first line)."""
    totals: dict[tuple[bool, str], Decimal] = {}
    for line in sorted(current, key=lambda a: a.sequence):
        key = (line.product_code.startswith(CHARGE_PRODUCT), line.description)
        totals[key] = totals.get(key, Decimal(0)) + line.amount
    return [_Total(charge, amount, text) for (charge, text), amount in totals.items() if amount]


def _restated(allowance_charges: Sequence[AllowanceCharge]) -> list[_Total]:
    return [_Total(a.charge, a.amount if a.charge else -a.amount,
                   adjustment_line(0, a).description)
            for a in allowance_charges if a.amount]  # fmt: skip


def resplit(
    bases: Mapping[Decimal, Decimal],
    after: int,
    current: Sequence[SaleAdjustment],
    restated: Sequence[AllowanceCharge] = (),
) -> tuple[list[Adjustment], str | None]:
    """The service lines the sale needs for goods of net ``bases`` per VAT rate, numbered
    after line ``after``: each allowance and charge it has (``current``), or the change's
    ``restated`` ones instead, split over the rates; or why the sale would go negative."""
    totals = _restated(restated) if restated else _totals(current)
    goods = sum(bases.values(), Decimal(0))
    net = sum((t.amount for t in totals), Decimal(0))
    if goods + net < 0:
        return [], (f"the order-level allowances and charges ({net}) exceed the goods' net "
                    f"total {goods} after the change: the order would be negative; restate "
                    "the allowance (ALC before the first LIN) in the change")  # fmt: skip
    lines = [(t, rate, share) for t in totals
             for rate, share in split_over_rates(abs(t.amount), bases).items()]  # fmt: skip
    return [Adjustment(after + i, adjustment_code(t.charge, rate),
                       share if t.charge else -share, t.description)
            for i, (t, rate, share) in enumerate(lines, 1)], None  # fmt: skip


def plan(current: Sequence[SaleAdjustment], target: Sequence[Adjustment]) -> AdjustmentPlan:
    """Each target on a line the sale has (the same product and description first, then
    any left, so a processed sale, which gets no new line, reuses them), the rest created;
    lines no target needs are emptied. A line already as its target is left alone."""
    free = sorted(current, key=lambda a: a.sequence)
    pairs: list[tuple[SaleAdjustment, Adjustment]] = []
    unmatched: list[Adjustment] = []
    for want in target:
        same = next((a for a in free if (a.product_code, a.description)
                     == (want.product_code, want.description)), None)  # fmt: skip
        if same is None:
            unmatched.append(want)
        else:
            free.remove(same)
            pairs.append((same, want))
    pairs += list(zip(free, unmatched, strict=False))
    result = AdjustmentPlan(create=unmatched[len(free) :], empty=free[len(unmatched) :])
    result.write = sorted(((a, want) for a, want in pairs if not _as(a, want)),
                          key=lambda p: p[1].sequence)  # fmt: skip
    result.empty = [a for a in result.empty if a.quantity]
    return result


def _as(line: SaleAdjustment, want: Adjustment) -> bool:
    """The line is already what ``want`` asks (quantity 1)."""
    return (line.sequence, line.product_code, line.quantity, line.unit_price,
            line.description) == (want.sequence, want.product_code, Decimal(1), want.unit_price,
                                  want.description)  # fmt: skip
