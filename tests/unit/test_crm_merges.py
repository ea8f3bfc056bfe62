"""CRM merges of contacts and deals on the fakes: the binding moves to the survivor, the ERP id
goes onto it, and a deleted deal is never re-created by the push."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hub.flows.crm_sync import crm_pull, crm_push
from hub.ledger import Ledger
from schemas.model import PartyRef, SalesOrder, SalesOrderLine
from tests.unit.test_crm_won_deals import synced


def _order(number: str, party: str) -> SalesOrder:
    line = SalesOrderLine(line_no=1, product_code="P0001", quantity=Decimal(2))
    return SalesOrder(order_number=number, order_date=date(2024, 1, 1),
                      buyer=PartyRef(erp_id=party), currency="EUR", lines=(line,))  # fmt: skip


def test_merged_contacts_and_deals_follow_the_survivor_and_a_deleted_deal_stays_deleted(
    ledger: Ledger,
) -> None:
    hub, crm, erp = synced(ledger)
    kept, gone = (
        erp.create_sales([_order(n, p)])[0].sale for n, p in (("PO-1", "4"), ("PO-2", "5"))
    )
    assert kept is not None and gone is not None
    erp.tick()
    crm_push(hub)
    deal_of = {r.erp_id: r.crm_id for r in crm.records("deals")}
    contact = next(r for r in crm.records("contacts") if (r.erp_id or "").startswith("4:"))
    twin = crm.user_create("contacts", {"firstname": "Anna", "email": "anna.s@kunde0.example"})
    duplicate = crm.user_create("deals", {"dealname": "PO-1 (typed twice)", "pipeline": "default",
                                          "dealstage": "contractsent"})  # fmt: skip
    crm.user_merge("contacts", twin.crm_id, contact.crm_id)
    crm.user_merge("deals", duplicate.crm_id, deal_of[kept.erp_id])
    crm.user_archive("deals", deal_of[gone.erp_id])

    pulled = crm_pull(hub)

    assert pulled["contacts_merged"] == 1 and pulled["deals_merged"] == 1
    assert ledger.lookup("crm", "contact", contact.crm_id) is None
    moved = ledger.lookup("crm", "contact", twin.crm_id)
    assert moved is not None and moved.erp_id == contact.erp_id
    assert ledger.lookup("crm", "deal", duplicate.crm_id).erp_id == kept.erp_id  # type: ignore[union-attr]
    survivors = {r.crm_id: r.erp_id for r in crm.records("deals")}
    assert survivors == {duplicate.crm_id: kept.erp_id}  # the sale's id written onto it
    assert next(r for r in crm.records("contacts") if r.crm_id == twin.crm_id).erp_id == (
        contact.erp_id
    )

    erp.ship(kept.erp_id)  # both sales move on in the ERP: their deals change
    erp.ship(gone.erp_id)
    erp.tick()
    pushed = crm_push(hub)

    deals = {r.crm_id: r for r in crm.records("deals")}
    assert list(deals) == [duplicate.crm_id]  # updated by ERP id; the deleted one not re-made
    assert deals[duplicate.crm_id].properties["dealstage"] == "closedwon"
    letters = [d.reason for d in ledger.dead_letters(flow="crm_push")]
    assert any(f"CRM deal {deal_of[gone.erp_id]} was deleted or merged away" in r
               for r in letters), letters  # fmt: skip
    assert pushed["status"] == "partial"
    assert len(crm.records("contacts")) == 3  # the merged contact is not pushed again
