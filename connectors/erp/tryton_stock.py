"""Stock on Tryton: quantities on hand per warehouse, customer shipments and their tracking."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from connectors.erp.jsonrpc import SYSTEM
from connectors.erp.tryton_records import TrytonRecords
from schemas.errors import PermanentError
from schemas.model import Shipment, StockLevel
from transforms import erp_tryton as tt
from transforms import erp_tryton_documents as td


def stock_levels(
    records: TrytonRecords, product_codes: Sequence[str] | None, warehouse: str | None
) -> list[StockLevel]:
    """One read per warehouse of every goods product's quantity (or of ``product_codes``)."""
    warehouses = records.warehouse_ids()
    if warehouse is not None:
        if warehouse not in warehouses:
            raise PermanentError(
                f"warehouse {warehouse!r} is unknown to the ERP (known: "
                f"{', '.join(sorted(warehouses))})",
                system=SYSTEM,
            )
        warehouses = {warehouse: warehouses[warehouse]}
    domain: list[Any] = [("type", "=", "goods")]
    if product_codes is not None:
        domain.append(("code", "in", sorted(set(product_codes))))
    as_of = dt.datetime.now(dt.UTC)
    levels = []
    for code, location_id in sorted(warehouses.items()):
        rows = records.search_read(
            "product.product",
            domain,
            tt.STOCK_FIELDS,
            order=[("id", "ASC")],
            context={"locations": [location_id], "with_childs": True},
        )
        levels += [tt.to_stock_level(r, code, as_of) for r in rows]
    return levels


def shipments_changed_since(
    records: TrytonRecords, since: dt.datetime | None, *, limit: int = 200
) -> list[Shipment]:
    """Customer shipments changed at/after ``since``, oldest first; four reads in all."""
    rows = records.search_read(
        "stock.shipment.out",
        tt.changed_domain(since),
        td.SHIPMENT_FIELDS,
        limit=limit,
        order=tt.CHANGED_ORDER,
    )
    moves = [m for r in rows for m in tt.nested(r, "outgoing_moves")]
    origins = records.origins(m.get("origin") for m in moves)
    products = records.product_refs({m["product"] for m in moves if m.get("product")})
    customers = records.party_refs({r["customer"] for r in rows})
    return [td.to_shipment(r, customers, products, origins) for r in rows]


def set_shipment_tracking(records: TrytonRecords, erp_id: str, tracking_number: str) -> None:
    """The carrier's tracking number as the shipment's reference."""
    records.rpc.model(
        "stock.shipment.out",
        "write",
        [tt.record_id(erp_id)],
        {"reference": tracking_number},
        idempotent=True,
    )
