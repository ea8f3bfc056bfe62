"""Flows crm_push, crm_pull and crm_sync: the ERP and the HubSpot CRM kept in step, both ways.

crm_push (ERP -> CRM): parties changed since the cursor become companies and their contact
persons contacts (associated); products become CRM products with stock on hand; confirmed
sales become deals with line items; posted invoices set the deal's invoice/payment status.
A payload whose hash equals the one bound in the ledger sends nothing. Per page, the
bindings, the dead letters of refused records and the cursor are written in one ledger
transaction, after the CRM accepted the page: a crash repeats (idempotent upserts), never
loses.

crm_pull (CRM -> ERP): companies and contacts modified since the cursor update or create
ERP parties and contact mechanisms. A record whose hash equals the binding's is the hub's
own write coming back and is skipped. Fields are applied by ownership (config/crm.yaml):
CRM-owned fields go to the ERP; a CRM edit of an ERP-owned field is overwritten by the next
push. New CRM records are matched (binding, email, VAT, GLN, name + postcode) before any
create; an ambiguous match or invalid data becomes a dead letter, never a guess.

Both follow the ops conventions (``hub/ops/dryrun.py``, ``hub/ops/backfill.py``):
``dry_run=True`` reads and maps as usual but writes nothing (CRM writes go to a recorder,
no binding, dead letter or cursor moves) and reports ``would``; ``since``/``until``/
``cursor_stream`` re-sync a window, advancing ``<cursor_stream>|<live stream>`` instead of
the live cursors. Products and deals are not windowed (their sync is hash-compared on every
run, so what is in sync costs nothing). A deal written records a ``crm.deal`` trace event.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import yaml
from pydantic import ValidationError

from connectors.crm import CrmClient
from connectors.crm.models import (
    AssociationOutcome,
    CrmRecord,
    RecordFailure,
    UpsertOutcome,
    UpsertSuccess,
)
from connectors.erp.port import ErpPort, PartyQuery
from connectors.http import RetryPolicy
from hub import settings
from hub.bootstrap import Hub
from hub.flows.crm_ledger import BindRow, as_binding, bind_many
from hub.ledger.store import Binding, Ledger
from schemas.crm_config import CrmConfig
from schemas.errors import ConflictError, HubError, PermanentError
from schemas.model import Contact, ContactMechanism, ErpSale, Invoice, Party
from transforms import crm_mapping as m
from transforms.crm_matching import InvalidField, name_key, normalise_email, postcode_key

log = logging.getLogger(__name__)

FLOW_PUSH = "crm_push"
FLOW_PULL = "crm_pull"
SYSTEM = "crm"
CONN_ID = "hub_crm"
STREAM_PARTIES = "crm.push.parties"
STREAM_INVOICES = "crm.push.invoices"
STREAM_PULL = {"companies": "crm.pull.companies", "contacts": "crm.pull.contacts"}
# binding entities (system "crm"): external id = CRM id, erp id = ERP key
COMPANY, COMPANY_CRM, CONTACT = "company", "company.crm", "contact"
PRODUCT, DEAL, DEAL_INVOICE, LINE_ITEM = "product", "deal", "deal.invoice", "line_item"
DRY = "dry-run:"  # prefix of the ids a dry run stands in for records it would create


# -- wiring ----------------------------------------------------------------------------------


@dataclass
class CrmClients:
    """The CRM account twice: by the ERP id property, and by CRM object id (for linking)."""

    by_erp_id: CrmClient
    by_object_id: CrmClient


def make_clients(
    base_url: str,
    token: str,
    *,
    id_property: str,
    budget: Any = None,
    policy: RetryPolicy | None = None,
    timeout: tuple[float, float] = (3.05, 30.0),
    account: str | None = None,
) -> CrmClients:
    """Two clients sharing one session and one rate budget (same account key)."""
    main = CrmClient(
        base_url, token, account=account, id_property=id_property, budget=budget, policy=policy,
        timeout=timeout,
    )  # fmt: skip
    other = CrmClient(
        base_url, token, account=main.account, id_property="hs_object_id", budget=main.budget,
        policy=main.policy, timeout=timeout, session=main.session,
    )  # fmt: skip
    return CrmClients(main, other)


def load_config(path: Path | None = None) -> CrmConfig:
    """``config/crm.yaml`` validated; defaults when the file does not exist."""
    from hub.config import ConfigError

    file = path or settings.config_dir() / "crm.yaml"
    if not file.exists():
        return CrmConfig()
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        return CrmConfig.model_validate(data)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}", system="config") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"{file}: {problems}", system="config") from exc


def crm_clients(hub: Hub, config: CrmConfig) -> CrmClients:
    """The CRM of this hub: ``hub.overrides["crm"]`` (tests) or the ``hub_crm`` connection.

    The connection's password is the private-app token; ``extra`` may set ``account``
    (the rate budget key, e.g. the portal id), ``timeout`` and ``attempts``.
    """
    given = hub.overrides.get("crm")
    if given is not None:
        return given
    from hub.ratebudget import rate_budget

    conn = settings.connection(CONN_ID)
    extra = conn.extra
    clients = make_clients(
        conn.base_url(),
        conn.password or "",
        id_property=config.id_property,
        budget=rate_budget(hub.ledger),
        policy=RetryPolicy(attempts=int(extra.get("attempts", 5))),
        timeout=(3.05, float(extra.get("timeout", 30))),
        account=extra.get("account") or CONN_ID,
    )
    hub.overrides["crm"] = clients
    return clients


# -- shared run state ------------------------------------------------------------------------


@dataclass
class _Run:
    hub: Hub
    config: CrmConfig
    crm: _Crm
    admin: _Crm
    counts: Counter[str] = field(default_factory=Counter)
    dead: list[dict[str, str]] = field(default_factory=list)
    window: _Window | None = None
    would: dict[str, dict[str, list[Any]]] | None = None  # set: a dry run, nothing is written
    dry_bound: dict[str, dict[str, Binding]] = field(default_factory=dict)

    @property
    def ledger(self) -> Ledger:
        return self.hub.ledger

    @property
    def erp(self) -> ErpPort:
        return self.hub.erp


@dataclass(frozen=True)
class _Window:
    """A backfill: read from ``since`` (or where this backfill stopped) up to ``until``."""

    since: datetime
    until: datetime | None
    stream: str

    def cursor(self, live: str) -> str:
        """The backfill's own cursor standing in for the live stream ``live``."""
        return f"{self.stream}|{live}"

    def before_end(self, stamp: datetime | None) -> bool:
        return self.until is None or stamp is None or stamp < self.until


