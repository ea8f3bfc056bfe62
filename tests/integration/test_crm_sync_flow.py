"""crm_push / crm_pull against the contract-checked sandbox CRM and the ERP port's fake."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest

from bench.crm_sync import party, seed_erp
from connectors.crm import CrmClient
from connectors.erp.fake import FakeErp
from connectors.http import RetryPolicy
from hub.bootstrap import Hub
from hub.flows.crm_sync import (
    STREAM_PARTIES,
    STREAM_PULL,
    crm_pull,
    crm_push,
    crm_sync,
    make_crm,
)
from hub.ledger import Ledger
from hub.ratebudget import LedgerRateBudget
from sandbox.crm import SandboxCrm
from schemas.errors import TransientError
from schemas.model import Contact, ContactMechanism, PartyRef, SalesOrder, SalesOrderLine
from tests.fixtures.hub import sqlite_ledger_fixture  # noqa: F401 - the SQLite ledger

pytestmark = pytest.mark.integration

FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, max_retry_after=0.05,
                   total_timeout=120)  # fmt: skip


def clients_for(url: str, token: str, ledger: Ledger) -> CrmClient:
    return make_crm(url, token, id_property="hub_erp_id", budget=LedgerRateBudget(ledger),
                        policy=FAST, timeout=(3.05, 30.0))  # fmt: skip


@pytest.fixture
def make_hub(ledger: Ledger, crm_server: SandboxCrm) -> Callable[[FakeErp], Hub]:
    def make(erp: FakeErp) -> Hub:
        crm = clients_for(crm_server.url, crm_server.token, ledger)
        return Hub(ledger, erp=erp, crm=crm)

    return make


Pushed = Callable[[int, int], tuple[FakeErp, Hub]]


@pytest.fixture
def pushed(make_hub: Callable[[FakeErp], Hub]) -> Pushed:
    """``pushed(parties, products)``: a seeded ERP and its hub after a first crm_push."""

    def push(parties: int, products: int) -> tuple[FakeErp, Hub]:
        erp = seed_erp(parties, products=products)
        hub = make_hub(erp)
        crm_push(hub)
        return erp, hub

    return push


def by_erp_id(crm: SandboxCrm, kind: str) -> dict[str, dict[str, str]]:
    records = crm.records(kind)
    ids = [r["properties"].get("hub_erp_id") for r in records]
    assert len(ids) == len(set(ids)), f"duplicate {kind} in the CRM"
    return {r["properties"]["hub_erp_id"]: r["properties"] for r in records}


def writes(crm: SandboxCrm) -> int:
    return int(crm.stats()["requests"].get("write", 0))


def test_push_creates_companies_contacts_and_products_then_sends_nothing(
    crm_server: SandboxCrm, make_hub: Callable[[FakeErp], Hub]
) -> None:
    hub = make_hub(seed_erp(30, products=3))

    report = crm_push(hub)

    assert report["status"] == "ok", report
    companies = by_erp_id(crm_server, "companies")
    assert len(companies) == 30
    first = party(0)
    assert companies["4"]["name"] == first.name
    assert companies["4"]["hub_vat"] == first.vat
    assert companies["4"]["zip"] == first.addresses[0].postal_code
    contacts = by_erp_id(crm_server, "contacts")
    assert contacts["4:einkauf0@kunde0.example"]["lastname"] == "Schulz0"
    products = by_erp_id(crm_server, "products")
    assert products["P0001"]["hub_stock_on_hand"] == "101"
    assert products["P0001"]["price"] == "10.9"
    assocs = crm_server.store.all_associations()
    assert sum(1 for a in assocs if a["from"][0] == "contacts") == 30

    before = writes(crm_server)
    again = crm_push(hub)
    assert writes(crm_server) == before, again
    assert "companies_sent" not in again and "products_sent" not in again


def test_confirmed_sales_become_deals_with_line_items_and_invoice_status(
    crm_server: SandboxCrm, ledger: Ledger
) -> None:
    crm = crm_server  # contract-checked: deal paths use the official 0-3 type id
    erp = seed_erp(5, products=3)
    order = SalesOrder(
        order_number="PO-1", order_date="2024-01-01", buyer=PartyRef(erp_id="4"), currency="EUR",
        lines=(SalesOrderLine(line_no=1, product_code="P0001", quantity=Decimal(2)),),
    )  # fmt: skip
    sale = erp.create_sales([order])[0].sale
    assert sale is not None and sale.total_amount is not None
    erp.tick()
    invoice = erp.post_invoice(sale.erp_id)
    hub = Hub(ledger, erp=erp, crm=clients_for(crm.url, crm.token, ledger))

    report = crm_push(hub, sale_ids=[sale.erp_id])

    assert report["status"] == "ok", report
    deal = by_erp_id(crm, "deals")[sale.erp_id]
    assert deal["dealstage"] == "contractsent"
    assert deal["amount"] == str(sale.total_amount.normalize())
    assert deal["deal_currency_code"] == "EUR"
    assert deal["hub_invoice_number"] == invoice.number
    assert deal["hub_payment_status"] == "unpaid"
    line = by_erp_id(crm, "line_items")[f"{sale.erp_id}:1"]
    product_id = next(
        r["id"] for r in crm.records("products") if r["properties"]["hs_sku"] == "P0001"
    )
    assert line["hs_product_id"] == product_id and line["quantity"] == "2"
    links = {(a["from"][0], a["to"][0]) for a in crm.store.all_associations()}
    assert {("deals", "companies"), ("line_items", "deals")} <= links

    erp.ship(sale.erp_id)  # the sale moves on: its deal follows, nothing else is sent
    before = writes(crm)
    again = crm_push(hub)
    assert again["deals_sent"] == 1 and "line_items_sent" not in again
    assert by_erp_id(crm, "deals")[sale.erp_id]["dealstage"] == "closedwon"
    assert again["products_sent"] == 1  # shipping took stock: on-hand goes to the CRM too
    assert again["quotes_sent"] == 1  # the quote says the sale moved on
    assert writes(crm) == before + 3


def test_a_changed_party_or_stock_sends_only_that_record(
    crm_server: SandboxCrm, pushed: Pushed
) -> None:
    erp, hub = pushed(20, 2)
    erp.tick()
    erp.update_party(erp.parties["5"].model_copy(update={"name": "Neuer Name AG"}))
    erp.stock[("P0000", "WH")] = Decimal(7)

    report = crm_push(hub)

    assert report["companies_sent"] == 1
    assert report["products_sent"] == 1
    assert "contacts_sent" not in report
    assert by_erp_id(crm_server, "companies")["5"]["name"] == "Neuer Name AG"
    assert by_erp_id(crm_server, "products")["P0000"]["hub_stock_on_hand"] == "7"


def test_partial_207_binds_the_successes_and_dead_letters_the_failure(
    crm_server: SandboxCrm, make_hub: Callable[[FakeErp], Hub], ledger: Ledger
) -> None:
    erp = seed_erp(5, products=0)
    shared = Contact(name="Info Team", email="info@shared.example")
    for erp_id in ("2", "3"):  # two parties, one contact email: the CRM keeps emails unique
        erp.parties[erp_id] = erp.parties[erp_id].model_copy(update={"contacts": (shared,)})
    hub = make_hub(erp)

    report = crm_push(hub)

    assert report["status"] == "partial"
    assert len(by_erp_id(crm_server, "contacts")) == 4
    letters = ledger.dead_letters(flow="crm_push")
    assert [d.record_key for d in letters] == ["contact:3:info@shared.example"]
    assert "field email" in letters[0].reason and "CONFLICT" in letters[0].reason
    assert len(ledger.bindings_for("crm", "contact")) == 4
    assert ledger.cursor(STREAM_PARTIES)[0] is not None  # the batch went on and finished


def test_pull_skips_the_hubs_own_writes_and_leaves_the_erp_alone(
    crm_server: SandboxCrm, pushed: Pushed
) -> None:
    erp, hub = pushed(25, 1)
    snapshot = dict(erp.parties)

    report = crm_pull(hub)

    assert report["companies_echo_skipped"] == 25
    assert report["contacts_echo_skipped"] == 25
    assert erp.parties == snapshot
    before = writes(crm_server)
    assert "companies_sent" not in crm_push(hub)
    assert writes(crm_server) == before


def test_crm_owned_edits_reach_the_erp_once_and_erp_owned_edits_are_restored(
    crm_server: SandboxCrm, pushed: Pushed
) -> None:
    erp, hub = pushed(3, 0)
    company = next(r for r in crm_server.records("companies")
                   if r["properties"]["hub_erp_id"] == "2")  # fmt: skip
    crm_server.user_update("companies", company["id"],
                           {"phone": "+49 40 5550000", "name": "Renamed by sales"})  # fmt: skip

    pull = crm_pull(hub)
    assert pull["erp_parties_updated"] == 1
    phones = [x.value for x in erp.parties["2"].contact_mechanisms if x.type == "phone"]
    assert "+49 40 5550000" in phones
    assert erp.parties["2"].name == party(1).name  # ERP owns the legal name

    push = crm_push(hub)
    assert push["companies_sent"] == 1  # the ERP's name goes back, the phone stays
    restored = by_erp_id(crm_server, "companies")["2"]
    assert restored["name"] == party(1).name and restored["phone"] == "+49 40 5550000"
    again = crm_pull(hub)
    assert "erp_parties_updated" not in again
    assert "companies_sent" not in crm_push(hub)


def test_pull_matches_links_creates_and_dead_letters_crm_made_records(
    crm_server: SandboxCrm, make_hub: Callable[[FakeErp], Hub], ledger: Ledger
) -> None:
    erp = seed_erp(4, products=0)
    twin = party(99).model_copy(
        update={"vat": None, "gln": None, "name": "Zwilling GmbH", "contacts": ()}
    )
    erp.create_parties([twin, twin])  # same name + postcode twice: ambiguous
    hub = make_hub(erp)
    crm_push(hub)
    erp.tick()
    late = erp.create_parties([party(50)])[0]  # in the ERP, not yet pushed to the CRM
    user = crm_server.user_create
    by_vat = user("companies", {"name": "Kunde 50 (CRM)", "hub_vat": late.vat or ""})
    duplicate = user("companies", {"name": "Kunde 2 again", "hub_vat": party(2).vat or ""})
    fresh = user("companies", {"name": "Neukunde KG", "zip": "20095", "country": "DE",
                               "hub_vat": "DE136695976"})  # fmt: skip
    bad_vat = user("companies", {"name": "Falsch AG", "hub_vat": "DE136695977"})
    bad_country = user("companies", {"name": "Nirgendwo AG", "country": "XX"})
    ambiguous = user("companies", {"name": "Zwilling GmbH",
                                   "zip": twin.addresses[0].postal_code or ""})  # fmt: skip
    person = user("contacts", {"firstname": "Jana", "lastname": "Neu", "email": "jana@neu.example"})
    crm_server.store.associate("contacts", "companies", [{
        "from": {"id": person["id"]}, "to": {"id": fresh["id"]},
        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}],
    }])  # fmt: skip
    bad_mail = user("contacts", {"firstname": "X", "lastname": "Y", "email": "x@example..com"})
    parties_before = len(erp.parties)

    report = crm_pull(hub)

    assert report["companies_linked"] == 2, [d.reason for d in ledger.dead_letters()]
    assert report["erp_parties_created"] == 1
    assert len(erp.parties) == parties_before + 1
    linked = {r["id"]: r["properties"].get("hub_erp_id") for r in crm_server.records("companies")}
    assert linked[by_vat["id"]] == late.erp_id  # matched by VAT, no duplicate party
    new_party = erp.parties[linked[fresh["id"]]]
    assert new_party.name == "Neukunde KG" and new_party.vat == "DE136695976"
    emails = [(x.value, x.name) for x in new_party.contact_mechanisms if x.type == "email"]
    assert emails == [("jana@neu.example", "Jana Neu")]
    letters = {d.record_key: d.reason for d in ledger.dead_letters(flow="crm_pull")}
    assert set(letters) == {f"company:{bad_vat['id']}", f"company:{bad_country['id']}",
                            f"company:{duplicate['id']}",
                            f"company:{ambiguous['id']}", f"contact:{bad_mail['id']}"}  # fmt: skip
    assert "field hub_vat" in letters[f"company:{bad_vat['id']}"]
    assert "field country" in letters[f"company:{bad_country['id']}"]
    assert "ambiguous" in letters[f"company:{ambiguous['id']}"]
    assert "already linked to CRM company" in letters[f"company:{duplicate['id']}"]
    assert "field email" in letters[f"contact:{bad_mail['id']}"]
    assert linked[bad_vat["id"]] is None

    before = len(erp.parties)
    crm_pull(hub)  # the write-backs of the hub come back: nothing new in the ERP
    assert len(erp.parties) == before


@pytest.fixture
def closed_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_crm_down_fails_naming_the_crm_keeps_the_cursor_and_the_next_run_catches_up(
    crm_server: SandboxCrm, ledger: Ledger, closed_port: int
) -> None:
    erp = seed_erp(10, products=1)
    down = clients_for(f"http://127.0.0.1:{closed_port}", "tok-secret", ledger)
    hub = Hub(ledger, erp=erp, crm=down)

    with pytest.raises(TransientError) as failed:
        crm_sync(hub)

    assert failed.value.system == "crm"
    assert f"127.0.0.1:{closed_port}" in str(failed.value)
    assert "tok-secret" not in str(failed.value)
    assert ledger.cursor(STREAM_PARTIES) == (None, [])
    assert ledger.cursor(STREAM_PULL["companies"]) == (None, [])

    hub = Hub(ledger, erp=erp, crm=clients_for(crm_server.url, crm_server.token, ledger))
    report = crm_sync(hub)
    assert report["status"] == "ok"
    assert len(by_erp_id(crm_server, "companies")) == 10
    assert ledger.cursor(STREAM_PARTIES)[0] is not None


def test_named_mechanisms_become_contacts_when_the_erp_keeps_no_contact_list(
    crm_server: SandboxCrm, make_hub: Callable[[FakeErp], Hub]
) -> None:
    erp = FakeErp()
    erp.create_parties([party(0).model_copy(update={
        "contacts": (),
        "contact_mechanisms": (
            ContactMechanism(type="email", value="max@kunde.example", name="Max Muster"),
            ContactMechanism(type="phone", value="+49 30 1", name="Max Muster"),
        ),
    })])  # fmt: skip
    crm_push(make_hub(erp))
    contact = by_erp_id(crm_server, "contacts")["1:max@kunde.example"]
    assert (contact["firstname"], contact["lastname"], contact["phone"]) == (
        "Max", "Muster", "+49 30 1",
    )  # fmt: skip
