"""Benchmark of the ERP -> CRM sync: batched crm_push against a naive one-request-per-record sync.

Seeds N parties (one contact person each), a small catalogue and ``--sales`` sales keyed in
the ERP (every third a quotation, 1-4 lines each: deals, quotes and line items in the CRM)
in the ERP port's fake, starts the sandbox CRM at a request budget (``--rate-limit``
requests per 10 s) and reports records/s, requests sent and the share of the budget used,
for three runs:
1. crm_push of all parties (batched upserts, shared rate budget in the ledger),
2. crm_push again with nothing changed (must send no write and take < 5% of run 1),
3. a naive sync of a smaller sample (``--naive-parties``) sending one request per record.

    python -m bench.crm_sync --parties 100000 --rate-limit 1000 --json

``--child`` runs one crm_push against ``AIRFLOW_CONN_HUB_CRM`` and ``HUB_DATABASE_URL`` and
prints a line per committed page (the reliability test kills it at a random line).
"""

from __future__ import annotations

import argparse
import bisect
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from stdnum import ean
from stdnum.iso7064 import mod_11_10

from connectors.erp.fake import FakeErp
from schemas.model import (
    Address,
    Contact,
    ContactMechanism,
    Party,
    PartyRef,
    Product,
    SalesOrder,
    SalesOrderLine,
)

INTERVAL_MS = 10_000
REDIS_URL_ENV = "HUB_REDIS_URL"  # hub.ratebudget's (not imported here: tests import this module)


def party(i: int) -> Party:
    """The i-th generated customer: valid DE VAT id and GLN, one address, one contact person."""
    base = f"{10_000_000 + i:08d}"[-8:]
    base = ("1" + base[1:]) if base[0] == "0" else base
    gln12 = f"400{i:09d}"
    return Party(
        name=f"Kunde {i} GmbH",
        code=f"C{i:06d}",
        vat="DE" + base + mod_11_10.calc_check_digit(base),
        gln=gln12 + ean.calc_check_digit(gln12),
        addresses=(
            Address(
                street=f"Hauptstr. {i % 300 + 1}",
                postal_code=f"{10000 + i % 89999}",
                city="Berlin",
                country="DE",
            ),
        ),  # fmt: skip
        contact_mechanisms=(ContactMechanism(type="phone", value=f"+49 30 {1000000 + i}"),),
        contacts=(
            Contact(
                name=f"Anna Schulz{i}", email=f"einkauf{i}@kunde{i}.example", job_title="Einkauf"
            ),
        ),  # fmt: skip
    )


class _Tracked(dict[str, Party]):
    """The parties of an ``IndexedErp``: a write marks the index stale."""

    stale = True

    def __setitem__(self, key: str, value: Party) -> None:
        super().__setitem__(key, value)
        self.stale = True


class IndexedErp(FakeErp):
    """FakeErp answering "parties changed since" from a sorted index, as Tryton does from
    its indexed write date. The plain fake scans and sorts every party for each page: at
    20,000 parties that was 6.4 s of the hub's 28 s of CPU, and it grows with the square,
    so at 100,000 the benchmark measured the fake, not the hub."""

    def __init__(self) -> None:
        super().__init__()
        self.parties = _Tracked()
        self._order: list[Party] = []
        self._stamps: list[datetime] = []

    def parties_changed_since(self, since: datetime | None, *, limit: int = 500) -> list[Party]:
        self._call()
        parties = self.parties
        if isinstance(parties, _Tracked) and parties.stale:
            self._order = sorted(
                parties.values(), key=lambda p: (p.updated_at or self.now, int(p.erp_id or 0))
            )
            self._stamps = [p.updated_at or self.now for p in self._order]
            parties.stale = False
        start = 0 if since is None else bisect.bisect_left(self._stamps, since)
        return self._order[start : start + limit]


def seed_erp(
    parties: int, *, products: int = 20, chunk: int = 100, indexed: bool = False
) -> FakeErp:
    """A deterministic FakeErp (``IndexedErp`` if ``indexed``): the same ids and timestamps
    for the same arguments."""
    erp = IndexedErp() if indexed else FakeErp()
    for n in range(products):
        gtin12 = f"400638{n:06d}"
        erp.add_product(
            Product(code=f"P{n:04d}", name=f"Artikel {n}",
                    gtin=gtin12 + ean.calc_check_digit(gtin12),
                    list_price=Decimal("9.90") + n, currency="EUR"),
            stock=100 + n,
        )  # fmt: skip
    for start in range(0, parties, chunk):
        erp.create_parties([party(i) for i in range(start, min(start + chunk, parties))])
        erp.tick()
    return erp