def _window(since: str | None, until: str | None, cursor_stream: str | None) -> _Window | None:
    if since is None and cursor_stream is None:
        return None
    if since is None or cursor_stream is None:
        raise PermanentError(
            "a backfill needs both since and cursor_stream (hub backfill passes them); "
            "running with since alone would move the live cursor",
            system="hub",
        )
    return _Window(_aware(since), _aware(until) if until else None, cursor_stream)


def _aware(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _would(run: _Run, system: str, action: str, items: Iterable[Any]) -> None:
    assert run.would is not None
    run.would.setdefault(system, {}).setdefault(action, []).extend(items)


class _Crm(Protocol):
    """What the sync uses of the CRM: a ``CrmClient``, or ``_DryCrm`` in a dry run."""

    def stats(self) -> dict[str, int]: ...

    def upsert(
        self, object_type: str, records: Mapping[str, Mapping[str, Any]]
    ) -> UpsertOutcome: ...

    def associate(
        self, from_type: str, to_type: str, pairs: Iterable[tuple[str, str]]
    ) -> AssociationOutcome: ...

    def associations(
        self, from_type: str, to_type: str, ids: Iterable[str]
    ) -> dict[str, list[str]]: ...

    def search_modified_since(
        self,
        object_type: str,
        since: datetime | int | None = None,
        *,
        properties: Sequence[str] = (),
    ) -> Iterator[CrmRecord]: ...

    def update(self, object_type: str, id_value: str, properties: Mapping[str, Any]) -> object: ...


class _DryCrm:
    """The CRM during a dry run: reads go through, writes are recorded and answered as done."""

    def __init__(self, crm: _Crm, run: _Run) -> None:
        self._crm = crm
        self._run = run

    def __getattr__(self, name: str) -> Any:  # read, get, search_modified_since, stats...
        return getattr(self._crm, name)

    def upsert(self, object_type: str, records: Mapping[str, Mapping[str, Any]]) -> UpsertOutcome:
        _would(self._run, SYSTEM, f"upsert {object_type}", records)
        return UpsertOutcome(
            succeeded=[
                UpsertSuccess(
                    erp_id, f"dry-run:{erp_id}", True,
                    CrmRecord(object_type, f"dry-run:{erp_id}", dict(props), erp_id),
                )
                for erp_id, props in records.items()
            ]
        )  # fmt: skip

    def associate(
        self, from_type: str, to_type: str, pairs: Iterable[tuple[str, str]], **_: Any
    ) -> AssociationOutcome:
        _would(self._run, SYSTEM, f"associate {from_type} to {to_type}", pairs)
        return AssociationOutcome()

    def update(self, object_type: str, id_value: str, properties: Mapping[str, Any]) -> None:
        _would(self._run, SYSTEM, f"update {object_type}", [{id_value: dict(properties)}])


@dataclass
class _Letter:
    flow: str
    key: str
    reason: str
    error_class: str
    payload: Any = None


def _file(run: _Run, conn: Any, letters: Iterable[_Letter]) -> None:
    for letter in letters:
        if run.would is not None:
            _would(run, "ledger", "dead_letters", [f"{letter.key}: {letter.reason}"])
            run.counts["dead_letters"] += 1
            continue
        run.ledger.dead_letter(
            letter.flow, letter.key, letter.reason, error_class=letter.error_class,
            payload=letter.payload, system=SYSTEM, conn=conn,
        )  # fmt: skip
        run.counts["dead_letters"] += 1
        if len(run.dead) < 50:
            run.dead.append({"record": letter.key, "reason": letter.reason})


def _commit(
    run: _Run,
    flow: str,
    rows: list[BindRow],
    letters: list[_Letter],
    cursor: tuple[str, str, list[str]] | None = None,
    events: Callable[[Any, list[BindRow]], None] | None = None,
) -> list[BindRow]:
    """Bindings, dead letters, cursor (and trace events) in one ledger transaction; in a dry
    run only what would be written is recorded. Returns the rows refused as conflicts."""
    if run.would is not None:
        _file(run, None, letters)
        for row in rows:
            run.dry_bound.setdefault(row.entity, {})[row.erp_id] = as_binding(SYSTEM, row)
        if cursor is not None:
            _would(run, "ledger", "cursor", [f"{cursor[0]}={cursor[1]}"])
        return []
    with run.ledger.transaction() as conn:
        conflicts = bind_many(conn, SYSTEM, rows)
        _file(run, conn, letters + [_conflict_letter(flow, row) for row in conflicts])
        if cursor is not None:
            run.ledger.advance_cursor(cursor[0], cursor[1], cursor[2], conn=conn)
        if events is not None:
            events(conn, [r for r in rows if r not in conflicts])
    return conflicts


def _bound(run: _Run, entity: str) -> dict[str, Binding]:
    """The ledger's bindings of ``entity``, plus those a dry run would have written."""
    found = run.ledger.bindings_for(SYSTEM, entity)
    found.update(run.dry_bound.get(entity, {}))
    return found


def _failure_letter(flow: str, kind: str, failure: RecordFailure, payload: Any) -> _Letter:
    where = f" (field {failure.field})" if failure.field else ""
    return _Letter(
        flow, f"{kind}:{failure.erp_id}",
        f"the CRM refused {kind} {failure.erp_id}{where}: {failure.category}: {failure.message}",
        failure.category, payload,
    )  # fmt: skip


def _parse_ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


# -- ERP -> CRM ------------------------------------------------------------------------------


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

    future: Future[tuple[list[BindRow], list[_Letter], Counter[str]]]
    parties: int
    newest: datetime | None
    ties: list[str]


def _push_parties(run: _Run, page_size: int, in_flight: int = 2) -> None:
    """Pages are read and mapped while earlier pages are being sent (``in_flight`` at once),
    so the request budget, not the hub's own work, sets the pace; commits stay in order."""
    ledger, cfg = run.ledger, run.config
    erp_keys = m.properties_of(cfg.companies, "erp", m.COMPANY_PROPERTY)
    crm_keys = m.properties_of(cfg.companies, "crm", m.COMPANY_PROPERTY)
    contact_keys = m.properties_of(cfg.contacts, "crm", m.CONTACT_PROPERTY)
    stream = run.window.cursor(STREAM_PARTIES) if run.window else STREAM_PARTIES
    raw, ties = ledger.cursor(stream)
    since, done_at_since = _parse_ts(raw), set(ties)
    if run.window is not None and raw is None:
        since, done_at_since = run.window.since, set()
    companies: dict[str, Binding] | None = None
    contacts: dict[str, Binding] = {}
    pending: deque[_Page] = deque()

    def send(fresh: list[Party], own: _Run) -> tuple[list[BindRow], list[_Letter], Counter[str]]:
        rows, letters = _push_party_page(
            own, fresh, companies or {}, contacts, erp_keys, crm_keys, contact_keys
        )
        return rows, letters, own.counts

    def commit(page: _Page) -> None:
        rows, letters, counts = page.future.result()
        run.counts.update(counts)
        cursor = None
        if page.newest is not None:
            cursor = (stream, page.newest.isoformat(), page.ties)
        conflicts = _commit(run, FLOW_PUSH, rows, letters, cursor)
        for row in rows:
            if row not in conflicts and row.entity in (COMPANY, CONTACT) and companies is not None:
                cache = companies if row.entity == COMPANY else contacts
                cache[row.erp_id] = as_binding(SYSTEM, row)
        log.info("crm_push: %d parties up to %s committed", page.parties, page.newest)

    with ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="crm-push") as pool:
        try:
            while True:
                parties, newest = _page_of_parties(run.erp, since, page_size)
                ended = False
                if run.window is not None:  # a backfill stops at the end of its window
                    inside = [p for p in parties if run.window.before_end(p.updated_at)]
                    ended, parties = len(inside) < len(parties), inside
                    stamps = [p.updated_at for p in parties if p.updated_at is not None]
                    newest = max(stamps) if stamps else since
                fresh = [
                    p for p in parties if not (p.updated_at == since and p.erp_id in done_at_since)
                ]
                if fresh:
                    if companies is None:  # loaded only when there is something to compare
                        companies = ledger.bindings_for(SYSTEM, COMPANY)
                        contacts.update(ledger.bindings_for(SYSTEM, CONTACT))
                    run.counts["parties_read"] += len(fresh)
                    new_ties = sorted(p.erp_id or "" for p in parties if p.updated_at == newest)
                    if newest == since:
                        new_ties = sorted(done_at_since | set(new_ties))
                    own = replace(run, counts=Counter(), dead=[])
                    pending.append(
                        _Page(pool.submit(send, fresh, own), len(fresh), newest, new_ties)
                    )
                    since, done_at_since = newest, set(new_ties)
                last = ended or not fresh or len(parties) < page_size
                while pending and (last or len(pending) >= in_flight or pending[0].future.done()):
                    commit(pending.popleft())
                if last:
                    return
        finally:
            for page in pending:
                page.future.cancel()


