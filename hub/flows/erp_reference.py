"""Flow erp_reference_check: read catalogue, customers and stock from the ERP and report gaps."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

from hub.bootstrap import Hub
from transforms.edifact_orders_allowances import ADJUSTMENT_PRODUCTS


def erp_reference_check(hub: Hub, *, max_parties: int | str = 100_000) -> dict[str, Any]:
    """Counts, products without GTIN, customers without GLN/VAT, products without stock.

    The data that EDI and CRM mapping depend on: a product without GTIN cannot be ordered by
    EDI, a customer without GLN cannot be matched to a partner's NAD. The services the hub
    sells order-level allowances and charges as (ALLOWANCE, CHARGE-7...) are never ordered by
    GTIN nor stocked: they are counted but not reported as gaps.
    """
    erp = hub.erp
    catalogue = erp.list_products()
    products = [p for p in catalogue if p.code not in ADJUSTMENT_PRODUCTS]
    parties = erp.parties_changed_since(None, limit=int(max_parties))
    stock = erp.stock_levels()
    on_hand: dict[str, Decimal] = {}
    for level in stock:
        on_hand[level.product_code] = on_hand.get(level.product_code, Decimal(0)) + level.quantity
    gtins = Counter(p.gtin for p in products if p.gtin)
    report: dict[str, Any] = {
        "status": "ok",
        "products": len(catalogue),
        "adjustment_services": len(catalogue) - len(products),
        "products_with_gtin": sum(1 for p in products if p.gtin),
        "parties": len(parties),
        "parties_with_gln": sum(1 for p in parties if p.gln),
        "stock_locations": len({s.location for s in stock}),
        "stock_units_on_hand": str(sum(on_hand.values(), Decimal(0))),
        "products_missing_gtin": sorted(p.code for p in products if not p.gtin),
        "duplicate_gtins": sorted(g for g, n in gtins.items() if n > 1),
        "parties_missing_gln": sorted(p.code or p.erp_id or p.name for p in parties if not p.gln),
        "parties_missing_vat": sorted(p.code or p.erp_id or p.name for p in parties if not p.vat),
        "products_out_of_stock": sorted(p.code for p in products if on_hand.get(p.code, 0) <= 0),
    }
    if report["duplicate_gtins"]:
        report["status"] = "warning"
    return report
