"""crm_pull, linking: the ERP party of a CRM-made company or contact, matched before created.

A match must be unique (VAT, then GLN, then name + postcode; a contact by its company or its
e-mail); an ambiguous one is a PermanentError for a person. A party is created through
``ledger.once`` keyed by the CRM object, with the *look up first* policy: after an unknown
outcome the same match that precedes every create finds the party the first attempt made.
The ERP id is then written back to the CRM record (its id property), which links it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from connectors.erp.port import PartyQuery
from hub.flows.crm_run import COMPANY, CONTACT, DRY, FLOW_PULL, SYSTEM, Run, once_result, would
from hub.ledger.journal import Effect, OnUnknown
from schemas.errors import ConflictError, PermanentError
from schemas.model import Contact, ContactMechanism, Party
from transforms import crm_mapping as m
from transforms.crm_matching import name_key, normalise_email, postcode_key
from transforms.keys import CrmObjectKey

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from connectors.crm.models import CrmRecord


def missing_mechanisms(party: Party, wanted: Sequence[ContactMechanism]) -> list[ContactMechanism]:
    """The contact mechanisms of ``wanted`` the party does not hold yet (case-insensitive)."""
    have = {(x.type, x.value.strip().lower()) for x in party.contact_mechanisms}
    return [x for x in wanted if (x.type, x.value.strip().lower()) not in have]


def _one(run: Run, query: PartyQuery, what: str, keep: Callable[[Party], bool]) -> Party | None:
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


def _match_party(run: Run, draft: Party) -> Party | None:
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


def _by_email(run: Run, email: str | None) -> Party | None:
    if not email:
        return None
    email = normalise_email(email)
    return _one(run, PartyQuery(email=email), f"email {email}", lambda p: True)


def _create_party(
    run: Run,
    key: CrmObjectKey,
    draft: Party,
    find: Callable[[], Party | None],
    on_done: Callable[[Connection, str], None] | None = None,
) -> str:
    """Create the ERP party of a CRM record once (a dry run only says it would).

    ``find`` is the match that preceded the create: after an unknown outcome it is asked
    first, and only a provable absence creates again."""
    if run.would is not None:
        run.counts["erp_parties_created"] += 1
        would(run, "erp", "create_party", [f"{draft.name} (from CRM {key.object_type} "
                                           f"{key.object_id})"])  # fmt: skip
        return f"{DRY}{key.object_type} {key.object_id}"
    outcome = run.ledger.once(
        key,
        draft.content_hash(),
        lambda: run.erp.create_parties([draft])[0].erp_id or "",
        on_unknown=OnUnknown.look_up(lambda _key: (p.erp_id if (p := find()) else None)),
        effect=Effect(
            FLOW_PULL, "erp", "create_party", ref=key.object_id,
            what=f"the ERP party of CRM {key.object_type} {key.object_id} ({draft.name})",
        ),
        on_done=on_done,
    )  # fmt: skip
    erp_id = once_result(
        outcome, f"the ERP party of CRM {key.object_type} {key.object_id}",
        "looks it up before creating again",
    )  # fmt: skip
    run.counts["erp_parties_created"] += 1
    return erp_id


def link_new_company(run: Run, rec: CrmRecord) -> str:
    """Match or create the ERP party of a CRM-made company; write the ERP id back to the CRM."""
    draft = m.company_to_party(rec.properties, record=rec.crm_id)
    key = CrmObjectKey("pull", "company", rec.crm_id)
    party = None if _journaled(run, key) else _match_party(run, draft)
    if party is not None:
        _ensure_unlinked(run, COMPANY, party.erp_id or "", rec.crm_id)
        erp_id = party.erp_id or ""
        if run.would is None:
            _bind_pending(run, rec.crm_id, erp_id)
    else:
        erp_id = _create_party(
            run, key, draft, lambda: _match_party(run, draft),
            on_done=lambda conn, erp: _bind_pending(run, rec.crm_id, erp, conn),
        )  # fmt: skip
    run.crm.update("companies", rec.crm_id, {run.config.id_property: erp_id},
                   by_id_property=False)  # fmt: skip
    return erp_id


def _bind_pending(run: Run, crm_id: str, erp_id: str, conn: Connection | None = None) -> None:
    """Bind the CRM company to its ERP party before the ERP id is written back to the CRM,
    with no content hash yet: until the pull commits the link, the push leaves this party
    alone (an upsert by ERP id would not find the CRM record and create a second one)."""
    run.ledger.bind(SYSTEM, COMPANY, crm_id, erp_id, None, conn=conn)


def link_new_contact(run: Run, rec: CrmRecord, person: Contact, company_ids: list[str]) -> str:
    """The party of a CRM-made contact: its company's, else matched by email, else new."""
    key = CrmObjectKey("pull", "contact", rec.crm_id)
    party_id = None if _journaled(run, key) else _party_of_contact(run, person, company_ids)
    if party_id is None:
        draft = Party(name=person.name, contact_mechanisms=tuple(m.contact_mechanisms_for(person)))
        party_id = _create_party(run, key, draft, lambda: _by_email(run, person.email))
    key_text = m.contact_key(party_id, person)
    _ensure_unlinked(run, CONTACT, key_text, rec.crm_id)
    run.crm.update("contacts", rec.crm_id, {run.config.id_property: key_text},
                   by_id_property=False)  # fmt: skip
    return key_text


def _journaled(run: Run, key: CrmObjectKey) -> bool:
    """An earlier run began creating this record's party: the journal settles it (done, or
    unknown and looked up by the same match), never a second match-or-create."""
    return run.would is None and run.ledger.journal_entry(key) is not None


def _party_of_contact(run: Run, person: Contact, company_ids: list[str]) -> str | None:
    """The ERP party of a CRM contact: its linked company's, else the one with its e-mail."""
    for crm_company in company_ids:
        b = run.ledger.lookup(SYSTEM, COMPANY, crm_company)
        if b is not None:
            return b.erp_id
    found = _by_email(run, person.email)
    return found.erp_id if found else None


def _ensure_unlinked(run: Run, entity: str, erp_key: str, crm_id: str) -> None:
    other = run.ledger.lookup_erp(SYSTEM, entity, erp_key)
    if other is not None and other.external_id != crm_id:
        raise ConflictError(
            f"ERP record {erp_key} is already linked to CRM {entity} {other.external_id}: "
            f"CRM {entity} {crm_id} looks like a duplicate; merge them in the CRM",
            system=SYSTEM,
        )