def _conflict_letter(flow: str, row: BindRow) -> _Letter:
    return _Letter(
        flow, f"{row.entity}:{row.external_id}",
        f"CRM {row.entity} {row.external_id} is already bound to another ERP record than "
        f"{row.erp_id}: merge the duplicates in the CRM, then replay",
        "ConflictError",
    )  # fmt: skip


def _push_party_page(
    run: _Run,
    parties: Sequence[Party],
    companies: dict[str, Binding],
    contacts: dict[str, Binding],
    erp_keys: Sequence[str],
    crm_keys: Sequence[str],
    contact_keys: Sequence[str],
) -> tuple[list[BindRow], list[_Letter]]:
    cfg = run.config
    rows: list[BindRow] = []
    letters: list[_Letter] = []
    send: dict[str, dict[str, str]] = {}
    hashes: dict[str, tuple[str, str | None]] = {}
    for party in parties:
        erp_id = party.erp_id or ""
        bound = companies.get(erp_id)
        payload = m.company_payload(party, cfg, seed=bound is None)
        erp_hash = m.payload_hash(payload, erp_keys)
        if bound is not None and bound.content_hash == erp_hash:
            run.counts["companies_unchanged"] += 1
            continue
        send[erp_id] = payload
        hashes[erp_id] = (erp_hash, m.payload_hash(payload, crm_keys) if bound is None else None)
    company_ids = {erp_id: b.external_id for erp_id, b in companies.items()}
    failed: set[str] = set()
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
            letters.append(_failure_letter(FLOW_PUSH, "company", bad, send.get(bad.erp_id or "")))
    # contact persons: created once with their details (the CRM owns them afterwards)
    contact_send: dict[str, dict[str, str]] = {}
    contact_company: dict[str, str] = {}
    for party in parties:
        erp_id = party.erp_id or ""
        if erp_id in failed or erp_id not in company_ids:
            continue
        for person in m.contacts_of(party):
            key = m.contact_key(erp_id, person)
            if key in contacts or key in contact_send:
                continue
            contact_send[key] = m.contact_payload(person, cfg, seed=True)
            contact_company[key] = company_ids[erp_id]
    if contact_send:
        outcome = run.crm.upsert("contacts", contact_send)
        run.counts["contacts_sent"] += len(contact_send)
        pairs = []
        for ok in outcome.succeeded:
            pairs.append((ok.crm_id, contact_company[ok.erp_id]))
            h = m.payload_hash(contact_send[ok.erp_id], contact_keys)
            rows.append(BindRow(CONTACT, ok.crm_id, ok.erp_id, h))
        for bad in outcome.failed:
            sent_payload = contact_send.get(bad.erp_id or "")
            letters.append(_failure_letter(FLOW_PUSH, "contact", bad, sent_payload))
        if pairs:
            assoc = run.crm.associate("contacts", "companies", pairs)
            run.counts["associations_sent"] += len(pairs)
            unlinked = {f.erp_id for f in assoc.failed}
            for bad in assoc.failed:
                letters.append(_failure_letter(FLOW_PUSH, "association", bad, None))
            rows = [r for r in rows if not (r.entity == CONTACT and r.external_id in unlinked)]
    return rows, letters


