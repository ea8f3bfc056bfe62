"""The FakeErp's parties: look-ups, creation and updates as the ERP reads them back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from connectors.erp.fake.base import SYSTEM, FakeErpBase, checked_id
from connectors.erp.port import PartyQuery
from schemas.errors import PermanentError
from schemas.model import Address, ContactMechanism, Party
from transforms import erp_tryton as tt


def _readable_vat(vat: str | None) -> str | None:
    """The VAT id as the ERP reads it back: only EU VAT ids are typed as VAT ids."""
    return vat if vat and vat[:2] in tt.EU_VAT_PREFIXES else None


def _compact(vat: str) -> str:
    return vat.replace(" ", "").replace(".", "").replace("-", "").upper()


def _matches(party: Party, query: PartyQuery) -> bool:
    """Every criterion of ``query`` holds (names and emails ignoring case, trimmed)."""
    email = (query.email or "").strip().lower()
    postal_code = (query.postal_code or "").strip()
    return all(
        (
            not query.gln or party.gln == query.gln,
            not query.vat or _compact(party.vat or "") == _compact(query.vat),
            not email
            or any(
                m.type == "email" and m.value.lower() == email for m in party.contact_mechanisms
            ),
            not query.name or party.name.lower() == query.name.strip().lower(),
            not postal_code or any(a.postal_code == postal_code for a in party.addresses),
        )
    )


class FakeParties(FakeErpBase):
    """Parties (customers) of the fake ERP."""

    def _party(self, erp_id: str | None, missing: str) -> Party:
        """The stored party ``erp_id``; PermanentError (``missing``) when there is none."""
        party = self.parties.get(checked_id(erp_id)) if erp_id else None
        if party is None:
            raise PermanentError(missing, system=SYSTEM)
        return party

    def _mechanisms(self, values: Iterable[dict[str, Any]]) -> tuple[ContactMechanism, ...]:
        return tuple(ContactMechanism(erp_id=str(next(self._line_ids)), **v) for v in values)

    def _addresses(self, addresses: Iterable[Address]) -> tuple[Address, ...]:
        # the ERP keeps no GLN per address
        return tuple(
            a.model_copy(update={"erp_id": str(next(self._line_ids)), "gln": None})
            for a in addresses
        )

    def get_parties(self, erp_ids: Sequence[str]) -> list[Party]:
        self._call()
        return [self.parties[i] for i in map(checked_id, erp_ids) if i in self.parties]

    def find_parties(self, query: PartyQuery, *, limit: int = 10) -> list[Party]:
        self._call()
        if query.is_empty():
            raise PermanentError("find_parties needs at least one criterion", system=SYSTEM)
        return [p for p in self.parties.values() if _matches(p, query)][:limit]

    def find_parties_by_gln(self, glns: Sequence[str]) -> dict[str, Party]:
        self._call()
        wanted = set(glns)
        return {p.gln: p for p in self.parties.values() if p.gln and p.gln in wanted}

    def create_parties(self, parties: Sequence[Party]) -> list[Party]:
        """Store the parties as the ERP reads them back (see ``ErpPort.create_parties``)."""
        self._call()
        created = []
        for party in parties:
            mechanisms = self._mechanisms(
                tt.mechanism_values(party.contact_mechanisms, party.contacts)
            )
            stored = party.model_copy(
                update={
                    "erp_id": self._id(),
                    "code": party.code or str(next(self._party_codes)),
                    "vat": _readable_vat(party.vat),
                    "lang": None,
                    "addresses": self._addresses(party.addresses),
                    "contact_mechanisms": mechanisms,
                    "contacts": tt.contacts_of(mechanisms),
                    "updated_at": self.now,
                }
            )
            self.parties[stored.erp_id or ""] = stored
            created.append(stored)
        return created

    def update_party(self, party: Party) -> Party:
        self._call()
        if not party.erp_id:
            raise PermanentError(f"update_party: party {party.name!r} has no erp_id", system=SYSTEM)
        now = self._party(
            party.erp_id, f"party {party.erp_id} ({party.name!r}) no longer exists in the ERP"
        )
        changes: dict[str, Any] = {}
        if party.name != now.name:
            changes["name"] = party.name
        if party.gln and party.gln != now.gln:
            changes["gln"] = party.gln
        if party.vat and party.vat != now.vat:
            changes["vat"] = _readable_vat(party.vat)
        addresses = tt.new_addresses(party, now)
        if addresses:
            changes["addresses"] = now.addresses + self._addresses(addresses)
        return self._store(
            now, changes, tt.missing_mechanisms(now, party.contact_mechanisms, party.contacts)
        )

    def _store(
        self, now: Party, changes: dict[str, Any], mechanisms: list[dict[str, Any]]
    ) -> Party:
        """``now`` with ``changes`` and the new ``mechanisms``, stamped; ``now`` if no change."""
        if not changes and not mechanisms:
            return now
        if mechanisms:
            merged = now.contact_mechanisms + self._mechanisms(mechanisms)
            changes.update(contact_mechanisms=merged, contacts=tt.contacts_of(merged))
        updated = now.model_copy(update={**changes, "updated_at": self.now})
        self.parties[now.erp_id or ""] = updated
        return updated

    def add_contact_mechanisms(self, erp_id: str, mechanisms: Sequence[ContactMechanism]) -> Party:
        self._call()
        now = self._party(erp_id, f"party {erp_id} does not exist in the ERP")
        return self._store(now, {}, tt.missing_mechanisms(now, mechanisms))

    def parties_changed_since(self, since: dt.datetime | None, *, limit: int = 500) -> list[Party]:
        self._call()
        return self._changed_since(self.parties.values(), since, limit)
