"""Benchmark: create N orders of 10 lines through the Tryton connector against a sandbox ERP.

Prints orders/s and HTTP calls per order and per batch, one progress line per batch on
stderr. Usage:
``python bench/erp_connector.py [--orders 500] [--batch 100] [--lines 10] [--timeout 120]
[--json]`` (``--url/--database/--login/--password`` to use a running Tryton instead of a
sandbox).

Under load a batch can fail with a transient error (a JSON-RPC read timeout on a read once
the connector's 120 s retry budget is spent, a 504, a lock) or an unknown outcome (a lost
answer to a ``create`` of any size: re-raised, never created again one by one; or a lost
``quote``/``confirm`` answer whose sales' states could not be read back; when they can, a
sale still before the step is a failed order with a retryable error, never a refusal): the
batch is recorded with its step (the RPC method in flight), how long that call and the batch
had run and the error, and the next batch goes on; the figures cover the batches that
completed. Exit 0 when any batch completed (failed batches are in the figures), 1 when none
did, 2 on a setup error (wrong URL or credentials, no ERP).
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
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.erp.tryton import TrytonErp  # noqa: E402
from connectors.http import new_session  # noqa: E402
from sandbox.erp_seed import catalogue, customers  # noqa: E402
from schemas.errors import HubError, OutcomeUnknownError, TransientError  # noqa: E402
from schemas.model import PartyRef, SalesOrder, SalesOrderLine  # noqa: E402

# a batch failing with these is load, not a broken setup: record it, go on
BATCH_ERRORS = (TransientError, OutcomeUnknownError)


class TracedSession(requests.Session):
    """The connector's HTTP session (pooled as ``new_session``), noting the JSON-RPC method
    in flight and when it was sent, so a failed batch names its step and how long it waited."""

    def __init__(self) -> None:
        super().__init__()
        pooled = new_session()
        self.headers.update(pooled.headers)
        for prefix, adapter in pooled.adapters.items():
            self.mount(prefix, adapter)
        self.method = ""
        self.sent = 0.0

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        body = kwargs.get("json")
        self.method = str(body.get("method", "")) if isinstance(body, dict) else ""
        self.sent = time.perf_counter()
        return super().request(method, url, *args, **kwargs)


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


def failed_batch(
    number: int, first: int, size: int, started: float, session: TracedSession, exc: HubError
) -> dict[str, Any]:
    """What a failed batch reports: which orders, which step, after how long, and why."""
    now = time.perf_counter()
    return {
        "batch": number,
        "orders": f"{first + 1}-{first + size}",
        "step": session.method or "?",
        "step_seconds": round(now - session.sent, 1) if session.sent else None,
        "batch_seconds": round(now - started, 1),
        "error": type(exc).__name__,
        "retryable": exc.retryable,
        "message": str(exc),
    }


def run(
    erp: TrytonErp,
    session: TracedSession,
    orders: list[SalesOrder],
    batch: int,
    state: str = "confirmed",
) -> dict[str, Any]:
    """Create the orders batch by batch (confirmed); return the figures."""
    erp.list_products(limit=1)  # login outside the measurement
    calls_before = erp.calls
    started = time.perf_counter()
    batch_calls: list[int] = []
    slowest: list[dict[str, float]] = []  # per completed batch: seconds of its slowest steps
    done_seconds, done_orders, refused = 0.0, 0, 0
    failures: list[dict[str, Any]] = []
    batches = range(0, len(orders), batch)
    for number, first in enumerate(batches, 1):
        chunk = orders[first : first + batch]
        before, began, by_method = erp.calls, time.perf_counter(), dict(erp.rpc.seconds)
        try:
            results = erp.create_sales(chunk, state=state)  # type: ignore[arg-type]
        except BATCH_ERRORS as exc:
            failures.append(failed_batch(number, first, len(chunk), began, session, exc))
            progress(f"batch {number}/{len(batches)} FAILED at {failures[-1]['step']} after "
                     f"{failures[-1]['step_seconds']} s: {exc}")  # fmt: skip
            continue
        seconds = time.perf_counter() - began
        done_seconds, done_orders = done_seconds + seconds, done_orders + len(chunk)
        refused += sum(1 for r in results if not r.ok)
        batch_calls.append(erp.calls - before)
        slowest.append(step_seconds(erp.rpc.seconds, by_method))
        progress(f"batch {number}/{len(batches)}: {len(chunk)} orders in {seconds:.1f} s, "
                 f"{batch_calls[-1]} HTTP calls, slowest steps {slowest[-1]}")  # fmt: skip
    return figures(erp, state, orders, batch, batch_calls, failures) | {
        "batch_steps_seconds": slowest,
        "orders_done": done_orders,
        "failed": refused,
        "seconds": round(time.perf_counter() - started, 2),
        "seconds_done": round(done_seconds, 2),
        "orders_per_s": round(done_orders / done_seconds, 1) if done_seconds else 0.0,
        "http_calls": erp.calls - calls_before,
        "http_calls_per_order": (round(sum(batch_calls) / done_orders, 3) if done_orders else 0.0),
    }


def step_seconds(now: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    """The batch's three slowest RPC methods (e.g. ``confirm``) and their seconds."""
    spent = {m.removeprefix("model."): v - before.get(m, 0.0) for m, v in now.items()}
    top = sorted(spent.items(), key=lambda kv: -kv[1])[:3]
    return {m: round(v, 1) for m, v in top if v >= 0.05}