def _on_hand(erp: ErpPort) -> dict[str, Decimal]:
    total: dict[str, Decimal] = {}
    for level in erp.stock_levels():
        total[level.product_code] = total.get(level.product_code, Decimal(0)) + level.quantity
    return total


def _push_products(run: _Run) -> dict[str, str]:
    """Products and stock on hand; returns product code -> CRM product id."""
    ledger = run.ledger
    bound = ledger.bindings_for(SYSTEM, PRODUCT)
    stock = _on_hand(run.erp)
    send: dict[str, dict[str, str]] = {}
    for product in run.erp.list_products():
        payload = m.product_payload(product, stock.get(product.code))
        if (b := bound.get(product.code)) is not None and b.content_hash == m.payload_hash(payload):
            run.counts["products_unchanged"] += 1
            continue
        send[product.code] = payload
    ids = {code: b.external_id for code, b in bound.items()}
    if not send:
        return ids
    outcome = run.crm.upsert("products", send)
    run.counts["products_sent"] += len(send)
    rows = [
        BindRow(PRODUCT, ok.crm_id, ok.erp_id, m.payload_hash(send[ok.erp_id]))
        for ok in outcome.succeeded
    ]
    letters = [
        _failure_letter(FLOW_PUSH, "product", f, send.get(f.erp_id or "")) for f in outcome.failed
    ]
    conflicts = _commit(run, FLOW_PUSH, rows, letters)
    ids.update({r.erp_id: r.external_id for r in rows if r not in conflicts})
    return ids


def _hub_sales(ledger: Ledger) -> list[str]:
    """ERP ids of the sales the hub created (EDI orders): done ``erp.sale:`` journal entries.

    The ERP port has no "sales changed since" query, so the hub's own journal is the list.
    """
    from sqlalchemy import select

    from hub.ledger import tables as t

    j = t.journal
    with ledger.engine.connect() as conn:
        results = conn.execute(
            select(j.c.result).where(j.c.key.like("erp.sale:%"), j.c.state == "done")
        ).scalars()
        ids = []
        for text in results:
            data = _json(text)
            if isinstance(data, dict) and data.get("erp_id"):
                ids.append(str(data["erp_id"]))
    return ids


