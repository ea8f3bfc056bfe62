"""crm_push, parties and products: ERP parties become CRM companies and contacts, products too.

Parties changed since the cursor become companies, their contact persons contacts
(associated); products become CRM products with stock on hand. A payload whose hash equals
the one bound in the ledger sends nothing. Per page, the bindings, the dead letters of
refused records and the cursor are committed in one ledger transaction after the CRM
accepted the page: a crash repeats (idempotent upserts), never loses. Deals and invoices:
``hub/flows/crm_deals.py``.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from hub.flows.crm_config import check_pipeline
from hub.flows.crm_deals import push_sales
from hub.flows.crm_merges import refuse_deleted
from hub.flows.crm_run import (
    COMPANY,
    COMPANY_CRM,
    CONTACT,
    FLOW_PUSH,
    PRODUCT,
    STREAM_PARTIES,
    SYSTEM,
    Letter,
    Run,
    commit,
    failure_letter,
    report,
    start,
)
from hub.ledger.bindings import Binding, BindRow, as_binding
from hub.ledger.cursors import Cursor
from transforms import crm_mapping as m
from transforms.keys import KeyKind

if TYPE_CHECKING:
    from connectors.erp.port import ErpPort
    from hub.bootstrap import Hub
    from schemas.crm_config import CrmConfig
    from schemas.model import Party

log = logging.getLogger(__name__)

PageResult = tuple[list[BindRow], list[Letter], Counter[str]]


def crm_push(
    hub: Hub,
    *,
    sale_ids: Sequence[str] | str = (),
    page_size: int | str | None = None,
    config: CrmConfig | None = None,
    **options: Any,
) -> dict[str, Any]:
    """ERP -> CRM: companies and contacts, products and stock, deals and invoice status.

    ``options`` (``crm_run.RUN_OPTIONS``): ``dry_run`` reports what would be written and
    writes nothing; ``since``/``until``/``cursor_stream`` backfill the parties and invoices
    changed in that window.
    """
    run = start(hub, config, **options)
    check_pipeline(run.crm, run.config)
    ids = [s for s in (sale_ids.split(",") if isinstance(sale_ids, str) else sale_ids) if s]
    _push_parties(run, int(page_size or run.config.push_page_size))
    products = _push_products(run)
    push_sales(run, products, ids)
    return report(run, "push")


def _page_of_parties(
    erp: ErpPort, since: datetime | None, page: int
) -> tuple[list[Party], datetime | None]:
    """The next page at/after ``since``; grows past a run of equal timestamps."""
    limit = page
    while True:
        parties = erp.parties_changed_since(since, limit=limit)
        stuck = (
            since is not None
            and len(parties) == limit
            and all(p.updated_at == since for p in parties)
        )
        if not stuck:
            stamps = [p.updated_at for p in parties if p.updated_at is not None]
            return parties, max(stamps) if stamps else since
        limit *= 2


@dataclass
class _Page:
    """A page of parties on its way: sent by a worker, committed in order by the caller."""

    future: Future[PageResult]
    parties: int
    cursor: Cursor  # the position this page reaches, committed with its bindings


@dataclass
class _Parties:
    """The push of parties in flight: bindings known so far and the pages not committed."""

    run: Run
    keys: tuple[Sequence[str], Sequence[str], Sequence[str]]  # erp, crm, contact hash keys
    companies: dict[str, Binding] | None = None  # loaded when there is something to compare
    contacts: dict[str, Binding] = field(default_factory=dict)
    pending: deque[_Page] = field(default_factory=deque)

    def send(self, fresh: list[Party], own: Run) -> PageResult:
        rows, letters = _push_party_page(own, fresh, self.companies or {}, self.contacts, self.keys)
        return rows, letters, own.counts

    def commit(self, page: _Page) -> None:
        rows, letters, counts = page.future.result()
        self.run.counts.update(counts)
        conflicts = commit(self.run, FLOW_PUSH, rows, letters, page.cursor)
        for row in rows:
            if row in conflicts or row.entity not in (COMPANY, CONTACT) or self.companies is None:
                continue
            cache = self.companies if row.entity == COMPANY else self.contacts
            cache[row.erp_id] = as_binding(SYSTEM, row)
        log.info("crm_push: %d parties up to %s committed", page.parties, page.cursor.value)


def _push_parties(run: Run, page_size: int, in_flight: int = 2) -> None:
    """Pages are read and mapped while earlier pages are being sent (``in_flight`` at once,
    one more read and queued so a worker never waits for the reader), so the request
    budget, not the hub's own work, sets the pace; commits stay in order."""
    cfg = run.config
    state = _Parties(run, (
        m.properties_of(cfg.companies, "erp", m.COMPANY_PROPERTY),
        m.properties_of(cfg.companies, "crm", m.COMPANY_PROPERTY),
        m.properties_of(cfg.contacts, "crm", m.CONTACT_PROPERTY),
    ))  # fmt: skip
    reader = run.cursor(STREAM_PARTIES)
    with ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="crm-push") as pool:
        try:
            while True:
                since = reader.read_from
                parties, _ = _page_of_parties(run.erp, since, page_size)
                inside = [p for p in parties if reader.in_window(p.updated_at)]
                ended = len(inside) < len(parties)  # a backfill stops at its window's end
                fresh = [p for p in inside if reader.is_new(p.updated_at, p.erp_id or "")]
                if fresh:
                    _submit(state, pool, reader, inside, fresh)
                last = ended or not fresh or len(parties) < page_size
                pending = state.pending
                while pending and (last or len(pending) > in_flight or pending[0].future.done()):
                    state.commit(pending.popleft())
                if last:
                    return
        finally:
            for page in state.pending:
                page.future.cancel()


