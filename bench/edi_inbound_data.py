"""Data and the memory run of the inbound benchmark (``bench/edi_inbound.py``).

``write_orders_file`` writes one interchange of varied ORDERS to a file chunk by chunk (the
generator's memory does not grow with the file): every order has its own number, 4-12
lines (8 on average) drawn from the catalogue, quantities in pack sizes 1-120 (16 sizes), order and
delivery dates spread over two years, and a free text; one order in three carries a
released service character (``O'NEIL`` is sent as ``O?'NEIL``). Prices are the customer's
agreed prices (or the catalogue's), so every order is created.

``python bench/edi_inbound_data.py FILE`` runs the inbound flow on FILE against
``IndexedFakeErp`` (the FakeErp with its look-ups indexed and its sales kept as ids only:
the plain fake scans every sale per order and keeps them all, which would time and weigh
the fake, not the hub) and prints one JSON line: peak RSS of this process, seconds, counts.
"""

from __future__ import annotations

import json
import random
import resource
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stdnum import ean  # noqa: E402

from connectors.edi import Delimiters, OutboundMessage, Segment, build_interchange  # noqa: E402
from connectors.edi.serializer import encode, serialize  # noqa: E402
from connectors.erp.fake import FakeErp  # noqa: E402
from connectors.erp.port import SaleResult, TargetState  # noqa: E402
from hub.edi_out import to_segments  # noqa: E402
from schemas.model import (  # noqa: E402
    ErpSale,
    Party,
    PartyRef,
    Product,
    SalesOrder,
    SalesOrderLine,
)
from transforms.edifact_orders import sales_order_to_orders  # noqa: E402

PARTNER = "kaufhaus-nord"
NORD = "4300000000014"  # kaufhaus-nord's GLN (config/partners/kaufhaus-nord.yaml)
US = "4006389999993"
ORDERS_TYPE = "ORDERS:D:96A:UN:EAN008"
# order quantities: pack sizes and their multiples, as retail orders come
PACKS = tuple(Decimal(q) for q in (1, 2, 3, 4, 5, 6, 8, 10, 12, 20, 24, 36, 48, 60, 100, 120))
_WORDS = ("RAMP", "DOCK", "GATE", "NORTH", "DOOR", "CALL", "BEFORE", "DELIVERY", "PALLET",
          "URGENT", "KEEP", "DRY", "BACK")  # fmt: skip


def catalogue(size: int = 500, seed: int = 7) -> list[Product]:
    """``size`` products with valid GTINs and list prices 0.50..199.99 EUR."""
    rng = random.Random(seed)
    products = []
    for n in range(size):
        body = f"40{rng.randrange(10**10):010d}"
        products.append(
            Product(
                code=f"BENCH-{n:04d}",
                name=f"Bench product {n}",
                gtin=body + ean.calc_check_digit(body),
                list_price=Decimal(rng.randint(50, 19999)) / 100,
                currency="EUR",
            )
        )
    return products


def varied_orders(
    products: Sequence[Product],
    count: int,
    *,
    prefix: str,
    seed: int = 11,
    prices: Mapping[tuple[str, Decimal], Decimal] | None = None,
) -> Iterator[SalesOrder]:
    """``count`` orders over ``products``, each different (see the module docstring);
    ``prices``: (product code, quantity) -> the customer's agreed price (else list price)."""
    rng = random.Random(seed)
    agreed = prices or {}
    with_gtin = [p for p in products if p.gtin]
    for n in range(count):
        ordered = date(2025, 1, 1) + timedelta(days=rng.randrange(700))
        words = [rng.choice(_WORDS) for _ in range(rng.randint(2, 6))]
        if n % 3 == 0:
            words.append("O'NEIL")
        picked = rng.sample(with_gtin, min(rng.randint(4, 12), len(with_gtin)))
        yield SalesOrder(
            order_number=f"{prefix}{n:07d}",
            order_date=ordered,
            requested_delivery_date=ordered + timedelta(days=rng.randint(1, 30)),
            buyer=PartyRef(gln=NORD),
            supplier=PartyRef(gln=US),
            delivery=PartyRef(gln=NORD),
            currency="EUR",
            notes=(" ".join(words),),
            lines=tuple(
                SalesOrderLine(
                    line_no=i + 1,
                    gtin=p.gtin,
                    quantity=qty,
                    unit_price=agreed.get((p.code, qty), p.list_price),
                )
                for i, (p, qty) in enumerate((p, rng.choice(PACKS)) for p in picked)
            ),
        )


