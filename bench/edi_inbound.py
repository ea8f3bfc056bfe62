"""Benchmark: EDI order intake against the ERP's own ceiling, and a 100 MB file in bounded memory.

Intake, per concurrency (default 1, 2, 4), in one run against one sandbox Tryton on
PostgreSQL with ``--workers`` trytond worker processes:

- ``erp_ceiling_orders_per_s``: the ERP's own ceiling, a plain JSON-RPC loop (no hub)
  creating and confirming the same sales (``sale.sale`` create, quote, confirm per batch of
  ``--batch`` orders, ``concurrency`` threads; the sale values are prepared before the clock
  starts);
- ``orders_per_s``: the hub end to end, a file of ``--orders`` varied ORDERS in the partner's
  inbox -> confirmed sales -> CONTRL and one ORDRSP per order written, the inbound flow
  with ``batch_size=--batch`` and the same ``concurrency``;
- ``ratio``: the second over the first (the ceiling is measured just before and just after
  the hub's run and averaged, as the load of a shared machine moves); and where the hub's
  time goes: ERP create/quote/confirm, the ERP look-ups the hub adds (parties, products,
  the customer's prices, sales already made, the read back), the hub's own work.

Memory (``--rss-mb``, default 100; 0 skips it): a file of that size and one a tenth of it,
each through the inbound flow against the indexed FakeErp in a subprocess of its own
(``bench/edi_inbound_data.py``, its ledger, mailboxes and archive under ``--flow-dir``),
which reports its peak RSS and time; ``time_ratio_10x`` is the big file's time over the
small one's (linear: about ``size_ratio``), ``rss_ratio_10x`` their peak RSS (bounded: ~1).

Usage: ``python bench/edi_inbound.py [--orders 300] [--batch 50] [--concurrency 1,2,4]
[--workers 4] [--rss-mb 100] [--flow-dir DIR] [--db postgresql://postgres@127.0.0.1:5432/]
[--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from edi_inbound_data import (  # noqa: E402
    NORD,
    PACKS,
    PARTNER,
    varied_orders,
    write_orders_file,
)

from connectors.erp.tryton import TrytonErp  # noqa: E402
from hub.bootstrap import Hub  # noqa: E402
from hub.config import load_partners  # noqa: E402
from hub.flows.edi_inbound import edi_orders_inbound  # noqa: E402
from hub.ledger import Ledger  # noqa: E402
from schemas.model import Product, SalesOrder  # noqa: E402
from transforms import erp_tryton_documents as td  # noqa: E402

HERE = Path(__file__).resolve().parent
Prices = dict[tuple[str, Decimal], Decimal]
WRITES = ("create", "quote", "confirm")  # what the ceiling does too; the rest are look-ups


def ceiling(erp: TrytonErp, orders: list[SalesOrder], batch: int, concurrency: int) -> float:
    """Orders/s of create + quote + confirm straight over JSON-RPC, ``concurrency`` threads."""
    records = erp.records
    gtins = sorted({ln.gtin for o in orders for ln in o.lines if ln.gtin})
    by_gtin = records.product_rows_by_gtin(gtins)
    party = records.party_rows_by_gln([NORD])[NORD]
    currencies = records.currency_ids({"EUR"})
    values = [td.sale_values(o, party, by_gtin, {}, currencies)[0] for o in orders]
    batches = [values[i : i + batch] for i in range(0, len(values), batch)]
    lock = threading.Lock()
    failed: list[BaseException] = []
    confirmed: list[int] = []

    def worker() -> None:
        while True:
            with lock:
                if not batches or failed:
                    return
                todo = batches.pop(0)
            try:
                ids = erp.rpc.model("sale.sale", "create", todo, idempotent=False)
                # Tryton refuses a second quote/confirm: a lost answer is never resent blindly
                erp.rpc.model("sale.sale", "quote", ids, idempotent=False)
                erp.rpc.model("sale.sale", "confirm", ids, idempotent=False)
            except Exception as exc:  # reported below: a ceiling that failed is no ceiling
                failed.append(exc)
                return
            with lock:
                confirmed.extend(ids)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    if failed or len(confirmed) != len(orders):
        raise RuntimeError(f"the ceiling run failed: {failed[:1]}, {len(confirmed)} confirmed")
    return len(orders) / seconds


def agreed_prices(erp: TrytonErp, products: list[Product]) -> Prices:
    """What the ERP charges the benchmark's customer per (product, pack size): the prices
    the partner's orders carry, as a partner with a price agreement sends them."""
    party = erp.find_parties_by_gln([NORD])[NORD]
    wanted = [(p.code, q) for p in products for q in PACKS]
    return erp.customer_prices(party.erp_id or "", "EUR", wanted)