def _json(text: str | None) -> Any:
    import json

    return json.loads(text) if text else None


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _push_sales(run: _Run, products: dict[str, str], sale_ids: Iterable[str]) -> None:
    """Deals with line items, then the invoice/payment status of posted invoices."""
    ledger, cfg = run.ledger, run.config
    window = run.window
    if window is None:
        raw, _ = ledger.cursor(STREAM_INVOICES)
        invoices = run.erp.invoices_posted_since(_parse_ts(raw), limit=10_000)
    else:  # a backfill re-reads its window; the bindings' hashes skip what is in sync
        invoices = [
            i
            for i in run.erp.invoices_posted_since(window.since, limit=10_000)
            if window.before_end(i.updated_at)
        ]
    deals = ledger.bindings_for(SYSTEM, DEAL)
    wanted = list(dict.fromkeys([*sale_ids, *_hub_sales(ledger), *deals]))
    sales: dict[str, ErpSale] = {}
    for chunk in _chunks(wanted, 100):
        for sale in run.erp.get_sales(chunk):
            sales[sale.erp_id] = sale
    by_ref = {(s.party_erp_id, s.reference): s for s in sales.values()}
    for invoice in invoices:
        party = invoice.customer.erp_id or ""
        for ref in invoice.order_numbers:
            if (party, ref) not in by_ref and (found := run.erp.find_sale(party, ref)):
                sales[found.erp_id] = by_ref[(party, ref)] = found
    companies = _bound(run, COMPANY)
    lines_bound = ledger.bindings_for(SYSTEM, LINE_ITEM)
    send: dict[str, dict[str, str]] = {}
    for sale in sales.values():
        payload = m.deal_payload(sale, cfg)
        if payload is None:
            continue
        if sale.party_erp_id not in companies:
            run.counts["deals_waiting_for_company"] += 1
            continue
        b = deals.get(sale.erp_id)
        if b is not None and b.content_hash == m.payload_hash(payload):
            run.counts["deals_unchanged"] += 1
            continue
        send[sale.erp_id] = payload
    rows: list[BindRow] = []
    letters: list[_Letter] = []
    deal_ids = {erp_id: b.external_id for erp_id, b in deals.items()}
    if send:
        outcome = run.crm.upsert("deals", send)
        run.counts["deals_sent"] += len(send)
        for ok in outcome.succeeded:
            deal_ids[ok.erp_id] = ok.crm_id
            rows.append(BindRow(DEAL, ok.crm_id, ok.erp_id, m.payload_hash(send[ok.erp_id])))
        letters += [
            _failure_letter(FLOW_PUSH, "deal", f, send.get(f.erp_id or "")) for f in outcome.failed
        ]
        pairs = [  # new deals only: a repeated association is harmless but costs a request
            (deal_ids[s], companies[sales[s].party_erp_id].external_id)
            for s in send
            if s in deal_ids and s not in deals
        ]
        if pairs:
            assoc = run.crm.associate("deals", "companies", pairs)
            letters += [_failure_letter(FLOW_PUSH, "association", f, None) for f in assoc.failed]
    # line items of every deal in the CRM whose lines changed
    line_send: dict[str, dict[str, str]] = {}
    line_deal: dict[str, str] = {}
    for sale in sales.values():
        if sale.erp_id not in deal_ids:
            continue
        for line in sale.lines:
            key = m.line_item_key(sale, line)
            payload = m.line_item_payload(
                line, products.get(line.product_code), f"{line.product_code} x {line.quantity}"
            )
            b = lines_bound.get(key)
            if b is not None and b.content_hash == m.payload_hash(payload):
                continue
            line_send[key] = payload
            line_deal[key] = deal_ids[sale.erp_id]
    if line_send:
        outcome = run.crm.upsert("line_items", line_send)
        run.counts["line_items_sent"] += len(line_send)
        pairs = [(ok.crm_id, line_deal[ok.erp_id]) for ok in outcome.succeeded]
        line_assoc = run.crm.associate("line_items", "deals", pairs) if pairs else None
        unlinked = {f.erp_id for f in line_assoc.failed} if line_assoc else set()
        rows += [
            BindRow(LINE_ITEM, ok.crm_id, ok.erp_id, m.payload_hash(line_send[ok.erp_id]))
            for ok in outcome.succeeded
            if ok.crm_id not in unlinked
        ]
        letters += [_failure_letter(FLOW_PUSH, "line_item", f, None) for f in outcome.failed]
    # invoice and payment status onto the deal
    inv_bound = ledger.bindings_for(SYSTEM, DEAL_INVOICE)
    inv_send: dict[str, dict[str, str]] = {}
    for invoice in invoices:
        invoiced = next(
            (by_ref.get((invoice.customer.erp_id or "", r)) for r in invoice.order_numbers), None
        )
        if invoiced is None or invoiced.erp_id not in deal_ids:
            letters.append(_invoice_letter(invoice, invoiced))
            continue
        payload = m.invoice_payload(invoice)
        b = inv_bound.get(invoiced.erp_id)
        if b is not None and b.content_hash == m.payload_hash(payload):
            continue
        inv_send[invoiced.erp_id] = payload
    if inv_send:
        outcome = run.crm.upsert("deals", inv_send)
        run.counts["invoice_updates_sent"] += len(inv_send)
        rows += [
            BindRow(DEAL_INVOICE, ok.crm_id, ok.erp_id, m.payload_hash(inv_send[ok.erp_id]))
            for ok in outcome.succeeded
        ]
        letters += [_failure_letter(FLOW_PUSH, "deal", f, None) for f in outcome.failed]
    stamps = [i.updated_at for i in invoices if i.updated_at is not None]
    cursor: tuple[str, str, list[str]] | None = None
    if stamps and window is None:
        cursor = (STREAM_INVOICES, max(stamps).isoformat(), [])
    sent = {**send, **{f"invoice:{k}": v for k, v in inv_send.items()}}
    _commit(
        run, FLOW_PUSH, rows, letters, cursor,
        lambda conn, written: _deal_events(run, conn, written, sales, sent),
    )  # fmt: skip


def _deal_events(
    run: _Run,
    conn: Any,
    written: Sequence[BindRow],
    sales: dict[str, ErpSale],
    sent: dict[str, dict[str, str]],
) -> None:
    """``crm.deal`` / ``crm.deal.invoice`` trace events, under the order and sale numbers."""
    from hub.ops.events import record_event

    for row in written:
        if row.entity not in (DEAL, DEAL_INVOICE) or (sale := sales.get(row.erp_id)) is None:
            continue
        invoice = row.entity == DEAL_INVOICE
        payload = sent.get(f"invoice:{row.erp_id}" if invoice else row.erp_id) or {}
        numbers = [n for n in (sale.reference, sale.number, sale.erp_id) if n]
        record_event(
            run.ledger,
            ref=numbers[0],
            refs=tuple(numbers[1:]),
            kind="crm.deal.invoice" if invoice else "crm.deal",
            flow=FLOW_PUSH,
            system=SYSTEM,
            state=payload.get("hub_payment_status" if invoice else "dealstage") or "synced",
            detail={
                "deal": row.external_id,
                "sale": sale.number,
                "orders": [sale.reference] if sale.reference else [],
                "sales": [sale.number] if sale.number else [],
                "summary": f"CRM deal {row.external_id} for sale {sale.number or sale.erp_id}"
                + (f" ({payload.get('hub_invoice_number')})" if invoice else ""),
            },
            conn=conn,
        )


