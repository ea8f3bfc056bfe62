"""Customer prices on Tryton: what the ERP would charge one customer for a quantity of a product.

The customer's sale price list (``sale_price_list``, with its quantity breaks) and the
order's currency are put in the context of one ``product.product`` read of
``sale_price_uom`` per (quantity, currency) group: Tryton computes the price exactly as a
sale line would get it (price list formula, currency rate of the day).
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
    prices: dict[tuple[str, Decimal], Decimal] = {}
    for quantity in sorted({q for _, q in lines}):
        codes = sorted({c for c, q in lines if q == quantity and c in products})
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
        for code in codes:
            value = by_id.get(products[code].id)
            if value is not None:
                prices[(code, quantity)] = Decimal(str(value))
    return prices
