"""CRM -> ERP on the fakes: a won deal becomes one ERP sale, refusals are letters and notes on
the deal, and prospects stay in the CRM."""

from __future__ import annotations

from decimal import Decimal

from bench.crm_sync import seed_erp
from connectors.crm.fake import FakeCrm
from connectors.erp.fake import FakeErp
from hub.bootstrap import Hub
from hub.flows.crm_sync import crm_pull, crm_push
from hub.ledger import Ledger
from transforms.keys import CrmObjectKey


def synced(ledger: Ledger) -> tuple[Hub, FakeCrm, FakeErp]:
    """Three ERP customers and three products already in the CRM."""
    crm, erp = FakeCrm(), seed_erp(3, products=3)
    hub = Hub(ledger, erp=erp, crm=crm)
    crm_push(hub)
    crm_pull(hub)
    return hub, crm, erp


def won_deal(crm: FakeCrm, company: str | None, lines: list[tuple[str, str]], **props: str) -> str:
    """A deal a sales person wins in the CRM: line items (product SKU, quantity), a company."""
    products = {r.properties["hs_sku"]: r.crm_id for r in crm.records("products")}
    deal = crm.user_create("deals", {"dealname": "Big order", "dealstage": "appointmentscheduled",
                                     "pipeline": "default", **props}).crm_id  # fmt: skip
    items = [
        crm.user_create("line_items", {"name": sku, "hs_sku": sku, "quantity": qty, "price": "9.5",
                                       "hs_product_id": products.get(sku, "")}).crm_id
        for sku, qty in lines
    ]  # fmt: skip
    if company is not None:
        crm.associate("deals", "companies", [(deal, company)])
    crm.associate("deals", "line_items", [(deal, i) for i in items])
    crm.user_update("deals", deal, {"dealstage": "closedwon"})
    return deal


def company_of(crm: FakeCrm, erp_id: str) -> str:
    return next(r.crm_id for r in crm.records("companies") if r.erp_id == erp_id)


def test_a_won_deal_becomes_one_erp_quotation_and_its_deal_keeps_its_stage(
    ledger: Ledger,
) -> None:
    hub, crm, erp = synced(ledger)
    deal = won_deal(crm, company_of(crm, "4"), [("P0001", "3"), ("P0002", "1")])
    before = set(erp.sales)

    pulled = crm_pull(hub)
    again = crm_pull(hub)

    (sale_id,) = set(erp.sales) - before
    sale = erp.sales[sale_id]
    assert pulled["deals_won_to_erp"] == 1 and "deals_won_to_erp" not in again
    assert (sale.reference, sale.party_erp_id, sale.state) == (f"CRM-{deal}", "4", "quotation")
    assert [(ln.product_code, ln.quantity, ln.unit_price) for ln in sale.lines] == [
        ("P0001", 3, Decimal("9.5")), ("P0002", 1, Decimal("9.5")),
    ]  # fmt: skip
    record = next(r for r in crm.records("deals") if r.crm_id == deal)
    assert record.erp_id == sale_id

    pushed = crm_push(hub)
    record = next(r for r in crm.records("deals") if r.crm_id == deal)
    assert pushed["deals_sent"] == 1 and record.properties["dealstage"] == "closedwon"
    assert record.properties["hub_sale_number"] == sale.number
    assert len(crm.records("deals")) == 1  # the sale went onto the deal, no second deal
    assert len(crm.associations("deals", "line_items", [deal])[deal]) == 2  # the CRM's own
    assert len(crm.records("quotes")) == 1

    crm.user_update("deals", deal, {"dealname": "Big order (edited)", "dealstage": "closedwon"})
    crm_pull(hub)
    assert set(erp.sales) - before == {sale_id}  # edited and won again: still one sale


