"""Customer prices on Tryton: what the ERP would charge one customer for a quantity of a product.

The customer's sale price list (``sale_price_list``, with its quantity breaks) and the
order's currency are put in the context of a ``product.product`` read of
``sale_price_uom``: Tryton computes the price exactly as a sale line would get it (price
list formula, currency rate of the day). A price-list formula sees the unit, list and cost
prices but not the quantity, which only picks the list's line; so one read per group of
quantities reaching the same lines, not one per quantity.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from connectors.erp.tryton_records import TrytonRecords
from schemas.errors import PermanentError

SYSTEM = "erp"


def customer_prices(
    records: TrytonRecords,
    party_erp_id: str,
    currency: str,
    lines: Sequence[tuple[str, Decimal]],
) -> dict[tuple[str, Decimal], Decimal]:
    """(product code, quantity) -> the unit price the ERP charges this customer."""
    if not lines:
        return {}
    rows = records.party_rows_by_id([int(party_erp_id)])
    party = rows.get(int(party_erp_id))
    if party is None:
        raise PermanentError(f"customer {party_erp_id} is not in the ERP", system=SYSTEM)
    currency_id = records.currency_ids({currency}).get(currency)
    if currency_id is None:
        raise PermanentError(
            f"currency {currency} is not defined in the ERP", system=SYSTEM, code="unknown_currency"
        )
    products = records.product_rows_by_code(sorted({code for code, _ in lines}))
    breaks = _breaks(records, party.price_list)
    prices: dict[tuple[str, Decimal], Decimal] = {}
    for quantities in _classes({q for _, q in lines}, breaks):
        # one read per price-list break class: the formula cannot see the quantity
        quantity = min(quantities)
        codes = sorted({c for c, q in lines if q in quantities and c in products})
        if not codes:
            continue
        context: dict[str, Any] = {
            "quantity": float(quantity),
            "currency": currency_id,
            "customer": party.id,
        }
        if party.price_list:
            context["price_list"] = party.price_list
        found = records.rpc.model(
            "product.product", "read", [products[c].id for c in codes], ["sale_price_uom"],
            idempotent=True, context=context,
        )  # fmt: skip
        by_id = {r["id"]: r["sale_price_uom"] for r in found}
        for code, q in lines:
            value = by_id.get(products[code].id) if code in products else None
            if q in quantities and value is not None:
                prices[(code, q)] = Decimal(str(value))
    return prices


def _breaks(records: TrytonRecords, price_list: int | None) -> list[Decimal]:
    """The minimum quantities of the price list's lines (where its price may change)."""
    if not price_list:
        return []
    rows = records.search_read(
        "product.price_list.line", [("price_list", "=", price_list)], ["quantity"]
    )
    return sorted({Decimal(str(r["quantity"])) for r in rows if r.get("quantity") is not None})


def _classes(quantities: set[Decimal], breaks: list[Decimal]) -> list[set[Decimal]]:
    """The quantities grouped by the price-list lines they reach (Tryton applies a line
    when the quantity is at least the line's): within a group the price is the same."""
    groups: dict[int, set[Decimal]] = {}
    for q in quantities:
        groups.setdefault(sum(1 for b in breaks if q >= b), set()).add(q)
    return [groups[k] for k in sorted(groups)]
