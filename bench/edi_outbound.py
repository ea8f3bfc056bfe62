"""Benchmark: outbound EANCOM documents/s, and where an end-to-end run spends its time.

1. ``pure``: 5,000 canonical INVOICs of 20 lines (built before the clock starts) go through
   generation (``transforms.edifact_invoic``), serialization (interchange + bytes in the
   partner's settings) and validation (``connectors.edi.validate``); documents/s per phase.
2. ``flow_fake``: the whole flow (ledger on SQLite, archive, local mailbox) on the FakeErp.
3. ``flow_erp``: the same flow against the sandbox Tryton (sales shipped and invoiced there
   first); the share of wall time spent outside ERP calls. Skipped with ``--no-erp`` or when
   trytond is not installed.

    .venv/bin/python bench/edi_outbound.py [--json] [--invoices 5000] [--lines 20] [--no-erp]
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from stdnum import ean  # noqa: E402

from connectors.edi import Delimiters, OutboundMessage, build_interchange, validate  # noqa: E402
from connectors.edi.serializer import render_interchange  # noqa: E402
from hub.config import load_partners  # noqa: E402
from hub.edi_out import to_segments  # noqa: E402
from schemas.model import CENT, Invoice, InvoiceLine, PartyRef, TaxLine  # noqa: E402
from transforms.edifact_invoic import INVOIC_TYPE, invoic  # noqa: E402

PARTNERS = load_partners(ROOT / "config" / "partners")
BUYER = "4300000000014"
GTINS = [f"400638{i:06d}" for i in range(500)]
GTINS = [g + ean.calc_check_digit(g) for g in GTINS]


def make_invoices(count: int, lines: int) -> list[Invoice]:
    """Deterministic invoices with two VAT rates, rounded per line and per tax as an ERP does."""
    invoices = []
    for n in range(count):
        inv_lines = []
        for k in range(1, lines + 1):
            qty = Decimal(1 + (n + k) % 17)
            price = Decimal(199 + (n * 7 + k * 13) % 5000) / 100
            inv_lines.append(InvoiceLine(
                line_no=k, product_code=f"P{k}", gtin=GTINS[(n + k) % len(GTINS)], quantity=qty,
                unit_price=price, amount=(qty * price).quantize(CENT),
                tax_rate=Decimal(19 if k % 3 else 7), order_number=f"PO{n:06d}",
            ))  # fmt: skip
        taxes = []
        for rate in (Decimal(19), Decimal(7)):
            base = sum((ln.amount for ln in inv_lines if ln.tax_rate == rate), Decimal(0))
            taxes.append(TaxLine(rate=rate, base=base, amount=(base * rate / 100).quantize(CENT)))
        untaxed = sum((ln.amount for ln in inv_lines), Decimal(0))
        tax = sum((t.amount for t in taxes), Decimal(0))
        invoices.append(Invoice(
            erp_id=str(n + 1), number=f"INV{n:07d}", invoice_date=dt.date(2024, 3, 1),
            customer=PartyRef(gln=BUYER, erp_id="1"), currency="EUR", lines=tuple(inv_lines),
            taxes=tuple(taxes), untaxed_amount=untaxed, tax_amount=tax, total_amount=untaxed + tax,
            order_numbers=(f"PO{n:06d}",), due_date=dt.date(2024, 3, 31),
        ))  # fmt: skip
    return invoices


def bench_pure(invoices: list[Invoice], partner: str) -> dict[str, Any]:
    profile = PARTNERS[partner]
    out = profile.outbound
    delimiters = Delimiters(decimal=out.decimal_mark)
    prepared = dt.datetime(2024, 3, 1, 8, 0, tzinfo=dt.UTC)
    t_gen = t_ser = t_val = 0.0
    total_bytes = 0
    rejected = 0
    clock = time.perf_counter
    for i, invoice in enumerate(invoices, start=1):
        t0 = clock()
        body = invoic(invoice, buyer_gln=BUYER, supplier_gln=profile.unb.our_id,
                      buyer_vat="DE135735793", supplier_vat=out.supplier_vat, gtin_by_code={},
                      despatch_numbers=[f"OUT{i}"], decimal_mark=out.decimal_mark)  # fmt: skip
        t1 = clock()
        segments = build_interchange(
            [OutboundMessage(":".join(INVOIC_TYPE), "1", to_segments(body))],
            sender=profile.unb.our_id, recipient=profile.unb.partner_id,
            control_ref=f"{i:09d}", prepared=prepared, syntax_identifier=out.charset,
            syntax_version=out.syntax_version,
        )  # fmt: skip
        data = render_interchange(segments, delimiters, una=out.una == "always",
                                  newline=out.segment_per_line)  # fmt: skip
        t2 = clock()
        rejected += validate(data).verdict != "accepted"
        t3 = clock()
        t_gen += t1 - t0
        t_ser += t2 - t1
        t_val += t3 - t2
        total_bytes += len(data)
    n = len(invoices)
    total = t_gen + t_ser + t_val
    return {
        "partner": partner,
        "documents": n,
        "lines_per_document": len(invoices[0].lines),
        "rejected": rejected,
        "seconds": round(total, 3),
        "documents_per_s": round(n / total, 1),
        "generation_docs_per_s": round(n / t_gen, 1),
        "serialization_docs_per_s": round(n / t_ser, 1),
        "validation_docs_per_s": round(n / t_val, 1),
        "bytes_per_document": total_bytes // n,
    }


class TimedErp:
    """Any ERP port, with the wall time of every call added up (a measuring proxy)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.seconds = 0.0
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if not callable(target):
            return target

        def timed(*args: Any, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return target(*args, **kw)
            finally:
                self.seconds += time.perf_counter() - t0
                self.calls += 1

        return timed


def run_flow(erp: Any, since: str | None) -> tuple[dict[str, Any], float, TimedErp]:
    from hub.bootstrap import Hub
    from hub.flows.edi_outbound import edi_documents_outbound
    from hub.ledger import Ledger

    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(f"sqlite:///{Path(tmp) / 'ledger.sqlite'}")
        ledger.upgrade()
        timed = TimedErp(erp)
        hub = Hub(ledger, erp=timed, home=Path(tmp) / "home", partners=PARTNERS)  # type: ignore[arg-type]
        t0 = time.perf_counter()
        report = edi_documents_outbound(hub, documents="DESADV,INVOIC", since=since, limit=500)
        seconds = time.perf_counter() - t0
        hub.close()
    return report, seconds, timed


def bench_flow_fake(count: int, lines: int) -> dict[str, Any]:
    from connectors.erp.fake import FakeErp
    from schemas.model import Party

    erp = FakeErp()
    erp.create_parties([Party(name="Kaufhaus Nord", gln=BUYER, vat="DE135735793")])
    for k, invoice in enumerate(make_invoices(count, lines)):
        stamp = erp.tick()
        erp.invoices[invoice.erp_id] = invoice.model_copy(update={"updated_at": stamp})
        del k
    report, seconds, timed = run_flow(erp, None)
    sent = report["documents_sent"]
    return {
        "documents": sent,
        "seconds": round(seconds, 3),
        "documents_per_s": round(sent / seconds, 1),
        "share_outside_erp_calls": round(1 - timed.seconds / seconds, 3),
    }


def bench_flow_erp(sales: int, lines: int) -> dict[str, Any]:
    from connectors.erp.tryton import TrytonErp
    from sandbox.erp import SandboxErp
    from sandbox.erp_seed import catalogue, customers
    from schemas.model import SalesOrder, SalesOrderLine

    items = catalogue()
    nord = customers()[0]
    run = dt.datetime.now(dt.UTC).strftime("%H%M%S")
    with SandboxErp() as server:
        erp = TrytonErp.connect(server.url, server.database, server.login, server.password)
        operator = server.operator()
        started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)
        orders = [
            SalesOrder(
                order_number=f"BENCH-{run}-{n}", order_date=dt.date.today(),
                buyer=PartyRef(gln=nord.gln), currency="EUR",
                lines=tuple(SalesOrderLine(line_no=k + 1, gtin=items[k % len(items)].gtin,
                                           quantity=Decimal(k + 1)) for k in range(lines)),
            )
            for n in range(sales)
        ]  # fmt: skip
        t0 = time.perf_counter()
        results = erp.create_sales(orders)
        for res in results:
            assert res.sale is not None, res.error
            operator.ship_sale(int(res.sale.erp_id))
            operator.post_invoices(int(res.sale.erp_id))
        setup = time.perf_counter() - t0
        report, seconds, timed = run_flow(erp, started.isoformat())
    sent = report["documents_sent"]
    return {
        "sales": sales,
        "lines_per_sale": lines,
        "erp_setup_seconds": round(setup, 1),
        "documents": sent,
        "dead_letters": report["dead_letters"],
        "seconds": round(seconds, 3),
        "documents_per_s": round(sent / seconds, 1),
        "erp_calls": timed.calls,
        "erp_call_seconds": round(timed.seconds, 3),
        "share_outside_erp_calls": round(1 - timed.seconds / seconds, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--invoices", type=int, default=5000)
    parser.add_argument("--lines", type=int, default=20)
    parser.add_argument("--flow-invoices", type=int, default=500)
    parser.add_argument("--erp-sales", type=int, default=20)
    parser.add_argument("--no-erp", action="store_true", help="skip the sandbox Tryton run")
    args = parser.parse_args(argv)

    invoices = make_invoices(args.invoices, args.lines)
    figures: dict[str, Any] = {
        "pure": bench_pure(invoices, "kaufhaus-nord"),
        "pure_decimal_comma_one_line": bench_pure(invoices[: args.invoices // 5], "markt-sued"),
        "flow_fake": bench_flow_fake(args.flow_invoices, args.lines),
    }
    erp_ready = importlib.util.find_spec("trytond") is not None
    if args.no_erp or not erp_ready:
        figures["flow_erp"] = {"skipped": "--no-erp" if args.no_erp else "trytond not installed"}
    else:
        figures["flow_erp"] = bench_flow_erp(args.erp_sales, 5)
    if args.json:
        print(json.dumps(figures))
        return 0
    show: Callable[[str, dict[str, Any]], None] = lambda k, v: print(  # noqa: E731
        f"{k:28s} " + ", ".join(f"{a}={b}" for a, b in v.items())
    )
    for key, value in figures.items():
        show(key, value)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