def test_a_deal_the_erp_cannot_take_is_a_letter_and_a_note_and_is_tried_when_fixed(
    ledger: Ledger,
) -> None:
    hub, crm, erp = synced(ledger)
    unknown = won_deal(crm, company_of(crm, "5"), [("NOPE-1", "2")])
    francs = won_deal(crm, company_of(crm, "6"), [("P0001", "1")], deal_currency_code="CHF")
    alone = won_deal(crm, None, [("P0001", "1")])
    before = set(erp.sales)

    report = crm_pull(hub)

    assert report["deals_refused"] == 3 and set(erp.sales) == before
    letters = {d.record_key: d.reason for d in ledger.dead_letters(flow="crm_pull")}
    product = letters[str(CrmObjectKey("pull", "deal", unknown))]
    assert f"CRM deal {unknown}" in product and "NOPE-1" in product and "hs_sku" in product
    assert "CHF" in letters[str(CrmObjectKey("pull", "deal", francs))]
    assert "no associated company" in letters[str(CrmObjectKey("pull", "deal", alone))]
    notes = {r.crm_id: r.properties.get("hub_sync_note", "") for r in crm.records("deals")}
    assert "NOPE-1" in notes[unknown] and "CHF" in notes[francs]

    crm_pull(hub)  # the notes changed the deals: seen again, refused again, no new note
    line = crm.associations("deals", "line_items", [unknown])[unknown][0]
    crm.user_update("line_items", line, {"hs_sku": "P0002"})
    crm.user_update("deals", unknown, {"dealname": "fixed"})
    fixed = crm_pull(hub)

    assert fixed["deals_won_to_erp"] == 1
    (sale_id,) = set(erp.sales) - before
    assert erp.sales[sale_id].lines[0].product_code == "P0002"
    open_keys = {d.record_key for d in ledger.dead_letters(flow="crm_pull")}
    assert str(CrmObjectKey("pull", "deal", unknown)) not in open_keys
    assert len(open_keys) == 2


def test_prospects_stay_in_the_crm_until_they_win_a_deal(ledger: Ledger) -> None:
    hub, crm, erp = synced(ledger)
    lead = crm.user_create(
        "companies",
        {"name": "Interessent GmbH", "zip": "28195", "country": "DE", "lifecyclestage": "lead"},
    ).crm_id
    customer = crm.user_create(
        "companies",
        {"name": "Stammkunde AG", "zip": "20095", "country": "DE", "lifecyclestage": "customer"},
    )
    parties = len(erp.parties)

    report = crm_pull(hub)

    assert report["prospects_left_in_crm"] == 1 and len(erp.parties) == parties + 1
    assert {p.name for p in erp.parties.values()} >= {"Stammkunde AG"}
    assert "Interessent GmbH" not in {p.name for p in erp.parties.values()}
    assert customer.crm_id != lead

    deal = won_deal(crm, lead, [("P0001", "4")])
    won = crm_pull(hub)

    assert won["deals_won_to_erp"] == 1  # its company linked by the deal (or its won deal)
    party = next(p for p in erp.parties.values() if p.name == "Interessent GmbH")
    sale = next(s for s in erp.sales.values() if s.reference == f"CRM-{deal}")
    assert sale.party_erp_id == party.erp_id


def test_a_merge_moves_the_binding_to_the_survivor_and_a_deletion_is_not_recreated(
    ledger: Ledger,
) -> None:
    hub, crm, erp = synced(ledger)
    merged_away = company_of(crm, "4")
    survivor = crm.user_create("companies", {"name": "Kunde 0 GmbH (Zentrale)",
                                             "lifecyclestage": "lead"}).crm_id  # fmt: skip
    crm.user_merge("companies", survivor, merged_away)
    crm.user_merge("companies", company_of(crm, "6"), company_of(crm, "5"))  # both bound

    pulled = crm_pull(hub)

    assert pulled["companies_merged"] == 1
    moved = ledger.lookup("crm", "company", survivor)
    assert moved is not None and moved.erp_id == "4"
    assert ledger.lookup("crm", "company", merged_away) is None
    assert next(r for r in crm.records("companies") if r.crm_id == survivor).erp_id == "4"
    letters = [d.reason for d in ledger.dead_letters(flow="crm_pull")]
    assert any("merge the two parties in the ERP" in r for r in letters), letters

    count = len(crm.records("companies"))
    erp.update_party(erp.parties["4"].model_copy(update={"name": "Kunde 0 GmbH & Co. KG"}))
    gone = company_of(crm, "6")
    crm.user_archive("companies", gone)
    erp.update_party(erp.parties["6"].model_copy(update={"name": "Kunde 2 neu"}))
    erp.tick()
    pushed = crm_push(hub)

    assert len(crm.records("companies")) == count - 1  # nothing re-created for party 6
    names = {r.erp_id: r.properties["name"] for r in crm.records("companies")}
    assert names["4"] == "Kunde 0 GmbH & Co. KG"  # the push found the survivor by ERP id
    deleted = [d.reason for d in ledger.dead_letters(flow="crm_push")]
    assert any(f"CRM company {gone} was deleted or merged away" in r for r in deleted)
    assert pushed["status"] == "partial"


