"""The CRM port: what the hub asks of a CRM account, whatever CRM or fake stands behind it.

Records are addressed by the ERP id the hub keeps in the CRM's *id property* (a unique
property, ``hub_erp_id`` by default) or by the CRM's own object id. Error semantics, the
same for every adapter (the contract suite ``tests/contract/test_crm_port.py`` checks them
on the fake and on the HubSpot client against the sandbox CRM):

- a record the CRM refuses inside a batch (invalid value, unique-property clash, unknown
  id) is a ``RecordFailure`` in the outcome, never an exception: the rest of the batch is
  written;
- an unknown object type is a ``ValueError`` (a programming error, before any request);
- a whole request the CRM refuses is a ``PermanentError`` whose ``code`` is the HTTP status
  (``"404"`` for an unknown record in ``update``, ``"401"`` for a bad token);
- rate limits and outages that outlast the adapter's own retries are ``TransientError``.

Every write is idempotent (upsert by id property, update, association create), so the
ledger's *repeat* policy is safe for all of them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from connectors.crm.models import (
    OBJECT_TYPES,
    AssociationOutcome,
    CrmRecord,
    Pipeline,
    ReadOutcome,
    UpsertOutcome,
)


class CrmPort(ABC):
    """One CRM account: batch upsert/read, incremental search, associations, update."""

    id_property: str

    @abstractmethod
    def upsert(self, object_type: str, records: Mapping[str, Mapping[str, Any]]) -> UpsertOutcome:
        """Create or update ``{erp_id: properties}`` by the id property.

        ``succeeded`` holds each written record with its CRM id and whether it was new;
        ``failed`` each refused one with the CRM's category, message and offending field.
        """

    def read(
        self,
        object_type: str,
        ids: Iterable[str],
        *,
        properties: Sequence[str] = (),
        by_id_property: bool = True,
    ) -> ReadOutcome:
        """Records by ERP id (the id property) or by CRM id; unknown ids come back missing."""
        if object_type not in OBJECT_TYPES:
            raise ValueError(f"unknown CRM object type {object_type!r}; use one of {OBJECT_TYPES}")
        names = list(dict.fromkeys([*properties, self.id_property]))
        return self.read_batch(object_type, list(dict.fromkeys(ids)), names, by_id_property)

    @abstractmethod
    def read_batch(
        self, object_type: str, ids: list[str], names: list[str], by_id_property: bool
    ) -> ReadOutcome:
        """``read`` of a known type: distinct ``ids``, the properties ``names`` (the id
        property among them)."""

    @abstractmethod
    def search_modified_since(
        self,
        object_type: str,
        since: datetime | int | None = None,
        *,
        properties: Sequence[str] = (),
        page_size: int = 100,
    ) -> Iterator[CrmRecord]:
        """Every record modified at or after ``since``, oldest first (at-least-once at it)."""

    @abstractmethod
    def associate(
        self, from_type: str, to_type: str, pairs: Iterable[tuple[str, str]]
    ) -> AssociationOutcome:
        """Associate (from CRM id, to CRM id) pairs with the default type; repeating is a no-op.

        A pair naming an unknown record fails with category ``OBJECT_NOT_FOUND`` and that
        record's id."""

    @abstractmethod
    def associations(
        self, from_type: str, to_type: str, ids: Iterable[str]
    ) -> dict[str, list[str]]:
        """CRM ids associated to each of ``ids``, sorted (ids without any are left out)."""

    @abstractmethod
    def update(
        self,
        object_type: str,
        id_value: str,
        properties: Mapping[str, Any],
        *,
        by_id_property: bool = True,
    ) -> CrmRecord:
        """Set properties of one record found by ERP id, or by CRM id when
        ``by_id_property`` is False; an unknown record is a PermanentError code ``"404"``."""

    @abstractmethod
    def list_records(
        self, object_type: str, *, properties: Sequence[str] = (), archived: bool = False
    ) -> Iterator[CrmRecord]:
        """Every record of a type by CRM id, page by page (the plain list endpoint); with
        ``archived`` the archived (merged or deleted) ones instead."""

    @abstractmethod
    def pipelines(self, object_type: str) -> list[Pipeline]:
        """The pipelines of an object type (deals) with their live stages."""

    @abstractmethod
    def stats(self) -> dict[str, int]:
        """Counters: ``requests`` at least (benchmarks and flow reports show it)."""
