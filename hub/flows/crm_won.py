"""crm_pull, won deals: a deal won in the CRM becomes an ERP quotation or sale, once per deal.

A deal modified since the ``crm.pull.deals`` cursor that stands in the won stage
(``won_deals.stage``), is not the hub's own (no ERP id) and not bound yet, becomes a
``SalesOrder`` (its company's ERP party, its line items' products bound to ERP products,
reference ``CRM-<deal id>``) created through ``ledger.once`` keyed by the deal
(``CrmObjectKey("pull", "deal", id)``): a re-won, edited or replayed deal changes nothing
twice, and after an unknown outcome the ERP is asked for the sale by its reference first.
The deal is bound to the sale, the sale's ERP id written back to the deal. A deal that
cannot become a sale (no company, a prospect the rule refuses, a product or currency the
ERP lacks) is a dead letter naming the deal and the fix, and a note on the deal
(``hub_sync_note``); when the deal changes, it is tried again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from hub.flows.crm_link import link_new_company
from hub.flows.crm_merges import MERGED, follow_merges
from hub.flows.crm_run import (
    COMPANY,
    DEAL,
    DEAL_WON,
    DRY,
    FLOW_PULL,
    PRODUCT,
    STREAM_PULL,
    SYSTEM,
    Letter,
    Run,
    commit,
    once_result,
    would,
)
from hub.ledger.bindings import BindRow
from hub.ledger.journal import Effect, OnUnknown
from schemas.errors import HubError, PermanentError
from schemas.model import SalesOrder
from transforms import crm_sales as q
from transforms.keys import CrmObjectKey, KeyKind

if TYPE_CHECKING:
    from connectors.crm.models import CrmRecord

NOTE = "hub_sync_note"
LINKED = "linked"  # the deal binding's hash once the sale's ERP id is on the deal


@dataclass
class _Won:
    """A page of won deals with what they need: companies, line items, products."""

    companies_of: dict[str, list[str]]
    lines_of: dict[str, list[str]]
    lines: dict[str, CrmRecord]
    products: dict[str, str]  # CRM product id -> ERP product code
    skus: set[str]  # hs_sku values the ERP has as product codes
    rows: list[BindRow] = field(default_factory=list)
    letters: list[Letter] = field(default_factory=list)


def pull_won_deals(run: Run) -> None:
    """Deals changed since the cursor (and those waiting on a letter) that are won."""
    cfg = run.config.won_deals
    if not cfg.enabled:
        return
    cursor = run.cursor(STREAM_PULL["deals"])
    props = [*q.DEAL_READ_PROPERTIES, NOTE, MERGED]
    records = [
        r
        for r in run.crm.search_modified_since("deals", cursor.read_from, properties=props)
        if cursor.in_window(r.modified_at)
    ]
    run.counts["deals_read"] += len(records)
    seen = {r.crm_id for r in records}
    waiting = [i for i in _waiting(run) if i not in seen]
    if waiting:
        records += list(run.crm.read("deals", waiting, properties=props,
                                     by_id_property=False).found.values())  # fmt: skip
    merged = follow_merges(run, records, "deals")
    won = [r for r in records if r.properties.get("dealstage") == cfg.stage]
    rows, letters = _settle(run, won)
    letters += merged
    for rec in records:
        if rec.crm_id in seen:
            cursor.passed(rec.modified_at, rec.crm_id)
    commit(run, FLOW_PULL, rows, letters, cursor)


def _waiting(run: Run) -> list[str]:
    """Deals whose journal entry is to be tried again (a replay reopened it, or a transient
    error or unknown outcome stopped the last attempt)."""
    ids: list[str] = []
    for state in ("failed", "unknown"):
        ids += [e["subject"] for e in run.ledger.journal_find(
            KeyKind.CRM_OBJECT, scope="pull.deal", state=state)]  # fmt: skip
    return sorted(set(ids))


def _settle(run: Run, won: Sequence[CrmRecord]) -> tuple[list[BindRow], list[Letter]]:
    rows: list[BindRow] = []
    todo: list[CrmRecord] = []
    for rec in won:
        b = run.ledger.lookup(SYSTEM, DEAL, rec.crm_id)
        if b is None and not rec.erp_id:
            todo.append(rec)
        elif b is not None and b.content_hash is None and run.would is None:
            rows += _write_back(run, rec.crm_id, b.erp_id)  # the sale exists: link it
    if not todo:
        return rows, []
    page = _read_page(run, todo)
    for rec in todo:
        _win(run, page, rec)
    return rows + page.rows, page.letters


def _read_page(run: Run, deals: Sequence[CrmRecord]) -> _Won:
    ids = [r.crm_id for r in deals]
    lines_of = run.crm.associations("deals", "line_items", ids)
    line_ids = sorted({i for v in lines_of.values() for i in v})
    lines = (
        run.crm.read("line_items", line_ids, properties=q.LINE_READ_PROPERTIES,
                     by_id_property=False).found if line_ids else {}
    )  # fmt: skip
    products = {b.external_id: code for code, b in run.ledger.bindings_for(SYSTEM, PRODUCT).items()}
    skus = {
        sku
        for rec in lines.values()
        if (sku := rec.properties.get("hs_sku"))
        and rec.properties.get("hs_product_id") not in products
    }
    known = set(run.erp.find_products_by_code(sorted(skus))) if skus else set()
    companies_of = run.crm.associations("deals", "companies", ids)
    return _Won(companies_of, lines_of, lines, products, known)


def _win(run: Run, page: _Won, rec: CrmRecord) -> None:
    """One won deal: its order, then the sale once; a refusal is a letter and a note.

    A deal that cannot become an order is refused through the same journal entry (dead),
    so a replay or a later change of the deal goes through ``once`` like any attempt."""
    key = CrmObjectKey("pull", "deal", rec.crm_id)
    order: SalesOrder | PermanentError
    try:
        party = _party(run, page, rec)
        order = q.deal_order(rec.crm_id, rec.properties, party, _lines(page, rec),
                             run.config, datetime.now(UTC).date())  # fmt: skip
    except PermanentError as exc:
        order = exc
    try:
        sale_id = _create_sale(run, key, order)
    except PermanentError as exc:
        _refused(run, page, rec, key, exc)
        return
    page.rows.append(BindRow(DEAL_WON, rec.crm_id, sale_id, None))
    if run.would is None:
        page.rows += _write_back(run, rec.crm_id, sale_id)
        _resolve_letter(run, key)
    run.counts["deals_won_to_erp"] += 1


def _party(run: Run, page: _Won, rec: CrmRecord) -> str:
    """The deal's ERP party: its bound company's, else the company linked now (a won deal
    makes a customer); no company is a PermanentError naming the fix."""
    companies = page.companies_of.get(rec.crm_id, [])
    for crm_company in companies:
        b = run.ledger.lookup(SYSTEM, COMPANY, crm_company)
        if b is not None:
            return b.erp_id
    if not companies:
        raise PermanentError(
            f"CRM deal {rec.crm_id} has no associated company: associate the customer's "
            "company with the deal in the CRM",
            system=SYSTEM, code="unknown_company",
        )  # fmt: skip
    if not run.config.customers.won_deal:
        raise PermanentError(
            f"CRM deal {rec.crm_id}: its company {companies[0]} is not a customer by "
            "config/crm.yaml customers (and won_deal is off): make it a customer in the CRM",
            system=SYSTEM, code="unknown_company",
        )  # fmt: skip
    found = run.crm.read("companies", companies[:1], by_id_property=False,
                         properties=["name", "hub_vat", "hub_gln", "address", "zip", "city",
                                     "country", "phone", "website"]).found  # fmt: skip
    company = found.get(companies[0])
    if company is None:
        raise PermanentError(
            f"CRM deal {rec.crm_id}: its company {companies[0]} cannot be read (deleted?): "
            "associate an existing company with the deal",
            system=SYSTEM, code="unknown_company",
        )  # fmt: skip
    erp_id = company.erp_id or link_new_company(run, company)
    run.counts["companies_linked_by_won_deal"] += 1
    return erp_id


def _lines(page: _Won, rec: CrmRecord) -> list[q.DealLine]:
    out = []
    for line_id in page.lines_of.get(rec.crm_id, []):
        line = page.lines.get(line_id)
        if line is None:
            continue
        code = page.products.get(line.properties.get("hs_product_id") or "")
        sku = line.properties.get("hs_sku")
        code = code or (sku if sku in page.skus else None)
        out.append(q.DealLine(line_id, line.properties, code))
    return out


def _create_sale(run: Run, key: CrmObjectKey, order: SalesOrder | PermanentError) -> str:
    """The ERP sale of the order, once per deal (a dry run only says it would); ``order``
    is the refusal when the deal cannot become one (the entry dies with it)."""
    state = run.config.won_deals.sale_state
    if run.would is not None:
        if isinstance(order, PermanentError):
            raise order
        would(run, "erp", "create_sale", [f"{order.order_number} as {state} ({order.notes[0]})"])
        return f"{DRY}sale {order.order_number}"
    entry = run.ledger.journal_entry(key)
    if entry is not None and entry["state"] == "dead":
        run.ledger.reopen(str(key))  # the deal changed since it was refused: try again

    def create() -> str:
        if isinstance(order, PermanentError):
            raise order
        (result,) = run.erp.create_sales([order], state=state)
        if result.error is not None:
            raise result.error
        assert result.sale is not None
        return result.sale.erp_id

    def find(_key: str) -> str | None:
        if isinstance(order, PermanentError):
            return None
        sale = run.erp.find_sale(order.buyer.erp_id or "", order.order_number)
        return sale.erp_id if sale else None

    outcome = run.ledger.once(
        key, key.object_id, create, on_unknown=OnUnknown.look_up(find),
        effect=Effect(FLOW_PULL, "erp", "create_sale", ref=key.object_id,
                      what=f"the ERP sale of CRM deal {key.object_id}"),
    )  # fmt: skip
    return once_result(
        outcome, f"the ERP sale of CRM deal {key.object_id}", "asks the ERP for it by reference"
    )


def _write_back(run: Run, deal_id: str, sale_id: str) -> list[BindRow]:
    """The sale's ERP id onto the deal (so the push finds it), then the binding says so."""
    run.crm.update("deals", deal_id, {run.config.id_property: sale_id, NOTE: ""},
                   by_id_property=False)  # fmt: skip
    return [BindRow(DEAL, deal_id, sale_id, LINKED)]


def _refused(run: Run, page: _Won, rec: CrmRecord, key: CrmObjectKey, exc: HubError) -> None:
    """A dead letter naming the deal and the fix, and the same words as a note on the deal."""
    reason = exc.message
    if not reason.startswith("CRM deal"):
        reason = f"CRM deal {rec.crm_id} ({rec.properties.get('dealname') or 'unnamed'}): {reason}"
    page.letters.append(Letter(FLOW_PULL, str(key), reason, exc.__class__.__name__,
                               {"deal": rec.crm_id, "code": exc.code}))  # fmt: skip
    run.counts["deals_refused"] += 1
    note = f"not in the ERP: {reason}"[:1000]
    if rec.properties.get(NOTE) != note:
        run.crm.update("deals", rec.crm_id, {NOTE: note}, by_id_property=False)


def _resolve_letter(run: Run, key: CrmObjectKey) -> None:
    for letter in run.ledger.dead_letters(flow=FLOW_PULL, record_key=str(key)):
        run.ledger.close_dead_letter(letter.id, "resolved", by=FLOW_PULL,
                                     note="the deal became an ERP sale")  # fmt: skip