def test_reconcile_names_an_edited_deal_a_prospect_party_and_a_deleted_company(
    ledger: Ledger,
) -> None:
    from datetime import date

    from hub.ops.reconcile import reconcile
    from schemas.model import PartyRef, SalesOrder, SalesOrderLine

    hub, crm, erp = synced(ledger)
    order = SalesOrder(order_number="PO-9", order_date=date(2024, 1, 1),
                       buyer=PartyRef(erp_id="5"), currency="EUR",
                       lines=(SalesOrderLine(line_no=1, product_code="P0001",
                                             quantity=Decimal(3)),))  # fmt: skip
    sale = erp.create_sales([order])[0].sale
    assert sale is not None
    newcomer = crm.user_create(
        "companies",
        {"name": "Neukunde KG", "zip": "20095", "country": "DE", "hub_vat": "DE136695976"},
    ).crm_id
    crm_push(hub)
    crm_pull(hub)
    clean = {s["section"]: s["differences"] for s in reconcile(hub)["sections"]}
    q2c = ("crm.deals", "crm.deals.both_ways", "crm.quotes", "crm.line_items")
    assert all(clean[n] == [] for n in q2c), clean

    deal = next(r for r in crm.records("deals") if r.erp_id == sale.erp_id)
    crm.user_update("deals", deal.crm_id, {"amount": "1.00"})
    crm.user_update("companies", newcomer, {"lifecyclestage": "lead"})
    crm.user_archive("companies", company_of(crm, "6"))
    found = {s["section"]: s["differences"] for s in reconcile(hub)["sections"]}

    assert [(d["kind"], "amount" in d["detail"]) for d in found["crm.deals.both_ways"]] == [
        ("differs", True)
    ]
    assert [d["kind"] for d in found["crm.prospects"]] == ["prospect_in_erp"]
    assert "Neukunde KG" in found["crm.prospects"][0]["detail"]
    assert [d["kind"] for d in found["crm.archived"]] == ["archived_in_crm"]


def test_a_refused_deal_is_replayed_once_the_erp_can_take_it(ledger: Ledger) -> None:
    from hub.ops.replay import replay

    hub, crm, erp = synced(ledger)
    deal = won_deal(crm, company_of(crm, "5"), [("P0001", "2")], deal_currency_code="CHF")
    crm_pull(hub)
    (letter,) = [
        d
        for d in ledger.dead_letters(flow="crm_pull")
        if d.record_key == str(CrmObjectKey("pull", "deal", deal))
    ]
    assert "CHF" in letter.reason

    erp.currencies.add("CHF")  # the ERP's people add the currency
    result = replay(hub, letter.id, by="test")

    assert result["outcome"] == "replayed", result
    (sale,) = [s for s in erp.sales.values() if s.reference == f"CRM-{deal}"]
    assert sale.currency == "CHF"
    crm_pull(hub)
    replay_again = [s for s in erp.sales.values() if s.reference == f"CRM-{deal}"]
    assert len(replay_again) == 1
    record = next(r for r in crm.records("deals") if r.crm_id == deal)
    assert record.erp_id == sale.erp_id and not record.properties.get("hub_sync_note")
