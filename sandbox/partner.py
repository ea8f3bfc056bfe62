"""A simulated trading partner: writes EANCOM ORDERS interchanges into a hub inbox."""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from connectors.edi import Delimiters, OutboundMessage, build_interchange
from connectors.edi.serializer import render_interchange
from hub.edi_out import to_segments
from schemas.model import PartyRef, Product, SalesOrder, SalesOrderLine
from transforms.edifact_orders import sales_order_to_orders

ORDERS_D96A = "ORDERS:D:96A:UN:EAN008"
ORDERS_D01B = "ORDERS:D:01B:UN:EAN010"


def make_orders(
    buyer_gln: str,
    supplier_gln: str,
    products: Sequence[Product],
    *,
    count: int,
    lines: int = 3,
    prefix: str = "PO",
    seed: int = 0,
    order_date: date = date(2026, 11, 2),
    with_prices: bool = True,
) -> list[SalesOrder]:
    """Deterministic orders over the given catalogue."""
    rng = random.Random(seed)
    with_gtin = [p for p in products if p.gtin]
    orders = []
    for n in range(count):
        picked = rng.sample(with_gtin, min(lines, len(with_gtin)))
        orders.append(
            SalesOrder(
                order_number=f"{prefix}{seed:03d}{n:05d}",
                order_date=order_date,
                requested_delivery_date=order_date + timedelta(days=3),
                buyer=PartyRef(gln=buyer_gln),
                supplier=PartyRef(gln=supplier_gln),
                delivery=PartyRef(gln=buyer_gln),
                currency="EUR",
                notes=(f"demo order {n + 1}",),
                lines=tuple(
                    SalesOrderLine(
                        line_no=i + 1,
                        gtin=p.gtin,
                        quantity=Decimal(rng.randint(1, 12)),
                        unit_price=p.list_price if with_prices else None,
                    )
                    for i, p in enumerate(picked)
                ),
            )
        )
    return orders


def orders_interchange(
    orders: Sequence[SalesOrder],
    *,
    sender: str,
    recipient: str,
    control_ref: str,
    message_type: str = ORDERS_D96A,
    syntax_identifier: str = "UNOC",
    decimal_mark: str = ".",
    una: bool = True,
    newline: bool = True,
    prepared: datetime = datetime(2026, 11, 2, 8, 30),
    test: bool = False,
) -> bytes:
    """One interchange holding one ORDERS message per order."""
    messages = [
        OutboundMessage(
            message_type,
            str(i + 1),
            to_segments(sales_order_to_orders(o, decimal_mark=decimal_mark)),
        )
        for i, o in enumerate(orders)
    ]
    segments = build_interchange(
        messages,
        sender=sender,
        recipient=recipient,
        control_ref=control_ref,
        prepared=prepared,
        syntax_identifier=syntax_identifier,
        test=test,
    )
    return render_interchange(segments, Delimiters(decimal=decimal_mark), una=una, newline=newline)


def drop(inbox: Path, name: str, data: bytes, *, age_seconds: float = 60.0) -> Path:
    """Put a file in an inbox as a partner's upload would (complete, old enough to pick up)."""
    inbox.mkdir(parents=True, exist_ok=True)
    path = inbox / name
    tmp = inbox / f".{name}.part"
    tmp.write_bytes(data)
    os.replace(tmp, path)
    past = datetime.now().timestamp() - age_seconds
    os.utime(path, (past, past))
    return path