def intake(
    erp: TrytonErp,
    products: list[Product],
    prices: Prices,
    work: Path,
    args: argparse.Namespace,
    c: int,
) -> dict[str, Any]:
    """The hub end to end at concurrency ``c``, and the ERP's ceiling on the same orders."""
    stamp = time.strftime("%H%M%S")

    def direct(tag: str) -> list[SalesOrder]:
        return list(varied_orders(products, args.orders, prefix=f"{tag}{c}{stamp}-", seed=c,
                                  prices=prices))  # fmt: skip

    before = ceiling(erp, direct("A"), args.batch, c)
    ledger = Ledger(f"sqlite:///{work / f'ledger-{c}.sqlite'}")
    ledger.upgrade()
    hub = Hub(ledger, erp=erp, home=work / f"home-{c}", partners=load_partners())
    inbox: Path = hub.mailbox(hub.partners[PARTNER]).inbox  # type: ignore[attr-defined]
    inbox.mkdir(parents=True, exist_ok=True)
    orders = varied_orders(products, args.orders, prefix=f"H{c}{stamp}-", seed=c, prices=prices)
    path = work / f"intake-{c}.edi"
    write_orders_file(path, orders, control_ref=f"{c}{stamp}")
    path.rename(inbox / path.name)
    past = time.time() - 3600  # older than the channel's min_age_seconds: ready
    os.utime(inbox / path.name, (past, past))
    erp.rpc.seconds.clear()
    calls = erp.calls
    started = time.perf_counter()
    report = edi_orders_inbound(hub, partner=PARTNER, batch_size=args.batch, concurrency=c)
    seconds = time.perf_counter() - started
    by_method = dict(erp.rpc.seconds)
    erp_seconds = sum(by_method.values())
    after = ceiling(erp, direct("B"), args.batch, c)  # A-hub-B: the load moves meanwhile
    ceiling_per_s = (before + after) / 2
    writes = sum(v for k, v in by_method.items() if k.rsplit(".", 1)[1] in WRITES)
    created = report["orders_created"]
    outbox: Path = hub.mailbox(hub.partners[PARTNER]).outbox  # type: ignore[attr-defined]
    ordrsp = sum(1 for p in outbox.iterdir() if p.name.startswith("ORDRSP"))
    per_s = created / seconds if seconds else 0.0
    if created != args.orders:
        print(json.dumps({k: v for k, v in report.items() if k != "details"}), file=sys.stderr)
        letters = hub.ledger.dead_letters()[:3]
        print("\n".join(d.reason for d in letters), file=sys.stderr)
    hub.close()
    return {
        "concurrency": c,
        "orders": created,
        "ordrsp_written": ordrsp,
        "seconds": round(seconds, 2),
        "orders_per_s": round(per_s, 2),
        "erp_ceiling_orders_per_s": round(ceiling_per_s, 2),
        "ratio": round(per_s / ceiling_per_s, 3) if ceiling_per_s else None,
        "erp_calls_per_order": round((erp.calls - calls) / created, 3) if created else None,
        "ceiling_calls_per_order": round(3 / args.batch, 3),
        "erp_call_seconds_per_order": round(erp_seconds / created, 4) if created else None,
        "erp_ceiling_before_after": [round(before, 2), round(after, 2)],
        "erp_seconds_by_method": {k: round(v, 2) for k, v in sorted(by_method.items())},
        # where the time goes, per order, ERP seconds summed over the threads
        "erp_write_s_per_order": round(writes / created, 4) if created else None,
        "erp_lookup_s_per_order": round((erp_seconds - writes) / created, 4) if created else None,
        "hub_s_per_order_outside_erp": (
            round((seconds - erp_seconds / c) / created, 4) if created else None
        ),
    }


