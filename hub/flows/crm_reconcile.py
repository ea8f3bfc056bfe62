"""`hub reconcile`, the CRM quote-to-cash sections: what the ERP and the CRM hold, both ways.

Read from both systems (the CRM through its plain list endpoint, every page), not from the
hub's own bindings:

- ``crm.deals.both_ways``: every ERP sale from quotation on whose customer is in the CRM against the
  CRM deals by ERP id (the ERP-owned deal properties; a deal won in the CRM keeps its own
  name and stage), CRM deals naming no ERP sale, and won deals with no ERP sale yet;
- ``crm.quotes``: the same sales against the CRM quote objects;
- ``crm.line_items``: the sales' lines against the CRM line items by ERP key (a deal won in
  the CRM: its own line items against the sale's lines, product and quantity);
- ``crm.prospects``: ERP parties the hub made from CRM companies that are no customers by
  ``customers`` in config/crm.yaml (listed, never deleted);
- ``crm.archived``: CRM companies and deals deleted or merged away while still bound.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from hub.flows.crm_pull import won_deal_companies
from hub.flows.crm_run import COMPANY, DEAL, DEAL_WON, PRODUCT, SYSTEM, Run, start
from hub.ops.reconcile import _diff, _section
from schemas.model import ErpSale
from transforms import crm_mapping as m
from transforms import crm_sales as q
from transforms.keys import KeyKind

if TYPE_CHECKING:
    from connectors.crm.models import CrmRecord
    from hub.bootstrap import Hub

DEALS = "crm.deals.both_ways"  # crm.deals (hub/ops/reconcile.py) compares with the ledger


def crm_sections(hub: Hub) -> list[dict[str, Any]]:
    """The quote-to-cash sections (inactive when no deal was ever synced)."""
    names = (DEALS, "crm.quotes", "crm.line_items", "crm.prospects", "crm.archived")
    if not hub.ledger.bindings_for(SYSTEM, DEAL) and not hub.ledger.bindings_for(SYSTEM, COMPANY):
        return [_section(n, "erp", "crm", {}, {}, [], active=False) for n in names]
    run = start(hub, None)
    sales = _deal_sales(run)
    won = run.ledger.bindings_for(SYSTEM, DEAL_WON)
    deals = _listed(run, "deals", m.DEAL_PROPERTIES)
    return [
        _deals(run, sales, won, deals),
        _quotes(run, sales),
        _line_items(run, sales, won),
        _prospects(run),
        _archived(run),
    ]


def _listed(run: Run, kind: str, props: Iterable[str]) -> dict[str, CrmRecord]:
    """The CRM's records of ``kind`` by ERP id (those without one under ``crm:<id>``)."""
    return {
        r.erp_id or f"crm:{r.crm_id}": r for r in run.crm.list_records(kind, properties=[*props])
    }


def _deal_sales(run: Run) -> dict[str, ErpSale]:
    """ERP sales the push makes deals of: a mapped state, the customer in the CRM."""
    companies = run.ledger.bindings_for(SYSTEM, COMPANY)
    return {
        c.sale.erp_id: c.sale
        for c in run.erp.sales_changed_since(None, limit=1_000_000)
        if c.sale.state in run.config.deal_stages and c.sale.party_erp_id in companies
    }


def _compare(
    name: str,
    erp: dict[str, dict[str, str]],
    crm: dict[str, CrmRecord],
    what: str,
) -> tuple[dict[str, str], dict[str, str], list[dict[str, Any]]]:
    """Payloads by ERP id against the CRM's records: hashes of the same keys, differences."""
    left: dict[str, str] = {}
    right: dict[str, str] = {}
    diffs: list[dict[str, Any]] = []
    for erp_id, payload in sorted(erp.items()):
        left[erp_id] = m.payload_hash(payload)
        rec = crm.get(erp_id)
        if rec is None:
            diffs.append(
                _diff(f"{what} {erp_id}", "missing_in_crm", f"no CRM {name}: run crm_push")
            )
            continue
        right[erp_id] = m.payload_hash(rec.properties, payload)
        if right[erp_id] != left[erp_id]:
            differ = ", ".join(k for k, v in payload.items() if rec.properties.get(k, "") != v)
            why = f"CRM {name} {rec.crm_id}: {differ} differ: run crm_push"
            diffs.append(_diff(f"{what} {erp_id}", "differs", why))
    for key, rec in sorted(crm.items()):
        if key not in erp and not key.startswith("crm:"):
            right[key] = m.payload_hash(rec.properties)
            diffs.append(_diff(f"{what} {key}", "missing_in_erp",
                               f"CRM {name} {rec.crm_id} names no ERP {what}"))  # fmt: skip
    return left, right, diffs


def _deals(
    run: Run, sales: dict[str, ErpSale], won: dict[str, Any], deals: dict[str, CrmRecord]
) -> dict[str, Any]:
    erp: dict[str, dict[str, str]] = {}
    for erp_id, sale in sales.items():
        payload = m.deal_payload(sale, run.config) or {}
        theirs = q.WON_DEAL_CRM_OWNED if erp_id in won else ()
        erp[erp_id] = {k: v for k, v in payload.items() if k not in theirs}
    left, right, diffs = _compare("deal", erp, deals, "sale")
    stage = run.config.won_deals.stage
    for key, rec in sorted(deals.items()):
        if key.startswith("crm:") and rec.properties.get("dealstage") == stage:
            diffs.append(_diff(f"deal {rec.crm_id}", "won_not_in_erp",
                               "won in the CRM, no ERP sale yet: run crm_pull, or see its dead "
                               "letter (hub dead-letters list --flow crm_pull)"))  # fmt: skip
    return _section(DEALS, "erp", "crm", left, right, diffs)


