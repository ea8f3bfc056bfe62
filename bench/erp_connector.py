"""Benchmark: create N orders of 10 lines through the Tryton connector against a sandbox ERP.

Prints orders/s and HTTP calls per order and per batch. Usage:
``python bench/erp_connector.py [--orders 500] [--batch 100] [--lines 10] [--json]``
(``--url/--database/--login/--password`` to use a running Tryton instead of a sandbox).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.erp.tryton import TrytonErp  # noqa: E402
from sandbox.erp_seed import catalogue, customers  # noqa: E402
from schemas.model import PartyRef, SalesOrder, SalesOrderLine  # noqa: E402


def make_orders(count: int, lines: int, run: str, *, priced: bool) -> list[SalesOrder]:
    """Deterministic orders spread over the seed's customers and catalogue."""
    items, buyers = catalogue(), customers()
    return [
        SalesOrder(
            order_number=f"BENCH-{run}-{n:05d}",
            order_date=dt.date.today(),
            buyer=PartyRef(gln=buyers[n % len(buyers)].gln),
            currency="EUR",
            lines=tuple(
                SalesOrderLine(
                    line_no=k + 1,
                    gtin=items[(n + k) % len(items)].gtin,
                    quantity=Decimal((n * 7 + k * 3) % 12 + 1),
                    unit_price=items[(n + k) % len(items)].list_price if priced else None,
                )
                for k in range(lines)
            ),
        )
        for n in range(count)
    ]


def run(
    erp: TrytonErp, orders: list[SalesOrder], batch: int, state: str = "confirmed"
) -> dict[str, object]:
    """Create the orders batch by batch (confirmed); return the figures."""
    erp.list_products(limit=1)  # login outside the measurement
    calls_before = erp.calls
    started = time.perf_counter()
    batch_calls = []
    failed = 0
    for start in range(0, len(orders), batch):
        before = erp.calls
        results = erp.create_sales(orders[start : start + batch], state=state)  # type: ignore[arg-type]
        failed += sum(1 for r in results if not r.ok)
        batch_calls.append(erp.calls - before)
    elapsed = time.perf_counter() - started
    calls = erp.calls - calls_before
    return {
        "orders": len(orders),
        "state": state,
        "lines_per_order": len(orders[0].lines) if orders else 0,
        "batch_size": batch,
        "batches": len(batch_calls),
        "failed": failed,
        "seconds": round(elapsed, 2),
        "orders_per_s": round(len(orders) / elapsed, 1) if elapsed else 0.0,
        "http_calls": calls,
        "http_calls_per_order": round(calls / len(orders), 3) if orders else 0.0,
        "http_calls_per_batch_max": max(batch_calls) if batch_calls else 0,
        "http_calls_per_batch_min": min(batch_calls) if batch_calls else 0,
        "seconds_by_method": {
            m: round(v, 2)
            for m, v in sorted(erp.rpc.seconds.items(), key=lambda kv: -kv[1])
            if v >= 0.05
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--lines", type=int, default=10)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument(
        "--unpriced",
        action="store_true",
        help="let the ERP price the lines (price list): +1 call per quantity",
    )
    parser.add_argument("--state", default="confirmed", choices=["draft", "quotation", "confirmed"])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--url")
    parser.add_argument("--database")
    parser.add_argument("--login", default="admin")
    parser.add_argument("--password")
    args = parser.parse_args()

    orders = make_orders(args.orders, args.lines, uuid.uuid4().hex[:6], priced=not args.unpriced)
    if args.url:
        erp = TrytonErp.connect(args.url, args.database, args.login, args.password or "")
        figures = run(erp, orders, args.batch, args.state)
    else:
        from sandbox.erp import SandboxErp

        with SandboxErp() as server:
            erp = TrytonErp.connect(server.url, server.database, server.login, server.password)
            figures = run(erp, orders, args.batch, args.state)
    figures["priced_by"] = "erp price list" if args.unpriced else "order"
    if args.json:
        print(json.dumps(figures))
        return
    print(
        f"{figures['orders']} orders x {figures['lines_per_order']} lines in "
        f"{figures['batches']} batches of {figures['batch_size']} to {figures['state']}: "
        f"{figures['seconds']} s, "
        f"{figures['orders_per_s']} orders/s"
    )
    print(
        f"HTTP calls: {figures['http_calls']} total, {figures['http_calls_per_order']} per order, "
        f"{figures['http_calls_per_batch_min']}-{figures['http_calls_per_batch_max']} per batch "
        f"(failed orders: {figures['failed']})"
    )
    print(f"server time by method: {figures['seconds_by_method']}")


if __name__ == "__main__":
    main()