def figures(
    erp: TrytonErp,
    state: str,
    orders: list[SalesOrder],
    batch: int,
    batch_calls: list[int],
    failures: list[dict[str, Any]],
) -> dict[str, Any]:
    """The run's shape and per-batch figures (completed batches only)."""
    return {
        "orders": len(orders),
        "state": state,
        "lines_per_order": len(orders[0].lines) if orders else 0,
        "batch_size": batch,
        "batches": len(batch_calls) + len(failures),
        "failed_batches": failures,
        "http_calls_per_batch_max": max(batch_calls) if batch_calls else 0,
        "http_calls_per_batch_min": min(batch_calls) if batch_calls else 0,
        "seconds_by_method": {
            m: round(v, 2)
            for m, v in sorted(erp.rpc.seconds.items(), key=lambda kv: -kv[1])
            if v >= 0.05
        },
    }


def progress(line: str) -> None:
    """One line on stderr, at once (a batch under load can take minutes)."""
    print(line, file=sys.stderr, flush=True)


def print_human(figures: dict[str, Any], timeout: float) -> None:
    print(
        f"{figures['orders_done']} of {figures['orders']} orders x {figures['lines_per_order']} "
        f"lines in {figures['batches']} batches of {figures['batch_size']} to "
        f"{figures['state']}: {figures['seconds_done']} s in completed batches "
        f"({figures['seconds']} s in all), {figures['orders_per_s']} orders/s"
    )
    print(
        f"HTTP calls: {figures['http_calls']} total, {figures['http_calls_per_order']} per "
        f"completed order, {figures['http_calls_per_batch_min']}-"
        f"{figures['http_calls_per_batch_max']} per completed batch (orders refused: "
        f"{figures['failed']})"
    )
    print(f"server time by method: {figures['seconds_by_method']}")
    for f in figures["failed_batches"]:
        print(
            f"FAILED batch {f['batch']} (orders {f['orders']}): {f['error']} at {f['step']} "
            f"after {f['step_seconds']} s (batch {f['batch_seconds']} s, read timeout "
            f"{timeout:g} s, retryable: {f['retryable']}): {f['message']}"
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--lines", type=int, default=10)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="JSON-RPC read timeout in seconds (the hub_erp connection's default: 120)",
    )
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
    return parser.parse_args()


def measure(args: argparse.Namespace, orders: list[SalesOrder]) -> dict[str, Any]:
    """Run the batches against ``--url`` or a sandbox ERP started for the run."""
    session = TracedSession()
    options = {"timeout": (5.0, args.timeout), "session": session}
    if args.url:
        erp = TrytonErp.connect(args.url, args.database, args.login, args.password or "", **options)
        return run(erp, session, orders, args.batch, args.state)
    from sandbox.erp import SandboxErp

    with SandboxErp() as server:
        erp = TrytonErp.connect(
            server.url, server.database, server.login, server.password, **options
        )
        return run(erp, session, orders, args.batch, args.state)


def main() -> int:
    args = parse_args()
    orders = make_orders(args.orders, args.lines, uuid.uuid4().hex[:6], priced=not args.unpriced)
    try:
        result = measure(args, orders)
    except HubError as exc:  # not load: a setup the benchmark cannot run against
        print(f"benchmark not run: {exc}", file=sys.stderr)
        return 2
    result["priced_by"] = "erp price list" if args.unpriced else "order"
    if args.json:
        print(json.dumps(result))
    else:
        print_human(result, args.timeout)
    return 0 if result["orders_done"] else 1


if __name__ == "__main__":
    sys.exit(main())