def _invoice_letter(invoice: Invoice, sale: ErpSale | None) -> _Letter:
    why = (
        f"no ERP sale of party {invoice.customer.erp_id} has reference "
        f"{', '.join(invoice.order_numbers) or '(none)'}"
        if sale is None
        else f"sale {sale.erp_id} is not a deal in the CRM yet (its company failed to sync?)"
    )
    return _Letter(
        FLOW_PUSH, f"invoice:{invoice.erp_id}",
        f"invoice {invoice.number}: cannot update the deal's invoice status: {why}",
        "PermanentError",
    )  # fmt: skip


# -- CRM -> ERP ------------------------------------------------------------------------------


def _pull_properties(cfg: CrmConfig, kind: str) -> list[str]:
    if kind == "companies":
        return list(m.COMPANY_PROPERTY.values())
    return list(m.CONTACT_PROPERTY.values())


def _pull(run: _Run, kind: str) -> None:
    ledger, cfg = run.ledger, run.config
    stream = run.window.cursor(STREAM_PULL[kind]) if run.window else STREAM_PULL[kind]
    raw, _ = ledger.cursor(stream)
    since = _parse_ts(raw) or (run.window.since if run.window else None)
    # read everything first: the hub's own write-backs move records within the search order
    records = list(
        run.crm.search_modified_since(kind, since, properties=_pull_properties(cfg, kind))
    )
    if run.window is not None:
        records = [r for r in records if run.window.before_end(r.modified_at)]
    run.counts[f"{kind}_read"] += len(records)
    for start in range(0, len(records), cfg.pull_page_size):
        page = records[start : start + cfg.pull_page_size]
        if kind == "companies":
            rows, letters = _pull_companies(run, page)
        else:
            rows, letters = _pull_contacts(run, page)
        stamps = [r.modified_at for r in page if r.modified_at is not None]
        cursor: tuple[str, str, list[str]] | None = (
            (stream, max(stamps).isoformat(), []) if stamps else None
        )
        _commit(run, FLOW_PULL, rows, letters, cursor)


def _invalid_letter(kind: str, rec: CrmRecord, exc: HubError) -> _Letter:
    field_name = getattr(exc, "field", None)
    prefix = f"field {field_name}: " if field_name else ""
    return _Letter(
        FLOW_PULL, f"{kind}:{rec.crm_id}",
        f"CRM {kind} {rec.crm_id}: {prefix}{getattr(exc, 'reason', None) or exc.message}",
        exc.__class__.__name__, rec.properties,
    )  # fmt: skip


def _lookups(run: _Run, entity: str, records: Sequence[CrmRecord]) -> dict[str, Binding]:
    found = {}
    for rec in records:
        b = run.ledger.lookup(SYSTEM, entity, rec.crm_id)
        if b is not None:
            found[rec.crm_id] = b
    return found


def _add_mechanisms(run: _Run, party_id: str, new: Sequence[ContactMechanism]) -> None:
    if run.would is not None:
        _would(run, "erp", "add_contact_mechanisms", [
            f"party {party_id}: {x.type} {x.value}" for x in new
        ])  # fmt: skip
    else:
        run.erp.add_contact_mechanisms(party_id, new)
    run.counts["erp_parties_updated"] += 1


def _create_party(run: _Run, crm_key: str, draft: Party, real: Callable[[], str]) -> str:
    """Create the ERP party of a CRM record (a dry run only says it would)."""
    if run.would is not None:
        _would(run, "erp", "create_party", [f"{draft.name} (from CRM {crm_key})"])
        return f"{DRY}{crm_key}"
    return real()


def _missing_mechanisms(party: Party, wanted: Sequence[ContactMechanism]) -> list[ContactMechanism]:
    have = {(x.type, x.value.strip().lower()) for x in party.contact_mechanisms}
    return [x for x in wanted if (x.type, x.value.strip().lower()) not in have]


def _pull_companies(run: _Run, page: Sequence[CrmRecord]) -> tuple[list[BindRow], list[_Letter]]:
    cfg = run.config
    erp_keys = m.properties_of(cfg.companies, "erp", m.COMPANY_PROPERTY)
    crm_keys = m.properties_of(cfg.companies, "crm", m.COMPANY_PROPERTY)
    rows: list[BindRow] = []
    letters: list[_Letter] = []
    bound = _lookups(run, COMPANY, page)
    bound_crm = _lookups(run, COMPANY_CRM, page)
    known = [r for r in page if r.erp_id or r.crm_id in bound]
    parties = {
        p.erp_id: p
        for p in run.erp.get_parties(
            list({r.erp_id or bound[r.crm_id].erp_id for r in known})
        )
    } if known else {}  # fmt: skip
    for rec in page:
        erp_id = rec.erp_id or (bound[rec.crm_id].erp_id if rec.crm_id in bound else None)
        erp_hash = m.payload_hash(rec.properties, erp_keys)
        crm_hash = m.payload_hash(rec.properties, crm_keys)
        if erp_id is None:
            try:
                erp_id = _link_new_company(run, rec)
            except HubError as exc:
                if not isinstance(exc, (PermanentError,)):
                    raise
                letters.append(_invalid_letter("company", rec, exc))
                continue
            linked = [] if erp_id.startswith(DRY) else run.erp.get_parties([erp_id])
            if linked:
                parties[erp_id] = linked[0]
            run.counts["companies_linked"] += 1
        b, bc = bound.get(rec.crm_id), bound_crm.get(rec.crm_id)
        if (
            b is not None
            and bc is not None
            and (b.content_hash, bc.content_hash)
            == (
                erp_hash,
                crm_hash,
            )
        ):
            run.counts["companies_echo_skipped"] += 1
            continue
        if b is None or b.content_hash != erp_hash:
            # an ERP-owned field differs: bind what the CRM holds, the next push restores it
            rows.append(BindRow(COMPANY, rec.crm_id, erp_id, erp_hash))
            if b is not None:
                run.counts["companies_erp_fields_overridden"] += 1
        if bc is not None and bc.content_hash == crm_hash:
            continue
        try:
            draft = m.company_to_party(rec.properties, record=rec.crm_id)
        except InvalidField as exc:
            letters.append(_invalid_letter("company", rec, exc))
            continue
        party = parties.get(erp_id)
        if party is None and erp_id.startswith(DRY):
            rows.append(BindRow(COMPANY_CRM, rec.crm_id, erp_id, crm_hash))
            continue
        if party is None:
            letters.append(_Letter(
                FLOW_PULL, f"company:{rec.crm_id}",
                f"CRM company {rec.crm_id} holds {cfg.id_property}={erp_id}, but the ERP "
                "has no such party: fix the id in the CRM or replay after restoring it",
                "PermanentError", rec.properties,
            ))  # fmt: skip
            continue
        new = _missing_mechanisms(party, m.company_mechanisms(draft, cfg.companies.crm))
        if new:
            _add_mechanisms(run, erp_id, new)
        rows.append(BindRow(COMPANY_CRM, rec.crm_id, erp_id, crm_hash))
    return rows, letters


