"""Benchmark: e-invoices built and validated per second, next to INVOIC on the same invoices.

1. ``compile``: the official stylesheets compiled once per process (EN 16931 UBL and CII
   XSLT, the XRechnung Schematron compiled to XSLT, the CII XSD): seconds, paid once.
2. per format (XRechnung UBL and CII, PEPPOL BIS, ZUGFeRD PDF): the same canonical invoices
   (20 lines, two VAT rates, built before the clock starts) go through build (the EN 16931
   view), serialization (XML, or XML + PDF/A-3) and validation by the official rules;
   documents/s per phase and in all.
3. ``invoic``: the EANCOM INVOIC of the same invoices (``bench/edi_outbound.py``'s pure
   phase: generation, serialization, our own validation), measured in the same run: the
   ratio e-invoice / INVOIC says what the official validation costs.
4. ``flow_fake``: the flow end to end on the FakeErp (ledger on SQLite, archive, FakeMailer).

    HUB_EINVOICE_RULES=../shared/contracts/einvoicing \\
        .venv/bin/python bench/einvoice.py [--json] [--invoices 300] [--lines 20]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.edi_outbound import bench_pure, make_invoices  # noqa: E402
from connectors.einvoice.validator import Validator, rules_dir  # noqa: E402
from sandbox.einvoice_data import BUYERS, SELLER, customer  # noqa: E402
from schemas.einvoice_config import FORMATS  # noqa: E402
from schemas.model import Invoice  # noqa: E402
from transforms.einvoice import render  # noqa: E402
from transforms.einvoice.document import build  # noqa: E402


def bench_compile(rules: Path) -> dict[str, Any]:
    started = time.perf_counter()
    validator = Validator(rules)
    validator.warm_up()
    return {"seconds": round(time.perf_counter() - started, 3)}


def bench_format(invoices: list[Invoice], fmt: str, validator: Validator) -> dict[str, Any]:
    buyer = BUYERS[0]
    entry = customer(buyer, fmt)  # type: ignore[arg-type]
    t_build = t_render = t_valid = 0.0
    errors = warnings = size = 0
    clock = time.perf_counter
    warm = build(invoices[0], fmt=entry.format, seller=SELLER, buyer=buyer, customer=entry)
    validator.validate(render(warm).data)  # first use imports lazily: not measured
    for invoice in invoices:
        t0 = clock()
        doc = build(invoice, fmt=entry.format, seller=SELLER, buyer=buyer, customer=entry)
        t1 = clock()
        rendered = render(doc)
        t2 = clock()
        report = validator.validate(rendered.data, rendered.file_name)
        t3 = clock()
        t_build, t_render, t_valid = t_build + t1 - t0, t_render + t2 - t1, t_valid + t3 - t2
        errors += len(report.errors)
        warnings += len(report.warnings)
        size += len(rendered.data)
    n = len(invoices)
    phases = {"build": t_build, "serialize": t_render, "validate": t_valid}
    total = sum(phases.values())
    rates = {f"{phase}_docs_per_s": round(n / t, 1) for phase, t in phases.items()}
    counts = {"documents": n, "errors": errors, "warnings": warnings}
    return {**counts, "seconds": round(total, 3), "documents_per_s": round(n / total, 1),
            **rates, "bytes_per_document": size // n}  # fmt: skip


def bench_flow_fake(invoices: list[Invoice]) -> dict[str, Any]:
    """The flow on FakeErp: every invoice a ZUGFeRD PDF by (fake) mail, through the ledger."""
    import datetime as dt

    from connectors.einvoice.mail import FakeMailer
    from connectors.erp.fake import FakeErp
    from hub.bootstrap import Hub
    from hub.flows.einvoice import einvoice_outbound
    from hub.ledger import Ledger
    from schemas.model import PartyRef

    with tempfile.TemporaryDirectory() as tmp:
        erp = FakeErp()
        (party,) = erp.create_parties([BUYERS[0]])
        stamp = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
        for k, inv in enumerate(invoices):
            erp.invoices[inv.erp_id] = inv.model_copy(update={
                "customer": PartyRef(erp_id=party.erp_id),
                "updated_at": stamp + dt.timedelta(seconds=k)})  # fmt: skip
        config = Path(tmp) / "einvoice.yaml"
        entry = customer(BUYERS[0], "zugferd-en16931").model_dump(mode="json", exclude_none=True)
        config.write_text(json.dumps({"seller": SELLER.model_dump(mode="json", exclude_none=True),
                                      "customers": [entry]}))  # fmt: skip
        os.environ["HUB_EINVOICE_CONFIG"] = str(config)
        ledger = Ledger(f"sqlite:///{tmp}/ledger.sqlite")
        ledger.upgrade()
        mailer = FakeMailer()
        started = time.perf_counter()
        report = einvoice_outbound(Hub(ledger, erp=erp, home=Path(tmp) / "home", partners={}),
                                   mailer=mailer, limit=1000)  # fmt: skip
        seconds = time.perf_counter() - started
    return {"documents": report["sent"], "dead_letters": report["dead_letters"],
            "mails": len(mailer.sent), "seconds": round(seconds, 3),
            "documents_per_s": round(report["sent"] / seconds, 1)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--invoices", type=int, default=300)
    parser.add_argument("--lines", type=int, default=20)
    parser.add_argument("--flow-invoices", type=int, default=200)
    parser.add_argument("--rules", help="the rules folder (default: $HUB_EINVOICE_RULES)")
    args = parser.parse_args(argv)

    rules = rules_dir(args.rules)
    invoices = make_invoices(args.invoices, args.lines)
    figures: dict[str, Any] = {"compile": bench_compile(rules)}
    validator = Validator(rules)
    for fmt in FORMATS:
        figures[fmt] = bench_format(invoices, fmt, validator)
    figures["invoic"] = bench_pure(invoices, "kaufhaus-nord")
    base = figures["invoic"]["documents_per_s"]
    figures["ratio_to_invoic"] = {
        fmt: round(figures[fmt]["documents_per_s"] / base, 3) for fmt in FORMATS
    }
    figures["flow_fake"] = bench_flow_fake(make_invoices(args.flow_invoices, args.lines))
    if args.json:
        print(json.dumps(figures))
        return 0
    for key, value in figures.items():
        print(f"{key:18s} " + ", ".join(f"{a}={b}" for a, b in value.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