def _quotes(run: Run, sales: dict[str, ErpSale]) -> dict[str, Any]:
    if not run.config.quotes:
        return _section("crm.quotes", "erp", "crm", {}, {}, [], active=False)
    erp = {i: p for i, s in sales.items() if (p := q.quote_payload(s)) is not None}
    left, right, diffs = _compare("quote", erp, _listed(run, "quotes", q.QUOTE_PROPERTIES), "sale")
    return _section("crm.quotes", "erp", "crm", left, right, diffs)


def _line_items(run: Run, sales: dict[str, ErpSale], won: dict[str, Any]) -> dict[str, Any]:
    products = {c: b.external_id for c, b in run.ledger.bindings_for(SYSTEM, PRODUCT).items()}
    erp: dict[str, dict[str, str]] = {}
    for sale in sales.values():
        if sale.erp_id in won:
            continue
        for line in sale.lines:
            erp[m.line_item_key(sale, line)] = m.line_item_payload(
                line, products.get(line.product_code), f"{line.product_code} x {line.quantity}"
            )
    crm = _listed(run, "line_items", m.LINE_ITEM_PROPERTIES)
    mine = {k: r for k, r in crm.items() if not k.startswith("crm:")}
    left, right, diffs = _compare("line item", erp, mine, "sale line")
    deal_of = {b.erp_id: b.external_id for b in won.values()}
    lines_of = run.crm.associations("deals", "line_items", sorted(deal_of.values()))
    by_crm_id = {r.crm_id: r for r in crm.values()}
    codes = {v: k for k, v in products.items()}
    for sale_id, deal_id in sorted(deal_of.items()):
        if (won_sale := sales.get(sale_id)) is None:
            continue
        theirs = sorted(
            (codes.get(r.properties.get("hs_product_id", ""), r.properties.get("hs_sku", "")),
             m.wire(_num(r.properties.get("quantity"))))
            for i in lines_of.get(deal_id, []) if (r := by_crm_id.get(i)) is not None
        )  # fmt: skip
        ours = sorted((ln.product_code, m.wire(ln.quantity)) for ln in won_sale.lines)
        left[f"won:{sale_id}"], right[f"won:{sale_id}"] = str(ours), str(theirs)
        if ours != theirs:
            diffs.append(_diff(f"sale {won_sale.number or sale_id}", "lines_differ",
                               f"CRM deal {deal_id} has line items {theirs}, the ERP sale "
                               f"{ours}: the deal was edited after it was won; change the "
                               "ERP sale by hand if it should follow"))  # fmt: skip
    return _section("crm.line_items", "erp", "crm", left, right, diffs)


def _num(text: str | None) -> Any:
    from decimal import Decimal, InvalidOperation

    try:
        return Decimal(text or "0")
    except InvalidOperation:
        return text


def _prospects(run: Run) -> dict[str, Any]:
    """ERP parties the pull created from CRM companies that are no customers by the rule."""
    made = {
        str(e["result"]): e["subject"]
        for e in run.ledger.journal_find(KeyKind.CRM_OBJECT, scope="pull.company", state="done")
        if e.get("result")
    }  # ERP id -> CRM company id
    rule = run.config.customers
    props = ["name", "lifecyclestage", *([rule.property] if rule.property else [])]
    found = run.crm.read("companies", sorted(set(made.values())), properties=props,
                         by_id_property=False).found if made else {}  # fmt: skip
    maybe = [c for c, r in found.items() if not q.is_customer(r.properties, rule, won_deal=False)]
    winners = won_deal_companies(run, maybe) if maybe and rule.won_deal else set()
    left = {erp_id: crm_id for erp_id, crm_id in made.items()}
    diffs = [
        _diff(f"party {erp_id}", "prospect_in_erp",
              f"made from CRM company {crm_id} ({found[crm_id].properties.get('name')}), a "
              f"prospect by config/crm.yaml customers (lifecyclestage "
              f"{found[crm_id].properties.get('lifecyclestage') or 'none'}): it stays; block or "
              "remove the party in the ERP by hand if it never bought anything")
        for erp_id, crm_id in sorted(made.items())
        if crm_id in maybe and crm_id not in winners
    ]  # fmt: skip
    return _section("crm.prospects", "erp", "crm", left, dict(left), diffs)


def _archived(run: Run) -> dict[str, Any]:
    diffs: list[dict[str, Any]] = []
    right: dict[str, str] = {}
    for kind, entity in (("companies", COMPANY), ("deals", DEAL)):
        bound = {
            b.external_id: erp_id for erp_id, b in run.ledger.bindings_for(SYSTEM, entity).items()
        }
        for rec in run.crm.list_records(kind, archived=True):
            if rec.crm_id in bound:
                right[f"{kind}:{rec.crm_id}"] = bound[rec.crm_id]
                diffs.append(_diff(f"{kind} {rec.crm_id}", "archived_in_crm",
                                   f"deleted or merged away in the CRM, still bound to ERP id "
                                   f"{bound[rec.crm_id]}: restore it or link the record that "
                                   "replaced it; the hub does not re-create it"))  # fmt: skip
    return _section("crm.archived", "erp", "crm", {}, right, diffs)