def memory(rss_mb: int, batch: int, work: Path, flow_dir: str | None) -> dict[str, Any]:
    """Peak RSS and time of a ``rss_mb`` MB file and of one a tenth of it, each through the
    flow against the indexed FakeErp in a subprocess (its ledger, mailboxes and archive
    under ``flow_dir``)."""
    from edi_inbound_data import catalogue

    probe = work / "probe.edi"
    per_order = write_orders_file(
        probe, varied_orders(catalogue(), 1000, prefix="P"), control_ref="1"
    )
    bytes_per_order = probe.stat().st_size / per_order
    runs = {}
    for label, mb in (("small", rss_mb / 10), ("big", rss_mb)):
        count = int(mb * 1e6 / bytes_per_order)
        path = work / f"rss-{label}.edi"
        write_orders_file(
            path, varied_orders(catalogue(), count, prefix=f"M{label[0].upper()}"),
            control_ref=f"5{len(label)}",
        )  # fmt: skip
        command = [sys.executable, str(HERE / "edi_inbound_data.py"), str(path), str(batch)]
        out = subprocess.run(
            command + ([flow_dir] if flow_dir else []), check=True, capture_output=True, text=True,
        )  # fmt: skip
        runs[label] = json.loads(out.stdout.strip().splitlines()[-1])
        path.unlink(missing_ok=True)
    big, small = runs["big"], runs["small"]
    return {
        f"peak_rss_mb_{rss_mb}mb": big["peak_rss_mb"],
        f"peak_rss_mb_{rss_mb / 10:g}mb": small["peak_rss_mb"],
        "memory_runs": runs,
        # linear: 10x the orders take about 10x the time (and the same peak RSS)
        "size_ratio": round(big["orders"] / small["orders"], 2),
        "time_ratio_10x": round(big["seconds"] / small["seconds"], 2) if small["seconds"] else None,
        "cpu_time_ratio_10x": round(big["cpu_seconds"] / small["cpu_seconds"], 2),
        "rss_ratio_10x": round(big["peak_rss_mb"] / small["peak_rss_mb"], 2),
        "orders_per_s_fake_erp": round(big["orders"] / big["seconds"], 1),
        "flow_dir": flow_dir or tempfile.gettempdir(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300, help="orders per intake run")
    parser.add_argument("--batch", type=int, default=50, help="orders per ERP batch")
    parser.add_argument("--concurrency", default="1,2,4")
    parser.add_argument("--workers", type=int, default=4, help="trytond worker processes")
    parser.add_argument("--db", default="postgresql://postgres@127.0.0.1:5432/")
    parser.add_argument("--rss-mb", type=int, default=100, help="0: no memory run")
    parser.add_argument("--no-erp", action="store_true", help="only the memory run")
    where = "memory run: its ledger, mailboxes, archive (/dev/shm: not a shared disk's time)"
    parser.add_argument("--flow-dir", help=where)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hub-bench-inbound-"))
    result: dict[str, Any] = {"batch": args.batch, "orders_per_run": args.orders}
    if not args.no_erp:
        result.update(intake_table(args, work))
    if args.rss_mb:
        result.update(memory(args.rss_mb, 500, work, args.flow_dir))
    if args.json:
        print(json.dumps(result))
    else:
        print_human(result)
    rows = result.get("intake", [])
    return 0 if all(r["orders"] == args.orders for r in rows) else 1


def intake_table(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from sandbox.erp import SandboxErp

    levels = [int(c) for c in args.concurrency.split(",")]
    with SandboxErp(args.db, workdir=work / "erp", workers=args.workers) as server:
        erp = TrytonErp.connect(server.url, server.database, server.login, server.password)
        products = [p for p in erp.list_products() if p.gtin]
        prices = agreed_prices(erp, products)
        rows = [intake(erp, products, prices, work, args, c) for c in levels]
    return {"trytond_workers": args.workers, "database": "postgresql", "intake": rows}


def print_human(result: dict[str, Any]) -> None:
    rows = result.get("intake", [])
    if rows:
        print(f"EDI intake vs the ERP's own ceiling ({result['trytond_workers']} trytond "
              f"workers, PostgreSQL, {result['orders_per_run']} orders per run, batches of "
              f"{result['batch']})")  # fmt: skip
        print("  concurrency  hub orders/s  ceiling orders/s  ratio  ERP calls/order")
        for r in rows:
            print(f"  {r['concurrency']:>11}  {r['orders_per_s']:>12}  "
                  f"{r['erp_ceiling_orders_per_s']:>16}  {r['ratio']:>5}  "
                  f"{r['erp_calls_per_order']:>6} "
                  f"(ceiling {r['ceiling_calls_per_order']})")  # fmt: skip
    runs = result.get("memory_runs")
    if runs:
        print(
            f"memory and time through the flow (FakeErp, batches of 500, in {result['flow_dir']})"
        )
        print("  file MB    orders  seconds  CPU seconds  peak RSS MB  (before the flow)")
        for run in (runs["small"], runs["big"]):
            print(f"  {run['file_mb']:>7}  {run['orders']:>8}  {run['seconds']:>7}  "
                  f"{run['cpu_seconds']:>11}  {run['peak_rss_mb']:>11}  "
                  f"({run['rss_mb_before_the_flow']})")  # fmt: skip
        print(f"  {result['size_ratio']}x the orders took {result['time_ratio_10x']}x the time "
              f"({result['cpu_time_ratio_10x']}x the CPU time) at {result['rss_ratio_10x']}x "
              "the peak RSS")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
