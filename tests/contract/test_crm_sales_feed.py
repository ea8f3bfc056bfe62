"""The ERP sales feed the CRM push reads, on FakeErp and on the Tryton adapter (same tests).

Every sale from quotation on comes with its lines, oldest first by its last change; a draft
does not; a sale that moves on comes again with its new state.
"""

from __future__ import annotations

from decimal import Decimal

from hub.ledger import Ledger
from sandbox.crm import SandboxCrm
from tests.contract.conftest import ErpPortWorld
from tests.contract.test_erp_port import order


def test_quotations_and_sales_come_with_lines_drafts_do_not(
    erp_port_world: ErpPortWorld, unique: str
) -> None:
    erp = erp_port_world.port
    since = erp_port_world.mark()
    (quoted,) = erp.create_sales([order(f"Q-{unique}")], state="quotation")
    (draft,) = erp.create_sales([order(f"D-{unique}")], state="draft")
    assert quoted.sale is not None and draft.sale is not None

    changes = erp.sales_changed_since(since, limit=1000)
    by_id = {c.sale.erp_id: c for c in changes}

    assert quoted.sale.erp_id in by_id and draft.sale.erp_id not in by_id
    seen = by_id[quoted.sale.erp_id]
    assert seen.sale.state == "quotation" and seen.sale.number
    assert [ln.quantity for ln in seen.sale.lines] == [2, 3]
    assert seen.updated_at >= since
    stamps = [(c.updated_at, int(c.sale.erp_id)) for c in changes]
    assert stamps == sorted(stamps)


def test_a_sale_that_moves_on_comes_again_with_its_state(
    erp_port_world: ErpPortWorld, unique: str
) -> None:
    erp = erp_port_world.port
    (quoted,) = erp.create_sales([order(f"M-{unique}")], state="quotation")
    assert quoted.sale is not None
    first = {c.sale.erp_id: c for c in erp.sales_changed_since(None, limit=10_000)}
    since = erp_port_world.mark()

    erp.create_sales([order(f"M-{unique}")], state="confirmed")
    later = {c.sale.erp_id: c for c in erp.sales_changed_since(since, limit=1000)}

    assert first[quoted.sale.erp_id].sale.state == "quotation"
    moved = later[quoted.sale.erp_id]
    assert moved.sale.state in ("confirmed", "processing")
    assert moved.updated_at >= since


def test_usd_and_chf_sales_are_deals_in_their_own_currency_and_amount(
    erp_port_world: ErpPortWorld, unique: str, crm_server: SandboxCrm, sqlite_ledger: Ledger
) -> None:
    from connectors.crm import CrmClient
    from hub.bootstrap import Hub
    from hub.flows.crm_sync import crm_push

    erp = erp_port_world.port
    made = {
        cur: erp.create_sales([order(f"{cur}-{unique}", currency=cur)], state="confirmed")[0].sale
        for cur in ("USD", "CHF", "EUR")
    }  # fmt: skip
    assert all(s is not None and s.currency == c for c, s in made.items()), made
    crm = CrmClient(crm_server.url, crm_server.token, id_property="hub_erp_id")
    hub = Hub(sqlite_ledger, erp=erp, crm=crm)

    crm_push(hub)

    deals = {r["properties"].get("hub_erp_id"): r["properties"]
             for r in crm_server.records("deals")}  # fmt: skip
    for cur, sale in made.items():
        assert sale is not None
        deal = deals[sale.erp_id]
        assert deal["deal_currency_code"] == cur
        assert Decimal(deal["amount"]) == sale.total_amount  # in the sale's currency, unconverted
        quote = next(r["properties"] for r in crm_server.records("quotes")
                     if r["properties"].get("hub_erp_id") == sale.erp_id)  # fmt: skip
        assert quote["hs_currency"] == cur