def _one(run: _Run, query: PartyQuery, what: str, keep: Callable[[Party], bool]) -> Party | None:
    found = [p for p in run.erp.find_parties(query, limit=5) if keep(p)]
    if len(found) > 1:
        ids = ", ".join(p.erp_id or "?" for p in found)
        raise PermanentError(
            f"ambiguous match by {what}: ERP parties {ids} all match; link the CRM record to "
            f"one of them by setting {run.config.id_property}, or merge the parties",
            system=SYSTEM,
            code="ambiguous",
        )
    return found[0] if found else None


def _match_party(run: _Run, draft: Party) -> Party | None:
    """Binding aside: VAT, then GLN, then name + postcode (every hit must be unique)."""
    if draft.vat:
        found = _one(run, PartyQuery(vat=draft.vat), f"VAT {draft.vat}", lambda p: True)
        if found:
            return found
    if draft.gln:
        found = _one(run, PartyQuery(gln=draft.gln), f"GLN {draft.gln}", lambda p: True)
        if found:
            return found
    postcode = draft.addresses[0].postal_code if draft.addresses else None
    if postcode:
        key = name_key(draft.name)
        return _one(
            run, PartyQuery(name=draft.name, postal_code=postcode),
            f"name {draft.name!r} + postcode {postcode}",
            lambda p: name_key(p.name) == key
            and any(postcode_key(a.postal_code or "") == postcode_key(postcode)
                    for a in p.addresses),
        )  # fmt: skip
    return None


def _link_new_company(run: _Run, rec: CrmRecord) -> str:
    """Match or create the ERP party of a CRM-made company; write the ERP id back to the CRM."""
    draft = m.company_to_party(rec.properties, record=rec.crm_id)
    party = _match_party(run, draft)
    if party is not None:
        _ensure_unlinked(run, COMPANY, party.erp_id or "", rec.crm_id)
        erp_id = party.erp_id or ""
    else:
        erp_id = _create_party(run, f"company {rec.crm_id}", draft, lambda: run.ledger.once(
            f"crm.pull.company:{rec.crm_id}",
            draft.content_hash(),
            lambda: run.erp.create_parties([draft])[0].erp_id or "",
            flow=FLOW_PULL, system="erp", action="create_party", ref=rec.crm_id,
            reconcile=lambda: (p.erp_id if (p := _match_party(run, draft)) else None),
        )[0])  # fmt: skip
        run.counts["erp_parties_created"] += 1
    run.admin.update("companies", rec.crm_id, {run.config.id_property: erp_id})
    return erp_id


def _ensure_unlinked(run: _Run, entity: str, erp_key: str, crm_id: str) -> None:
    other = run.ledger.lookup_erp(SYSTEM, entity, erp_key)
    if other is not None and other.external_id != crm_id:
        raise ConflictError(
            f"ERP record {erp_key} is already linked to CRM {entity} {other.external_id}: "
            f"CRM {entity} {crm_id} looks like a duplicate; merge them in the CRM",
            system=SYSTEM,
        )


def _pull_contacts(run: _Run, page: Sequence[CrmRecord]) -> tuple[list[BindRow], list[_Letter]]:
    cfg = run.config
    keys = m.properties_of(cfg.contacts, "crm", m.CONTACT_PROPERTY)
    rows: list[BindRow] = []
    letters: list[_Letter] = []
    bound = _lookups(run, CONTACT, page)
    new = [r for r in page if not (r.erp_id or r.crm_id in bound)]
    companies_of = (
        run.crm.associations("contacts", "companies", [r.crm_id for r in new]) if new else {}
    )
    for rec in page:
        key = rec.erp_id or (bound[rec.crm_id].erp_id if rec.crm_id in bound else None)
        h = m.payload_hash(rec.properties, keys)
        b = bound.get(rec.crm_id)
        if b is not None and b.content_hash == h:
            run.counts["contacts_echo_skipped"] += 1
            continue
        try:
            person = m.contact_to_contact(rec.properties, record=rec.crm_id)
            if key is None:
                key = _link_new_contact(run, rec, person, companies_of.get(rec.crm_id, []))
                run.counts["contacts_linked"] += 1
            party_id = key.split(":", 1)[0]
            if party_id.startswith(DRY):  # a dry run's party that would be created
                rows.append(BindRow(CONTACT, rec.crm_id, key, h))
                continue
            current = run.erp.get_parties([party_id])
            if not current:
                raise PermanentError(
                    f"its {cfg.id_property} {key} names ERP party {party_id}, which does not "
                    "exist: fix the id in the CRM",
                    system=SYSTEM,
                )
            wanted = [
                x
                for x in m.contact_mechanisms_for(person)
                if cfg.contacts.owner("email" if x.type == "email" else "phone") == "crm"
            ]
            missing = _missing_mechanisms(current[0], wanted)
            if missing:
                _add_mechanisms(run, party_id, missing)
        except PermanentError as exc:
            letters.append(_invalid_letter("contact", rec, exc))
            continue
        rows.append(BindRow(CONTACT, rec.crm_id, key, h))
    return rows, letters


