"""Wire DTOs of the HubSpot CRM v3/v4 subset the connector uses, and the per-record results.

Response bodies are parsed with pydantic at the boundary (a malformed answer is a
PermanentError naming the call, not a KeyError three layers up); results handed to flows
are small frozen dataclasses keyed by the ERP id held in the CRM's id property.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

OBJECT_TYPES = ("companies", "contacts", "deals", "products", "line_items", "quotes")

# Property that holds "last modified" per object type (contacts predate the hs_ prefix).
MODIFIED_PROPERTY: dict[str, str] = {
    "companies": "hs_lastmodifieddate",
    "contacts": "lastmodifieddate",
    "deals": "hs_lastmodifieddate",
    "products": "hs_lastmodifieddate",
    "line_items": "hs_lastmodifieddate",
    "quotes": "hs_lastmodifieddate",
}

# HubSpot-defined default association type ids (associations v4), from -> to.
ASSOCIATION_TYPE_IDS: dict[tuple[str, str], int] = {
    ("contacts", "companies"): 279,
    ("companies", "contacts"): 280,
    ("deals", "contacts"): 3,
    ("contacts", "deals"): 4,
    ("deals", "companies"): 341,
    ("companies", "deals"): 342,
    ("deals", "line_items"): 19,
    ("line_items", "deals"): 20,
    ("deals", "quotes"): 63,
    ("quotes", "deals"): 64,
}


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class WireObject(_Wire):
    """SimplePublicObject / SimplePublicUpsertObject."""

    id: str
    properties: dict[str, str | None] = Field(default_factory=dict)
    created_at: datetime | None = Field(default=None, alias="createdAt")
    updated_at: datetime | None = Field(default=None, alias="updatedAt")
    archived: bool = False
    new: bool | None = None
    object_write_trace_id: str | None = Field(default=None, alias="objectWriteTraceId")


class WireErrorDetail(_Wire):
    message: str
    code: str | None = None
    in_: str | None = Field(default=None, alias="in")


class WireStandardError(_Wire):
    """One failed input of a batch (StandardError)."""

    status: str | None = None
    category: str | None = None
    message: str = ""
    context: dict[str, list[str]] = Field(default_factory=dict)
    errors: list[WireErrorDetail] = Field(default_factory=list)


class WireBatchResponse(_Wire):
    """BatchResponse... (200/201) and ...WithErrors (207)."""

    status: str
    results: list[WireObject] = Field(default_factory=list)
    errors: list[WireStandardError] = Field(default_factory=list)


class WireNextPage(_Wire):
    after: str


class WirePaging(_Wire):
    next: WireNextPage | None = None


class WireSearchResponse(_Wire):
    """CollectionResponseWithTotalSimplePublicObject."""

    total: int
    results: list[WireObject] = Field(default_factory=list)
    paging: WirePaging | None = None


class WireListResponse(_Wire):
    """CollectionResponseSimplePublicObjectWithAssociationsForwardPaging (the plain list)."""

    results: list[WireObject] = Field(default_factory=list)
    paging: WirePaging | None = None


class WireStage(_Wire):
    """PipelineStage."""

    id: str
    label: str
    archived: bool = False


class WirePipeline(_Wire):
    """Pipeline."""

    id: str
    label: str
    archived: bool = False
    stages: list[WireStage] = Field(default_factory=list)


class WirePipelines(_Wire):
    """CollectionResponsePipelineNoPaging."""

    results: list[WirePipeline] = Field(default_factory=list)


@dataclass(frozen=True)
class Pipeline:
    """A CRM pipeline and its live stages (stage id -> label)."""

    id: str
    label: str
    stages: dict[str, str]

    @classmethod
    def from_wire(cls, wire: WirePipeline) -> Pipeline:
        return cls(wire.id, wire.label, {s.id: s.label for s in wire.stages if not s.archived})


class WireAssociationResult(_Wire):
    """LabelsBetweenObjectPair."""

    from_object_id: str = Field(alias="fromObjectId")
    to_object_id: str = Field(alias="toObjectId")


class WireAssociationBatch(_Wire):
    status: str
    results: list[WireAssociationResult] = Field(default_factory=list)
    errors: list[WireStandardError] = Field(default_factory=list)


class WireAssociatedId(_Wire):
    to_object_id: str = Field(alias="toObjectId")


class WireObjectId(_Wire):
    id: str


class WireAssociationsOf(_Wire):
    from_: WireObjectId = Field(alias="from")
    to: list[WireAssociatedId] = Field(default_factory=list)


class WireAssociationReadBatch(_Wire):
    status: str
    results: list[WireAssociationsOf] = Field(default_factory=list)
    errors: list[WireStandardError] = Field(default_factory=list)


def parse_timestamp(value: str | None) -> datetime | None:
    """HubSpot date-time property value (ISO 8601 or epoch milliseconds) as an aware datetime."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def to_epoch_ms(moment: datetime | int) -> int:
    """Epoch milliseconds for a datetime (naive = UTC) or pass an int through."""
    if isinstance(moment, int):
        return moment
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True)
class CrmRecord:
    """A CRM object as the hub sees it: CRM id, ERP id (from the id property), properties."""

    object_type: str
    crm_id: str
    properties: dict[str, str]
    erp_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def modified_at(self) -> datetime | None:
        """Last modification, from the object type's modified property, else updatedAt."""
        prop = MODIFIED_PROPERTY.get(self.object_type, "hs_lastmodifieddate")
        return parse_timestamp(self.properties.get(prop)) or self.updated_at

    @classmethod
    def from_wire(cls, object_type: str, wire: WireObject, id_property: str | None) -> CrmRecord:
        props = {k: v for k, v in wire.properties.items() if v is not None}
        return cls(
            object_type=object_type,
            crm_id=wire.id,
            properties=props,
            erp_id=props.get(id_property) if id_property else None,
            created_at=wire.created_at,
            updated_at=wire.updated_at,
        )