def write_orders_file(
    path: Path, orders: Iterator[SalesOrder], *, control_ref: str, chunk: int = 2000
) -> int:
    """One interchange holding every order of ``orders`` (UNOC); returns the message count."""
    d = Delimiters()
    header = build_interchange(
        [OutboundMessage(ORDERS_TYPE, "1", [])], sender=NORD, recipient=US, control_ref=control_ref,
        prepared=datetime(2026, 11, 2, 8, 30), syntax_identifier="UNOC",
    )[0]  # fmt: skip
    count = 0
    with path.open("wb") as out:
        out.write(encode(serialize([header], d, una=True, newline=True), "UNOC"))
        batch: list[OutboundMessage] = []
        for order in orders:
            count += 1
            batch.append(OutboundMessage(ORDERS_TYPE, str(count), to_segments(
                sales_order_to_orders(order))))  # fmt: skip
            if len(batch) >= chunk:
                out.write(_messages(batch, d))
                batch = []
        out.write(_messages(batch, d))
        unz = Segment.of("UNZ", [str(count), control_ref])
        out.write(encode(serialize([unz], d, una=False, newline=True), "UNOC"))
    return count


def _messages(batch: list[OutboundMessage], d: Delimiters) -> bytes:
    if not batch:
        return b""
    segments = build_interchange(
        batch, sender=NORD, recipient=US, control_ref="1",
        prepared=datetime(2026, 11, 2, 8, 30), syntax_identifier="UNOC",
    )[1:-1]  # fmt: skip  # UNH..UNT of each message, without this chunk's UNB/UNZ
    return encode(serialize(segments, d, una=False, newline=True), "UNOC")


class IndexedFakeErp(FakeErp):
    """The FakeErp with indexed look-ups that keeps only the ids of the sales it made, in
    an SQLite file (``work``), so the fake's memory does not grow with the file either."""

    def __init__(self, work: Path) -> None:
        super().__init__()
        self._by_gtin: dict[str, Product] = {}
        self._made = sqlite3.connect(work / "fake-erp-sales.sqlite", check_same_thread=False)
        self._made.execute(
            "create table made (party text, reference text, erp_id text, "
            "primary key (party, reference))"
        )

    def add_product(self, product: Product, *, stock: int = 0) -> Product:  # type: ignore[override]
        added: Product = super().add_product(product, stock=stock)
        if added.gtin:
            self._by_gtin[added.gtin] = added
        return added

    def _product(self, order: SalesOrder, line: SalesOrderLine) -> Product:
        found = self._by_gtin.get(line.gtin or "")
        return found if found is not None else super()._product(order, line)

    def _find_sale(self, party_erp_id: str, reference: str) -> ErpSale | None:
        row = self._made.execute(
            "select erp_id from made where party = ? and reference = ?",
            (party_erp_id, reference),
        ).fetchone()
        return self.sales.get(row[0]) if row else None

    def create_sales(
        self, orders: Sequence[SalesOrder], *, state: TargetState = "confirmed"
    ) -> list[SaleResult]:
        results = super().create_sales(orders, state=state)
        made = [(r.sale.party_erp_id, r.sale.reference or "", r.sale.erp_id)
                for r in results if r.sale is not None]  # fmt: skip
        self._made.executemany("insert or replace into made values (?, ?, ?)", made)
        self._made.commit()
        self.sales.clear()  # the ids above are all a repeat needs to find "already made"
        return results


def memory_run(path: Path, batch_size: int, work_root: str | None = None) -> dict[str, Any]:
    """The inbound flow on ``path`` against ``IndexedFakeErp``; peak RSS of this process
    (ledger, mailboxes and archive under ``work_root``, default the temp directory)."""
    from hub.bootstrap import Hub
    from hub.config import load_partners
    from hub.flows.edi_inbound import edi_orders_inbound
    from hub.ledger import Ledger

    work = Path(tempfile.mkdtemp(prefix="hub-bench-rss-", dir=work_root))
    erp = IndexedFakeErp(work)
    for product in catalogue():
        erp.add_product(product, stock=10**6)
    erp.create_parties([Party(name="Kaufhaus Nord GmbH", gln=NORD, code="CUST-001")])
    ledger = Ledger(f"sqlite:///{work / 'ledger.sqlite'}")
    ledger.upgrade()
    hub = Hub(ledger, erp=erp, home=work / "home", partners=load_partners())
    inbox: Path = hub.mailbox(hub.partners[PARTNER]).inbox  # type: ignore[attr-defined]
    inbox.mkdir(parents=True, exist_ok=True)
    _link(path, inbox / path.name)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started, cpu = time.perf_counter(), time.process_time()
    report = edi_orders_inbound(hub, partner=PARTNER, batch_size=batch_size)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "orders": report["messages_in"],
        "orders_created": report["orders_created"],
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu, 1),  # what a shared machine's load moves least
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_mb_before_the_flow": round(before, 1),
        "work": str(work),
    }


def _link(source: Path, target: Path) -> None:
    """Hard-link the file into the inbox (no copy of 100 MB; the flow removes the link)."""
    import os
    import shutil

    try:
        os.link(source, target)
    except OSError:  # another file system
        shutil.copyfile(source, target)
    past = time.time() - 3600
    os.utime(target, (past, past))


if __name__ == "__main__":
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    print(
        json.dumps(memory_run(Path(sys.argv[1]), size, sys.argv[3] if len(sys.argv) > 3 else None))
    )
