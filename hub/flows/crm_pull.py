"""crm_pull: CRM companies and contacts modified since the cursor update or create ERP parties.

A record whose hash equals the binding's is the hub's own write coming back and is
skipped. Fields are applied by ownership (config/crm.yaml): CRM-owned fields go to the
ERP; a CRM edit of an ERP-owned field is overwritten by the next push. New CRM records are
matched (binding, email, VAT, GLN, name + postcode) before any create; an ambiguous match
or invalid data becomes a dead letter, never a guess. Matching and creating: crm_link.py.

A run triggered by webhooks names the changed objects (``changes``, ``type:id``): named
companies and contacts are read by id and applied first, since HubSpot's search (what the
cursor reads) lags seconds behind a write; the cursor run then goes on as always and skips
them when it meets the same version.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hub.flows.crm_config import check_pipeline
from hub.flows.crm_link import link_new_company, link_new_contact, missing_mechanisms
from hub.flows.crm_merges import MERGED, follow_merges
from hub.flows.crm_run import (
    COMPANY,
    COMPANY_CRM,
    CONTACT,
    DRY,
    FLOW_PULL,
    STREAM_PULL,
    SYSTEM,
    Letter,
    Run,
    commit,
    invalid_letter,
    report,
    start,
    would,
)
from hub.flows.crm_won import pull_won_deals
from hub.ledger.bindings import Binding, BindRow
from hub.webhooks.changes import parse_changes
from schemas.errors import PermanentError
from transforms import crm_mapping as m
from transforms import crm_sales as q

if TYPE_CHECKING:
    from connectors.crm.models import CrmRecord
    from hub.bootstrap import Hub
    from hub.ledger.cursors import Cursor
    from schemas.crm_config import CrmConfig
    from schemas.model import ContactMechanism, Party

Version = tuple[str, datetime | None]  # a CRM record's id and modification instant


def crm_pull(
    hub: Hub,
    *,
    config: CrmConfig | None = None,
    changes: Sequence[str] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """CRM -> ERP: companies, then contacts, changed in the CRM since the cursors (or in the
    backfill window ``since``..``until``), those named in ``changes`` (``type:id``, from
    webhooks) read by id first; ``dry_run`` writes nothing and reports ``would``
    (``options``: ``crm_run.RUN_OPTIONS``)."""
    named = parse_changes(list(changes) if changes is not None else None)
    run = start(hub, config, **options)
    check_pipeline(run.crm, run.config)
    for kind in ("companies", "contacts"):
        done = _pull_named(run, kind, [rid for k, rid in named if k == kind])
        _pull(run, kind, done)
    pull_won_deals(run)
    return report(run, "pull")


def _properties(run: Run, kind: str) -> list[str]:
    """The CRM properties the pull of ``kind`` reads."""
    props = list((m.COMPANY_PROPERTY if kind == "companies" else m.CONTACT_PROPERTY).values())
    rule = run.config.customers
    props.append(MERGED)
    if kind == "companies":
        props += ["lifecyclestage", *([rule.property] if rule.property else [])]
    return props


def _pull_named(run: Run, kind: str, ids: Sequence[str]) -> set[Version]:
    """Apply the named records of ``kind`` read by id (the cursor stays where it is);
    returns their versions, for the cursor run to skip. Unknown ids (deleted) are counted."""
    if not ids:
        return set()
    outcome = run.crm.read(kind, ids, properties=_properties(run, kind), by_id_property=False)
    records = list(outcome.found.values())
    run.counts[f"{kind}_named"] += len(records)
    if outcome.missing:
        run.counts[f"{kind}_named_missing"] += len(outcome.missing)
    _apply_pages(run, kind, records)
    return {(r.crm_id, r.modified_at) for r in records}


def _pull(run: Run, kind: str, done: set[Version]) -> None:
    cursor = run.cursor(STREAM_PULL[kind])
    # read everything first: the hub's own write-backs move records within the search order
    records = [
        r
        for r in run.crm.search_modified_since(
            kind, cursor.read_from, properties=_properties(run, kind)
        )
        if cursor.in_window(r.modified_at)
    ]
    run.counts[f"{kind}_read"] += len(records)
    _apply_pages(run, kind, records, cursor, done)


def _apply_pages(
    run: Run,
    kind: str,
    records: Sequence[CrmRecord],
    cursor: Cursor | None = None,
    done: Set[Version] = frozenset(),
) -> None:
    """Apply ``records`` page by page, each page one ledger commit (with the cursor past it);
    a version in ``done`` was applied earlier in this run and is only passed."""
    size = run.config.pull_page_size
    for begin in range(0, len(records), size):
        page = records[begin : begin + size]
        todo = [r for r in page if (r.crm_id, r.modified_at) not in done]
        if kind == "companies":
            rows, letters = _pull_companies(run, todo)
        else:
            rows, letters = _pull_contacts(run, todo)
        if cursor is not None:
            for rec in page:
                cursor.passed(rec.modified_at, rec.crm_id)
        commit(run, FLOW_PULL, rows, letters, cursor)


def _lookups(run: Run, entity: str, records: Sequence[CrmRecord]) -> dict[str, Binding]:
    found = {}
    for rec in records:
        b = run.ledger.lookup(SYSTEM, entity, rec.crm_id)
        if b is not None:
            found[rec.crm_id] = b
    return found


def add_mechanisms(run: Run, party_id: str, new: Sequence[ContactMechanism]) -> None:
    """Add contact mechanisms to an ERP party (a dry run only says it would)."""
    if run.would is not None:
        would(run, "erp", "add_contact_mechanisms", [
            f"party {party_id}: {x.type} {x.value}" for x in new
        ])  # fmt: skip
    else:
        run.erp.add_contact_mechanisms(party_id, new)
    run.counts["erp_parties_updated"] += 1


@dataclass
class _CompanyPage:
    """A page of CRM companies with the bindings and ERP parties already known."""

    bound: dict[str, Binding]
    bound_crm: dict[str, Binding]
    parties: dict[str, Party]
    keys: tuple[Sequence[str], Sequence[str]]  # ERP-owned, CRM-owned properties
    rows: list[BindRow] = field(default_factory=list)
    letters: list[Letter] = field(default_factory=list)


def _pull_companies(run: Run, page: Sequence[CrmRecord]) -> tuple[list[BindRow], list[Letter]]:
    cfg = run.config
    merged = follow_merges(run, page)
    bound = _lookups(run, COMPANY, page)
    known = [r for r in page if r.erp_id or r.crm_id in bound]
    ids = list({r.erp_id or bound[r.crm_id].erp_id for r in known})
    state = _CompanyPage(
        bound, _lookups(run, COMPANY_CRM, page),
        {p.erp_id or "": p for p in run.erp.get_parties(ids)} if ids else {},
        (m.properties_of(cfg.companies, "erp", m.COMPANY_PROPERTY),
         m.properties_of(cfg.companies, "crm", m.COMPANY_PROPERTY)),
    )  # fmt: skip
    customers = _customers(run, [r for r in page if not (r.erp_id or r.crm_id in bound)])
    for rec in page:
        if not (rec.erp_id or rec.crm_id in bound) and rec.crm_id not in customers:
            run.counts["prospects_left_in_crm"] += 1  # not a customer: no ERP party
            continue
        _pull_company(run, state, rec)
    return state.rows, merged + state.letters


def _customers(run: Run, new: Sequence[CrmRecord]) -> set[str]:
    """CRM ids of the new companies that are customers by config (``customers``): a
    lifecycle stage or property, else a deal won in the CRM (asked only for the rest)."""
    rule = run.config.customers
    yes = {r.crm_id for r in new if q.is_customer(r.properties, rule, won_deal=False)}
    rest = [r.crm_id for r in new if r.crm_id not in yes]
    if rule.won_deal and rest:
        yes |= won_deal_companies(run, rest)
    return yes


def won_deal_companies(run: Run, company_ids: Sequence[str]) -> set[str]:
    """The companies among ``company_ids`` with a deal in the won stage."""
    deals_of = run.crm.associations("companies", "deals", company_ids)
    deal_ids = sorted({d for ids in deals_of.values() for d in ids})
    if not deal_ids:
        return set()
    stage = run.config.won_deals.stage
    deals = run.crm.read("deals", deal_ids, properties=["dealstage"], by_id_property=False).found
    return {
        company
        for company, ids in deals_of.items()
        if any(d in deals and deals[d].properties.get("dealstage") == stage for d in ids)
    }


def _pull_company(run: Run, state: _CompanyPage, rec: CrmRecord) -> None:
    erp_hash = m.payload_hash(rec.properties, state.keys[0])
    crm_hash = m.payload_hash(rec.properties, state.keys[1])
    b, bc = state.bound.get(rec.crm_id), state.bound_crm.get(rec.crm_id)
    linking = b is not None and b.content_hash is None  # the ERP id is not written back yet
    erp_id = rec.erp_id or (b.erp_id if b is not None and not linking else None)
    if erp_id is None:
        try:
            erp_id = link_new_company(run, rec)
        except PermanentError as exc:
            state.letters.append(invalid_letter("company", rec, exc))
            return
        linked = [] if erp_id.startswith(DRY) else run.erp.get_parties([erp_id])
        if linked:
            state.parties[erp_id] = linked[0]
        run.counts["companies_linked"] += 1
    if b is not None and bc is not None and (b.content_hash, bc.content_hash) == (
        erp_hash, crm_hash,
    ):  # fmt: skip
        run.counts["companies_echo_skipped"] += 1
        return
    if b is None or b.content_hash != erp_hash:
        # an ERP-owned field differs: bind what the CRM holds, the next push restores it
        state.rows.append(BindRow(COMPANY, rec.crm_id, erp_id, erp_hash))
        if b is not None:
            run.counts["companies_erp_fields_overridden"] += 1
    if bc is not None and bc.content_hash == crm_hash:
        return
    try:
        draft = m.company_to_party(rec.properties, record=rec.crm_id)
    except PermanentError as exc:
        state.letters.append(invalid_letter("company", rec, exc))
        return
    party = state.parties.get(erp_id)
    if party is None and not erp_id.startswith(DRY):
        state.letters.append(Letter(
            FLOW_PULL, f"company:{rec.crm_id}",
            f"CRM company {rec.crm_id} holds {run.config.id_property}={erp_id}, but the ERP "
            "has no such party: fix the id in the CRM or replay after restoring it",
            "PermanentError", rec.properties,
        ))  # fmt: skip
        return
    if party is not None:
        new = missing_mechanisms(party, m.company_mechanisms(draft, run.config.companies.crm))
        if new:
            add_mechanisms(run, erp_id, new)
    state.rows.append(BindRow(COMPANY_CRM, rec.crm_id, erp_id, crm_hash))


def _pull_contacts(run: Run, page: Sequence[CrmRecord]) -> tuple[list[BindRow], list[Letter]]:
    keys = m.properties_of(run.config.contacts, "crm", m.CONTACT_PROPERTY)
    rows: list[BindRow] = []
    letters = follow_merges(run, page, "contacts")
    bound = _lookups(run, CONTACT, page)
    new = [r.crm_id for r in page if not (r.erp_id or r.crm_id in bound)]
    companies_of = run.crm.associations("contacts", "companies", new) if new else {}
    for rec in page:
        h = m.payload_hash(rec.properties, keys)
        b = bound.get(rec.crm_id)
        if b is not None and b.content_hash == h:
            run.counts["contacts_echo_skipped"] += 1
            continue
        key = rec.erp_id or (b.erp_id if b is not None else None)
        of = companies_of.get(rec.crm_id, [])
        if key is None and of and all(run.ledger.lookup(SYSTEM, COMPANY, c) is None for c in of):
            run.counts["contacts_of_prospects_left_in_crm"] += 1  # its company is no customer
            continue
        try:
            key = _pull_contact(run, rec, key, of)
        except PermanentError as exc:
            letters.append(invalid_letter("contact", rec, exc))
            continue
        rows.append(BindRow(CONTACT, rec.crm_id, key, h))
    return rows, letters


def _pull_contact(run: Run, rec: CrmRecord, key: str | None, company_ids: list[str]) -> str:
    """Link (when new) and apply one CRM contact; returns its ERP key."""
    cfg = run.config
    person = m.contact_to_contact(rec.properties, record=rec.crm_id)
    if key is None:
        key = link_new_contact(run, rec, person, company_ids)
        run.counts["contacts_linked"] += 1
    party_id = key.split(":", 1)[0]
    if party_id.startswith(DRY):  # a dry run's party that would be created
        return key
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
    missing = missing_mechanisms(current[0], wanted)
    if missing:
        add_mechanisms(run, party_id, missing)
    return key