def _submit(
    state: _Parties,
    pool: ThreadPoolExecutor,
    reader: Cursor,
    inside: list[Party],
    fresh: list[Party],
) -> None:
    """Send a page in a worker; the reader passes every row of it (sent or already done)."""
    run = state.run
    if state.companies is None:
        state.companies = run.ledger.bindings_for(SYSTEM, COMPANY)
        state.contacts.update(run.ledger.bindings_for(SYSTEM, CONTACT))
    run.counts["parties_read"] += len(fresh)
    for party in sorted(inside, key=lambda p: (p.updated_at is None, p.updated_at)):
        reader.passed(party.updated_at, party.erp_id or "")
    snapshot = replace(reader, ties=set(reader.ties), dirty=True)
    own = replace(run, counts=Counter(), dead=[])
    state.pending.append(_Page(pool.submit(state.send, fresh, own), len(fresh), snapshot))


def _push_party_page(
    run: Run,
    parties: Sequence[Party],
    companies: dict[str, Binding],
    contacts: dict[str, Binding],
    keys: tuple[Sequence[str], Sequence[str], Sequence[str]],
) -> tuple[list[BindRow], list[Letter]]:
    rows, letters, company_ids, failed = _push_companies(run, parties, companies, keys)
    more_rows, more_letters = _push_contacts(run, parties, contacts, company_ids, failed, keys[2])
    return rows + more_rows, letters + more_letters


def _push_companies(
    run: Run,
    parties: Sequence[Party],
    companies: dict[str, Binding],
    keys: tuple[Sequence[str], Sequence[str], Sequence[str]],
) -> tuple[list[BindRow], list[Letter], dict[str, str], set[str]]:
    """Companies whose ERP-owned payload changed; returns bindings, letters, ERP id -> CRM id
    of every company known, and the ERP ids the CRM refused."""
    erp_keys, crm_keys, _ = keys
    rows: list[BindRow] = []
    letters: list[Letter] = []
    send: dict[str, dict[str, str]] = {}
    hashes: dict[str, tuple[str, str | None]] = {}
    pulling: bool | None = None  # asked once, for the first party without a binding
    for party in parties:
        erp_id = party.erp_id or ""
        known = companies.get(erp_id)
        if known is not None and known.content_hash is None:
            # made by the pull from a CRM company whose ERP id is still being written back:
            # the pull settles it; an upsert by ERP id now would create a second company
            run.counts["companies_link_pending"] += 1
            continue
        if known is None:
            if pulling is None:
                pulling = _pull_creates_in_flight(run)
            if pulling:
                # a pull made an ERP party of a CRM company and stopped (killed) before it
                # bound it: this party may be that one, and a create by ERP id would make a
                # second CRM company; the pull's next run settles it, the next push sends
                run.counts["companies_wait_for_pull"] += 1
                continue
        payload = m.company_payload(party, run.config, seed=known is None)
        erp_hash = m.payload_hash(payload, erp_keys)
        if known is not None and known.content_hash == erp_hash:
            run.counts["companies_unchanged"] += 1
            continue
        send[erp_id] = payload
        hashes[erp_id] = (erp_hash, m.payload_hash(payload, crm_keys) if known is None else None)
    company_ids = {erp_id: b.external_id for erp_id, b in companies.items()}
    failed: set[str] = set()
    asked = set(send)
    letters += refuse_deleted(run, "companies", companies, send)
    failed |= asked - set(send)
    if send:
        outcome = run.crm.upsert("companies", send)
        run.counts["companies_sent"] += len(send)
        for ok in outcome.succeeded:
            company_ids[ok.erp_id] = ok.crm_id
            erp_hash, crm_hash = hashes[ok.erp_id]
            rows.append(BindRow(COMPANY, ok.crm_id, ok.erp_id, erp_hash))
            if crm_hash is not None:
                rows.append(BindRow(COMPANY_CRM, ok.crm_id, ok.erp_id, crm_hash))
        for bad in outcome.failed:
            failed.add(bad.erp_id or "")
            letters.append(failure_letter(FLOW_PUSH, "company", bad, send.get(bad.erp_id or "")))
    return rows, letters, company_ids, failed


