"""Stock-aware order answers: per line accepted, changed quantity, backorder or not available.

Pure: the order, the quantity the ERP has per product (already net of what earlier orders
of the batch took) and the partner's policy in; the order the ERP sale is made of and one
decision per line out. A product short of stock is either backordered (the sale keeps the
ordered quantity, the ORDRSP says how much now and how much by which date) when the
partner accepts backorders, or reduced to what is there (changed quantity); nothing there
and no backorders: not available (the line is left out of the sale).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from schemas.model import SalesOrder

ACCEPTED, CHANGED, BACKORDER, NOT_AVAILABLE = "accepted", "changed", "backorder", "not_available"


@dataclass(frozen=True)
class LineDecision:
    """What the hub answers for one ordered line."""

    status: str  # accepted | changed | backorder | not_available
    now: Decimal  # the quantity confirmed from stock
    later: Decimal = Decimal(0)  # backordered quantity
    by: date | None = None  # when the backorder is expected


def plan(
    order: SalesOrder,
    available: dict[str, Decimal],
    *,
    backorder_days: int | None,
) -> tuple[SalesOrder | None, dict[int, LineDecision]]:
    """(the order to make the sale of, or None when no line is left; decisions by line).

    ``available`` (product code -> quantity) is decremented by what this order takes, so a
    batch's orders share the stock in message order. Lines need ``product_code`` set."""
    decisions: dict[int, LineDecision] = {}
    lines = []
    for line in order.lines:
        code = line.product_code or ""
        have = max(available.get(code, Decimal(0)), Decimal(0))
        if have >= line.quantity:
            decisions[line.line_no] = LineDecision(ACCEPTED, line.quantity)
            available[code] = have - line.quantity
            lines.append(line)
        elif backorder_days is not None:
            by = order.order_date + timedelta(days=backorder_days)
            decisions[line.line_no] = LineDecision(BACKORDER, have, line.quantity - have, by)
            available[code] = Decimal(0)
            lines.append(line)
        elif have > 0:
            decisions[line.line_no] = LineDecision(CHANGED, have)
            available[code] = Decimal(0)
            lines.append(line.model_copy(update={"quantity": have}))
        else:
            decisions[line.line_no] = LineDecision(NOT_AVAILABLE, Decimal(0))
    if not lines:
        return None, decisions
    return order.model_copy(update={"lines": tuple(lines)}), decisions
