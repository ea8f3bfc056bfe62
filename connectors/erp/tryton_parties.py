"""Parties on Tryton: find, create, update additively, and read changes since a moment."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from connectors.erp.jsonrpc import SYSTEM
from connectors.erp.port import PartyQuery
from connectors.erp.tryton_records import TrytonRecords
from schemas.errors import PermanentError
from schemas.model import ContactMechanism, Party
from transforms import erp_tryton as tt


def get_parties(records: TrytonRecords, erp_ids: Sequence[str]) -> list[Party]:
    """The parties with these ids, in the order asked; unknown ids are left out."""
    if not erp_ids:
        return []
    ids = [tt.record_id(i) for i in erp_ids]
    by_id = records.party_rows_by_id(ids)
    return [by_id[i].party for i in ids if i in by_id]


def _party_domain(query: PartyQuery) -> list[Any]:
    """Domain: parties matching every criterion of ``query`` (names and emails ignore case)."""
    if query.is_empty():
        raise PermanentError("find_parties needs at least one criterion", system=SYSTEM)
    domain: list[Any] = []
    if query.gln:
        domain.append(("identifiers", "where", [("code", "=", query.gln)]))
    if query.vat:
        compact = query.vat.replace(" ", "").replace(".", "").replace("-", "").upper()
        domain.append(("identifiers", "where", [("code_compact", "=", compact)]))
    if query.email:
        email = [("type", "=", "email"), ("value", "ilike", query.email.strip())]
        domain.append(("contact_mechanisms", "where", email))
    if query.name:
        domain.append(("name", "ilike", query.name.strip()))
    if query.postal_code:
        domain.append(("addresses.postal_code", "=", query.postal_code.strip()))
    return domain


def find_parties(records: TrytonRecords, query: PartyQuery, *, limit: int = 10) -> list[Party]:
    """Parties matching every criterion of ``query``, by id."""
    return [r.party for r in records.party_rows(_party_domain(query), limit=limit)]


def create_parties(records: TrytonRecords, parties: Sequence[Party]) -> list[Party]:
    """One ``create`` for every party with its addresses, identifiers and mechanisms."""
    if not parties:
        return []
    countries = records.country_ids({a.country for p in parties for a in p.addresses if a.country})
    vlist = [tt.party_values(p, countries) for p in parties]
    ids = records.rpc.model("party.party", "create", vlist, idempotent=False)
    return get_parties(records, [str(i) for i in ids])


def update_party(records: TrytonRecords, party: Party) -> Party:
    """Bring the party up to ``party`` additively (one write, none when nothing differs)."""
    if not party.erp_id:
        raise PermanentError(f"update_party: party {party.name!r} has no erp_id", system=SYSTEM)
    party_id = tt.record_id(party.erp_id)
    row = records.party_rows_by_id([party_id]).get(party_id)
    if row is None:
        raise PermanentError(
            f"party {party.erp_id} ({party.name!r}) no longer exists in the ERP", system=SYSTEM
        )
    added = tt.new_addresses(party, row.party)
    countries = records.country_ids({a.country for a in added if a.country})
    values = tt.party_update_values(party, row, countries)
    if not values:
        return row.party
    records.rpc.model("party.party", "write", [party_id], values, idempotent=True)
    return get_parties(records, [party.erp_id])[0]


def add_contact_mechanisms(
    records: TrytonRecords, erp_id: str, mechanisms: Sequence[ContactMechanism]
) -> Party:
    """Add the mechanisms the party lacks (same type and value, ignoring case)."""
    current = get_parties(records, [erp_id])
    if not current:
        raise PermanentError(f"party {erp_id} does not exist in the ERP", system=SYSTEM)
    missing = tt.missing_mechanisms(current[0], mechanisms)
    if not missing:
        return current[0]
    records.rpc.model(
        "party.party",
        "write",
        [tt.record_id(erp_id)],
        {"contact_mechanisms": [("create", missing)]},
        idempotent=True,
    )
    return get_parties(records, [erp_id])[0]


def parties_changed_since(
    records: TrytonRecords, since: dt.datetime | None, *, limit: int = 500
) -> list[Party]:
    """Parties but the company whose record, addresses or mechanisms changed at/after ``since``."""
    company_party = records.company()["party"]
    domain = [
        ("id", "!=", company_party),
        *tt.changed_domain(since, ("", "addresses.", "contact_mechanisms.")),
    ]
    parties = [r.party for r in records.party_rows(domain)]
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    parties.sort(key=lambda p: (p.updated_at or epoch, int(p.erp_id or 0)))
    return parties[:limit]
