"""A sale's versions as the hub journals them: each order change on top of the sale, every line
with the allowances and charges of its latest version (pure; the INVOIC states them again).

The ERP keeps only net prices. The hub journals the sale it made of an order with each line's
percentage and allowances (``sale_with_allowances``) and, per change message, the sale after
the change with the lines the change added or changed carrying the change's own
(``change_with_allowances``). ``latest`` replays those results in order: a line the change
stated allowances for takes them; another keeps its last ones while its net price stands
(amounts for its quantity now), and loses them once its price changed without them; an
order-level allowance or charge line split again keeps its allowance at its new amount.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from schemas.model import (
    CENT,
    ErpSale,
    ErpSaleLine,
    SalesOrder,
    SalesOrderChange,
    SalesOrderLine,
)
from transforms.edifact_orders_allowances import ADJUSTMENT_PRODUCTS, sale_with_allowances


def change_with_allowances(change: SalesOrderChange, sale: ErpSale) -> ErpSale:
    """``sale`` (the ERP's answer to ``change``) as the hub journals it: each line the change
    added or changed with the change line's percentage and allowances and charges; with
    order-level allowances restated, each allowance/charge line with the one it is now."""
    stated = {c.line_no: c for c in change.lines if c.action != "delete" and not change.cancel}
    lines = []
    for ln in sale.lines:
        own = stated.get(ln.line_no)
        if own is not None and ln.product_code not in ADJUSTMENT_PRODUCTS:
            ln = ln.model_copy(update={"discount_percent": own.discount_percent,
                                       "allowance_charges": own.allowance_charges})  # fmt: skip
        lines.append(ln)
    sale = sale.model_copy(update={"lines": tuple(lines)})
    if not change.allowance_charges or change.cancel:
        return sale
    restated = SalesOrder(  # the order-level allowances only: its one line states nothing
        order_number=change.order_number, order_date=date.min, buyer=change.buyer,
        currency=sale.currency, allowance_charges=change.allowance_charges,
        lines=(SalesOrderLine(line_no=1, product_code="-", quantity=Decimal(1)),),
    )  # fmt: skip
    return sale_with_allowances(restated, sale)


def latest(sale: ErpSale, changes: Sequence[ErpSale]) -> ErpSale:
    """``sale`` as journaled after each of ``changes`` (the journaled results of its change
    messages, in the order they were applied), each line with its latest allowances."""
    for after in changes:
        goods: dict[tuple[int, str], ErpSaleLine] = {}
        services: dict[str, list[ErpSaleLine]] = {}  # split again: by product, in order
        for ln in sale.lines:
            if ln.product_code in ADJUSTMENT_PRODUCTS:
                services.setdefault(ln.product_code, []).append(ln)
            else:
                goods[(ln.line_no, ln.product_code)] = ln
        lines = []
        for ln in after.lines:
            same = services.get(ln.product_code, [])
            old = same.pop(0) if same else goods.get((ln.line_no, ln.product_code))
            lines.append(_carried(ln, old))
        sale = after.model_copy(update={"lines": tuple(lines)})
    return sale


def _carried(line: ErpSaleLine, old: ErpSaleLine | None) -> ErpSaleLine:
    """``line`` of a new version with the allowances its last version had, if they still hold."""
    if line.discount_percent or line.allowance_charges or old is None:
        return line  # the change stated them, or the line is new
    if old.product_code in ADJUSTMENT_PRODUCTS:
        if len(old.allowance_charges) != 1:
            return line
        amount = abs(line.unit_price * line.quantity).quantize(CENT)
        (was,) = old.allowance_charges
        return line.model_copy(update={"allowance_charges": (
            was.model_copy(update={"amount": amount}),)})  # fmt: skip
    if old.unit_price != line.unit_price:
        return line  # a new net price the old allowances no longer explain
    share = line.quantity / old.quantity if old.quantity else Decimal(1)
    adjustments = tuple(
        a if share == 1 else a.model_copy(update={"amount": (a.amount * share).quantize(CENT)})
        for a in old.allowance_charges
    )
    return line.model_copy(
        update={"discount_percent": old.discount_percent, "allowance_charges": adjustments}
    )