def seed_sales(erp: FakeErp, sales: int, parties: int, products: int = 20) -> None:
    """``sales`` sales as people key them into the ERP: every third a quotation, the rest
    confirmed; 1-4 lines of varied products and quantities; customers spread over all."""
    from datetime import date

    first_party = products + 1  # seed_erp's products take the first ids
    orders: dict[str, list[SalesOrder]] = {"quotation": [], "confirmed": []}
    for i in range(sales):
        lines = tuple(
            SalesOrderLine(line_no=k + 1, product_code=f"P{(i * 7 + k * 3) % products:04d}",
                           quantity=Decimal(1 + (i + k) % 9))
            for k in range(1 + i % 4)
        )  # fmt: skip
        order = SalesOrder(
            order_number=f"SO-{i:06d}", order_date=date(2024, 1, 1),
            buyer=PartyRef(erp_id=str(first_party + (i * 37) % parties)), currency="EUR",
            lines=lines,
        )  # fmt: skip
        orders["quotation" if i % 3 == 0 else "confirmed"].append(order)
    for state, batch in orders.items():
        for start in range(0, len(batch), 500):
            erp.create_sales(batch[start : start + 500], state=state)  # type: ignore[arg-type]
    erp.tick()


def _hub(
    ledger_url: str, erp: FakeErp, crm: tuple[str, str] | None = None, redis_url: str = ""
) -> Any:
    """A hub on the ledger; its CRM is the sandbox at ``crm`` = (url, token), else the
    ``hub_crm`` connection (built lazily by the hub). The request budget is the deployment's
    (``hub.ratebudget.rate_budget``): Redis at ``redis_url`` when given, else the ledger."""
    from hub.bootstrap import Hub
    from hub.flows.crm_sync import make_crm
    from hub.ledger import Ledger
    from hub.ratebudget import rate_budget

    ledger = Ledger(ledger_url)
    ledger.upgrade()
    if crm is None:
        return Hub(ledger, erp=erp)
    budget = rate_budget(ledger, redis_url=redis_url)
    client = make_crm(crm[0], crm[1], id_property="hub_erp_id", budget=budget)
    return Hub(ledger, erp=erp, crm=client)


class SandboxProcess:
    """The sandbox CRM in its own process (its work must not share the hub's GIL)."""

    def __init__(self, rate_limit: int) -> None:
        import secrets

        self.token = secrets.token_urlsafe(16)
        code = (
            "import sys; from sandbox.crm import serve; "
            f"serve(port=0, rate_limit={rate_limit}, token={self.token!r}, "
            f"interval_ms={INTERVAL_MS})"
        )
        self._proc = subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
            cwd=Path(__file__).resolve().parents[1],
        )  # fmt: skip
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        self.url = line.split("listening on ", 1)[1].split()[0]

    def stats(self) -> dict[str, Any]:
        import requests

        return dict(requests.get(f"{self.url}/__sandbox/stats", timeout=30).json())

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self._proc.terminate()
        self._proc.wait(timeout=10)


def _writes(stats: dict[str, Any]) -> int:
    return int(stats["requests"].get("write", 0))


def _share(requests: int, seconds: float, rate_limit: int) -> float:
    allowed = rate_limit * seconds / (INTERVAL_MS / 1000)
    return requests / allowed if allowed else 0.0


def run_batched(
    parties: int, rate_limit: int, page: int, workdir: Path, sales: int = 0, redis_url: str = ""
) -> dict[str, Any]:
    """Runs 1 and 2 on one sandbox and one ledger."""
    from hub.flows.crm_sync import crm_push

    t0 = time.perf_counter()
    erp = seed_erp(parties, indexed=True)
    seed_sales(erp, sales, parties)
    seed_s = time.perf_counter() - t0
    with SandboxProcess(rate_limit) as crm:
        url = f"sqlite:///{workdir / 'batched.sqlite'}"
        hub = _hub(url, erp, (crm.url, crm.token), redis_url)
        t1 = time.perf_counter()
        first = crm_push(hub, page_size=page)
        first_s = time.perf_counter() - t1
        s1 = crm.stats()
        t2 = time.perf_counter()
        second = crm_push(hub, page_size=page)
        second_s = time.perf_counter() - t2
        s2 = crm.stats()
        hub.close()
    requests = s1["requests"]["total"]
    return {
        "parties": parties,
        "sales": sales,
        "budget": type(hub.crm.budget).__name__,
        "seed_seconds": round(seed_s, 2),
        "first_run": {
            "seconds": round(first_s, 2),
            "records_per_second": round(parties / first_s, 1),
            "requests": requests,
            "write_requests": _writes(s1),
            "rate_limited_429": s1["rate_limited"],
            "budget_share_used": round(_share(requests, first_s, rate_limit), 3),
            "companies": s1["records"]["companies"],
            "contacts": s1["records"]["contacts"],
            "deals": s1["records"].get("deals", 0),
            "quotes": s1["records"].get("quotes", 0),
            "line_items": s1["records"].get("line_items", 0),
            "report": {k: v for k, v in first.items() if k != "details"},
        },
        "second_run_nothing_changed": {
            "seconds": round(second_s, 3),
            "requests": s2["requests"]["total"] - requests,
            "write_requests": _writes(s2) - _writes(s1),
            "share_of_first_run_time": round(second_s / first_s, 4),
            "report": {k: v for k, v in second.items() if k != "details"},
        },
    }


