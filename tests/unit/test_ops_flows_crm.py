"""crm_push / crm_pull follow the ops conventions: dry run, backfill, trace events, reconcile."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from bench.crm_sync import seed_erp
from connectors.erp.fake import FakeErp
from connectors.http import RetryPolicy
from hub.bootstrap import Hub
from hub.flows import run_flow
from hub.flows.crm_sync import STREAM_PARTIES, STREAM_PULL, make_crm
from hub.ledger import Ledger
from hub.ops.backfill import backfill
from hub.ops.reconcile import reconcile
from hub.ops.trace import trace
from hub.ratebudget import LedgerRateBudget
from sandbox.crm import SandboxCrm
from schemas.model import PartyRef, SalesOrder, SalesOrderLine

pytestmark = pytest.mark.integration  # the contract-checked sandbox CRM on loopback

FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, max_retry_after=0.05,
                   total_timeout=10)  # fmt: skip


@pytest.fixture
def erp() -> FakeErp:
    return seed_erp(6, products=2)


@pytest.fixture
def hub(ledger: Ledger, erp: FakeErp, crm_server: SandboxCrm) -> Hub:
    budget = LedgerRateBudget(ledger)
    crm = make_crm(
        crm_server.url, crm_server.token, id_property="hub_erp_id", budget=budget, policy=FAST,
        timeout=(1.0, 2.0),
    )  # fmt: skip
    return Hub(ledger, erp=erp, crm=crm)


def rows(ledger: Ledger) -> dict[str, int]:
    """Row counts of every ledger table but the shared rate budget (reads spend it too)."""
    counts = ledger.row_counts()
    counts.pop("rate_buckets", None)
    return counts


def writes(crm: SandboxCrm) -> int:
    return int(crm.stats()["requests"].get("write", 0))


def test_dry_run_of_push_and_pull_writes_nothing_and_says_what_it_would(
    hub: Hub, crm_server: SandboxCrm, erp: FakeErp
) -> None:
    before = rows(hub.ledger)
    report = run_flow("crm_push", hub=hub, dry_run="true")
    assert report["status"] == "dry_run"
    assert len(report["would"]["crm"]["upsert companies"]) == 6
    assert "upsert products" in report["would"]["crm"]
    assert rows(hub.ledger) == before and writes(crm_server) == 0
    assert crm_server.records("companies") == []

    run_flow("crm_push", hub=hub)
    crm_server.store.create(
        "companies", {"name": "Neukunde AG", "zip": "20457", "hub_vat": "DE811907980"}
    )
    before, sent = rows(hub.ledger), writes(crm_server)
    pull = run_flow("crm_pull", hub=hub, dry_run=True)
    assert pull["status"] == "dry_run"
    assert any("Neukunde" in x for x in pull["would"]["erp"]["create_party"])
    assert rows(hub.ledger) == before and writes(crm_server) == sent
    assert len(erp.parties) == 6


def test_backfill_keeps_the_live_cursor_skips_what_is_in_sync_and_resends_what_was_lost(
    hub: Hub, crm_server: SandboxCrm, erp: FakeErp
) -> None:
    run_flow("crm_push", hub=hub)
    run_flow("crm_pull", hub=hub)
    live = {s: hub.ledger.cursor(s) for s in (STREAM_PARTIES, *STREAM_PULL.values())}
    since = erp.now - timedelta(days=1)

    sent = writes(crm_server)
    report = backfill(hub, "crm_push", since=since)
    assert report["parties_read"] == 6 and report["companies_unchanged"] == 6
    assert writes(crm_server) == sent  # everything in sync: not one write
    pull = backfill(hub, "crm_pull", since=since)
    assert pull["status"] == "ok" and writes(crm_server) == sent
    assert {s: hub.ledger.cursor(s) for s in live} == live

    lost = "4"  # the ledger lost this party's binding (e.g. restored from an older backup)
    assert hub.ledger.forget_binding("crm", "company", lost) == 1
    again = backfill(hub, "crm_push", since=since, until=erp.now + timedelta(seconds=1))
    assert again["companies_sent"] == 1 and writes(crm_server) == sent + 1
    assert hub.ledger.lookup_erp("crm", "company", lost) is not None
    assert {s: hub.ledger.cursor(s) for s in live} == live
    assert len(crm_server.records("companies")) == 6  # upserted by ERP id: no duplicate


def test_a_deal_records_a_trace_event_under_its_order_and_sale(hub: Hub, erp: FakeErp) -> None:
    order = SalesOrder(
        order_number="PO-77", order_date=date(2024, 1, 1), buyer=PartyRef(erp_id="4"),
        currency="EUR",
        lines=(SalesOrderLine(line_no=1, product_code="P0001", quantity=Decimal(2)),),
    )  # fmt: skip
    sale = erp.create_sales([order])[0].sale
    assert sale is not None and sale.number
    run_flow("crm_push", hub=hub, sale_ids=sale.erp_id)
    data = trace(hub, "PO-77")
    deals = [i for i in data["timeline"] if i["kind"] == "crm.deal"]
    assert len(deals) == 1 and deals[0]["state"] == "contractsent"
    assert f"for sale {sale.number}" in deals[0]["summary"]
    assert [i["kind"] for i in trace(hub, sale.number)["timeline"]] == ["crm.deal"]


def test_reconcile_parties_is_clean_after_a_sync_and_names_a_company_changed_in_the_crm(
    hub: Hub, crm_server: SandboxCrm
) -> None:
    run_flow("crm_push", hub=hub)
    run_flow("crm_pull", hub=hub)
    clean = reconcile(hub)
    sections = {s["section"]: s for s in clean["sections"]}
    companies, contacts = sections["crm.companies"], sections["crm.contacts"]
    assert companies["counts"] == {"erp": 6, "crm": 6} and contacts["counts"]["crm"] == 6
    assert companies["hashes"]["erp"] == companies["hashes"]["crm"]
    assert clean["differences"] == 0, clean

    company = next(r for r in crm_server.records("companies")
                   if r["properties"]["hub_erp_id"] == "5")  # fmt: skip
    crm_server.user_update("companies", company["id"], {"name": "Renamed behind our back"})
    dirty = reconcile(hub)
    found = [d for s in dirty["sections"] for d in s["differences"]]
    assert [(d["record"], d["kind"]) for d in found] == [("party 5", "changed_in_crm")]
    assert "name" in found[0]["detail"] and not dirty["clean"]