def _link_new_contact(run: _Run, rec: CrmRecord, person: Contact, company_ids: list[str]) -> str:
    """The party of a CRM-made contact: its company's, else matched by email, else new."""
    party_id: str | None = None
    for crm_company in company_ids:
        b = run.ledger.lookup(SYSTEM, COMPANY, crm_company)
        if b is not None:
            party_id = b.erp_id
            break
    if party_id is None and person.email:
        email = normalise_email(person.email)
        found = _one(run, PartyQuery(email=email), f"email {email}", lambda p: True)
        party_id = found.erp_id if found else None
    if party_id is None:
        draft = Party(
            name=person.name,
            contact_mechanisms=tuple(m.contact_mechanisms_for(person)),
        )
        party_id = _create_party(run, f"contact {rec.crm_id}", draft, lambda: run.ledger.once(
            f"crm.pull.contact:{rec.crm_id}",
            draft.content_hash(),
            lambda: run.erp.create_parties([draft])[0].erp_id or "",
            flow=FLOW_PULL, system="erp", action="create_party", ref=rec.crm_id,
            reconcile=lambda: (
                p.erp_id if person.email and (p := _one(
                    run, PartyQuery(email=person.email), "email", lambda p: True)) else None
            ),
        )[0])  # fmt: skip
        run.counts["erp_parties_created"] += 1
    key = m.contact_key(party_id, person)
    _ensure_unlinked(run, CONTACT, key, rec.crm_id)
    run.admin.update("contacts", rec.crm_id, {run.config.id_property: key})
    return key


# -- entry points ----------------------------------------------------------------------------


def _run(
    hub: Hub, config: CrmConfig | None, *, dry_run: bool | str = False, window: _Window | None
) -> _Run:
    cfg = config or load_config()
    clients = crm_clients(hub, cfg)
    run = _Run(hub, cfg, clients.by_erp_id, clients.by_object_id, window=window)
    if dry_run is True or str(dry_run).lower() in ("true", "1", "yes"):
        run.would = {}
        run.crm = _DryCrm(run.crm, run)
        run.admin = _DryCrm(run.admin, run)
    return run


def _report(run: _Run, direction: str) -> dict[str, Any]:
    report: dict[str, Any] = {"status": "ok" if not run.counts["dead_letters"] else "partial"}
    if run.would is not None:
        report = {"status": "dry_run", "would": run.would}
    if run.window is not None:
        report["window"] = {
            "since": run.window.since.isoformat(),
            "until": run.window.until.isoformat() if run.window.until else None,
            "cursor_stream": run.window.stream,
        }
    report["direction"] = direction
    report.update(sorted(run.counts.items()))
    report["crm_requests"] = run.crm.stats().get("requests", 0)
    if run.dead:
        report["details"] = run.dead
    return report


def crm_push(
    hub: Hub,
    *,
    sale_ids: Sequence[str] | str = (),
    page_size: int | str | None = None,
    config: CrmConfig | None = None,
    dry_run: bool | str = False,
    since: str | None = None,
    until: str | None = None,
    cursor_stream: str | None = None,
) -> dict[str, Any]:
    """ERP -> CRM: companies and contacts, products and stock, deals and invoice status.

    ``dry_run``: report what would be written, write nothing. ``since``/``until``/
    ``cursor_stream``: a backfill of the parties and invoices changed in that window.
    """
    run = _run(hub, config, dry_run=dry_run, window=_window(since, until, cursor_stream))
    ids = [s for s in (sale_ids.split(",") if isinstance(sale_ids, str) else sale_ids) if s]
    _push_parties(run, int(page_size or run.config.push_page_size))
    products = _push_products(run)
    _push_sales(run, products, ids)
    return _report(run, "push")


def crm_pull(
    hub: Hub,
    *,
    config: CrmConfig | None = None,
    dry_run: bool | str = False,
    since: str | None = None,
    until: str | None = None,
    cursor_stream: str | None = None,
) -> dict[str, Any]:
    """CRM -> ERP: companies, then contacts, changed in the CRM since the cursors (or in the
    backfill window ``since``..``until``); ``dry_run`` writes nothing and reports ``would``."""
    run = _run(hub, config, dry_run=dry_run, window=_window(since, until, cursor_stream))
    _pull(run, "companies")
    _pull(run, "contacts")
    return _report(run, "pull")


def crm_sync(
    hub: Hub,
    *,
    dry_run: bool | str = False,
    since: str | None = None,
    until: str | None = None,
    cursor_stream: str | None = None,
    **params: Any,
) -> dict[str, Any]:
    """Push, then pull (the hub's own pushed writes come back and are skipped as echoes)."""
    config = params.pop("config", None)
    push = crm_push(
        hub, config=config, dry_run=dry_run, since=since, until=until,
        cursor_stream=cursor_stream, **params,
    )  # fmt: skip
    pull = crm_pull(
        hub, config=config, dry_run=dry_run, since=since, until=until, cursor_stream=cursor_stream
    )
    if push["status"] == "dry_run":
        would: dict[str, dict[str, list[Any]]] = {}
        for part in (push, pull):
            for system, actions in part["would"].items():
                for action, items in actions.items():
                    would.setdefault(system, {}).setdefault(action, []).extend(items)
        return {"status": "dry_run", "would": would, "push": push, "pull": pull}
    status = "ok" if push["status"] == pull["status"] == "ok" else "partial"
    return {"status": status, "push": push, "pull": pull}