@dataclass(frozen=True)
class RecordFailure:
    """Why the CRM refused one record: enough for a dead letter a person can act on."""

    erp_id: str | None
    category: str
    message: str
    code: str | None = None
    field: str | None = None


@dataclass(frozen=True)
class UpsertSuccess:
    erp_id: str
    crm_id: str
    created: bool
    record: CrmRecord


@dataclass
class UpsertOutcome:
    """A batch upsert split per record (a 207 yields both lists)."""

    succeeded: list[UpsertSuccess] = field(default_factory=list)
    failed: list[RecordFailure] = field(default_factory=list)

    def crm_ids(self) -> dict[str, str]:
        """ERP id -> CRM id of every record written."""
        return {s.erp_id: s.crm_id for s in self.succeeded}


@dataclass
class ReadOutcome:
    """A batch read: records found keyed by the requested id, ids the CRM does not know."""

    found: dict[str, CrmRecord] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CreateResult:
    """A single create: ``created`` False when reconciliation found the record already there."""

    record: CrmRecord
    created: bool


@dataclass
class AssociationOutcome:
    """Associations v4 batch create, split per pair (from CRM id, to CRM id)."""

    created: list[tuple[str, str]] = field(default_factory=list)
    failed: list[RecordFailure] = field(default_factory=list)


def failure_from_wire(error: WireStandardError, erp_id: str | None) -> RecordFailure:
    detail = error.errors[0] if error.errors else None
    return RecordFailure(
        erp_id=erp_id,
        category=error.category or "UNKNOWN",
        message=(detail.message if detail else "") or error.message,
        code=detail.code if detail else None,
        field=detail.in_ if detail else None,
    )


def error_ids(error: WireStandardError) -> list[str]:
    """The input ids a StandardError is about (objectWriteTraceId first, then ids)."""
    return list(error.context.get("objectWriteTraceId") or error.context.get("ids") or [])


def wire_value(value: Any) -> str:
    """A property value as the CRM wants it: strings only; None clears the property."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
