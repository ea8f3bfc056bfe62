"""Canonical sales model and configuration models shared by every layer of the hub.

The names below load on first use (PEP 562): ``schemas.errors`` (imported by the EDIFACT
codec and the CLI) must not import pydantic, which alone costs ~0.3 s of `hub` start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from schemas.model import (
        Address,
        CanonicalModel,
        Contact,
        ContactMechanism,
        ErpSale,
        ErpSaleLine,
        Invoice,
        InvoiceLine,
        Money,
        Package,
        Party,
        PartyRef,
        Product,
        SalesOrder,
        SalesOrderLine,
        Shipment,
        ShipmentLine,
        StockLevel,
        TaxLine,
        content_hash,
    )


def __getattr__(name: str) -> Any:
    if name in __all__:
        from schemas import model

        return getattr(model, name)
    raise AttributeError(f"module 'schemas' has no attribute {name!r}")


__all__ = [
    "Address",
    "CanonicalModel",
    "Contact",
    "ContactMechanism",
    "ErpSale",
    "ErpSaleLine",
    "Invoice",
    "InvoiceLine",
    "Money",
    "Package",
    "Party",
    "PartyRef",
    "Product",
    "SalesOrder",
    "SalesOrderLine",
    "Shipment",
    "ShipmentLine",
    "StockLevel",
    "TaxLine",
    "content_hash",
]