def _pull_creates_in_flight(run: Run) -> bool:
    """Whether a pull's ERP party create of a CRM company has no recorded outcome yet (its
    intent is journaled, its result and the company's binding are not)."""
    return any(
        run.ledger.journal_find(KeyKind.CRM_OBJECT, scope="pull.company", state=state)
        for state in ("pending", "unknown")
    )


def _push_contacts(
    run: Run,
    parties: Sequence[Party],
    contacts: dict[str, Binding],
    company_ids: dict[str, str],
    failed: set[str],
    contact_keys: Sequence[str],
) -> tuple[list[BindRow], list[Letter]]:
    """Contact persons, created once with their details (the CRM owns them afterwards)."""
    rows: list[BindRow] = []
    letters: list[Letter] = []
    send: dict[str, dict[str, str]] = {}
    company_of: dict[str, str] = {}
    for party in parties:
        erp_id = party.erp_id or ""
        if erp_id in failed or erp_id not in company_ids:
            continue
        for person in m.contacts_of(party):
            key = m.contact_key(erp_id, person)
            if key in contacts or key in send:
                continue
            send[key] = m.contact_payload(person, run.config, seed=True)
            company_of[key] = company_ids[erp_id]
    if not send:
        return rows, letters
    outcome = run.crm.upsert("contacts", send)
    run.counts["contacts_sent"] += len(send)
    pairs = []
    for ok in outcome.succeeded:
        pairs.append((ok.crm_id, company_of[ok.erp_id]))
        rows.append(
            BindRow(CONTACT, ok.crm_id, ok.erp_id, m.payload_hash(send[ok.erp_id], contact_keys))
        )
    for bad in outcome.failed:
        letters.append(failure_letter(FLOW_PUSH, "contact", bad, send.get(bad.erp_id or "")))
    if pairs:
        assoc = run.crm.associate("contacts", "companies", pairs)
        run.counts["associations_sent"] += len(pairs)
        unlinked = {f.erp_id for f in assoc.failed}
        letters += [failure_letter(FLOW_PUSH, "association", bad, None) for bad in assoc.failed]
        rows = [r for r in rows if r.external_id not in unlinked]
    return rows, letters


def _on_hand(erp: ErpPort) -> dict[str, Decimal]:
    total: dict[str, Decimal] = {}
    for level in erp.stock_levels():
        total[level.product_code] = total.get(level.product_code, Decimal(0)) + level.quantity
    return total


def _push_products(run: Run) -> dict[str, str]:
    """Products and stock on hand; returns product code -> CRM product id."""
    known = run.ledger.bindings_for(SYSTEM, PRODUCT)
    stock = _on_hand(run.erp)
    send: dict[str, dict[str, str]] = {}
    for product in run.erp.list_products():
        payload = m.product_payload(product, stock.get(product.code))
        b = known.get(product.code)
        if b is not None and b.content_hash == m.payload_hash(payload):
            run.counts["products_unchanged"] += 1
            continue
        send[product.code] = payload
    ids = {code: b.external_id for code, b in known.items()}
    if not send:
        return ids
    outcome = run.crm.upsert("products", send)
    run.counts["products_sent"] += len(send)
    rows = [
        BindRow(PRODUCT, ok.crm_id, ok.erp_id, m.payload_hash(send[ok.erp_id]))
        for ok in outcome.succeeded
    ]
    letters = [
        failure_letter(FLOW_PUSH, "product", f, send.get(f.erp_id or "")) for f in outcome.failed
    ]
    conflicts = commit(run, FLOW_PUSH, rows, letters)
    ids.update({r.erp_id: r.external_id for r in rows if r not in conflicts})
    return ids