def run_naive(parties: int, rate_limit: int) -> dict[str, Any]:
    """One request per record: each company, contact and association on its own."""
    from connectors.crm import CrmClient, InProcessRateBudget
    from schemas.crm_config import CrmConfig
    from transforms import crm_mapping as m

    cfg = CrmConfig()
    with SandboxProcess(rate_limit) as crm:
        client = CrmClient(
            crm.url, crm.token, budget=InProcessRateBudget(rate_limit, INTERVAL_MS),
            batch_size=1,
        )  # fmt: skip
        t0 = time.perf_counter()
        for i in range(parties):
            erp_id = str(i + 1)
            p = party(i).model_copy(update={"erp_id": erp_id})
            company = client.upsert("companies", {erp_id: m.company_payload(p, cfg, seed=True)})
            person = p.contacts[0]
            key = m.contact_key(erp_id, person)
            contact = client.upsert("contacts", {key: m.contact_payload(person, cfg, seed=True)})
            client.associate(
                "contacts", "companies",
                [(contact.succeeded[0].crm_id, company.succeeded[0].crm_id)],
            )  # fmt: skip
        seconds = time.perf_counter() - t0
        stats = crm.stats()
    requests = stats["requests"]["total"]
    return {
        "parties": parties,
        "seconds": round(seconds, 2),
        "records_per_second": round(parties / seconds, 1),
        "requests": requests,
        "rate_limited_429": stats["rate_limited"],
        "budget_share_used": round(_share(requests, seconds, rate_limit), 3),
    }


def child(parties: int, page: int, chunk: int) -> int:
    """One crm_push from the environment's ledger and CRM connection, with a seeded FakeErp."""
    from hub import settings
    from hub.flows import crm_push as push

    class _Echo(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "committed" in record.getMessage():
                print(record.getMessage(), flush=True)

    push.log.addHandler(_Echo())
    push.log.setLevel(logging.INFO)
    hub = _hub(settings.database_url(), seed_erp(parties, chunk=chunk, indexed=True))
    report = push.crm_push(hub, page_size=page)
    print(json.dumps({"done": {k: v for k, v in report.items() if k != "details"}}), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parties", type=int, default=100_000)
    parser.add_argument("--rate-limit", type=int, default=1000, help="requests per 10 s")
    parser.add_argument("--page", type=int, default=1000, help="parties per ledger commit")
    parser.add_argument("--chunk", type=int, default=100, help="parties per ERP timestamp")
    parser.add_argument("--naive-parties", type=int, default=1000)
    parser.add_argument(
        "--sales", type=int, default=None, help="ERP sales and quotations (default: parties / 10)"
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get(REDIS_URL_ENV, ""),
        help=f"the shared request budget in Redis (default ${REDIS_URL_ENV}; none: the ledger's)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.parties, args.page, args.chunk)
    with tempfile.TemporaryDirectory(prefix="bench-crm-") as tmp:
        sales = args.sales if args.sales is not None else args.parties // 10
        batched = run_batched(
            args.parties, args.rate_limit, args.page, Path(tmp), sales, args.redis_url
        )
    naive = run_naive(args.naive_parties, args.rate_limit)
    result = {
        "rate_limit_per_10s": args.rate_limit,
        "batched": batched,
        "naive_one_request_per_record": naive,
        "speedup_records_per_second": round(
            batched["first_run"]["records_per_second"] / naive["records_per_second"], 1
        ),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        first, second = batched["first_run"], batched["second_run_nothing_changed"]
        print(f"batched: {args.parties} parties and {batched['sales']} sales in "
              f"{first['seconds']} s = {first['records_per_second']} parties/s "
              f"({first['deals']} deals, {first['quotes']} quotes, {first['line_items']} line "
              f"items), {first['requests']} requests, budget used "
              f"{first['budget_share_used']:.1%} ({batched['budget']})")  # fmt: skip
        print(f"second run: {second['seconds']} s ({second['share_of_first_run_time']:.2%}), "
              f"{second['write_requests']} writes")  # fmt: skip
        share = naive["budget_share_used"]
        print(f"naive ({naive['parties']} parties): {naive['records_per_second']} records/s, "
              f"{naive['requests']} requests, budget used {share:.0%}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
