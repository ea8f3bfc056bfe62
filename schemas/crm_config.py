"""CRM sync configuration: id property, field ownership and deal stages, validated at load."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Owner = Literal["erp", "crm"]
ObjectName = Literal["companies", "contacts", "products", "deals", "line_items"]
# Canonical fields each mapped CRM property comes from; ownership is declared per field.
COMPANY_FIELDS = (
    "name", "vat", "gln", "code", "street", "postal_code", "city", "country", "phone", "website",
)  # fmt: skip
CONTACT_FIELDS = ("firstname", "lastname", "email", "phone", "jobtitle")
SALE_STATES = ("draft", "quotation", "confirmed", "processing", "done", "cancelled")


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Ownership(_Config):
    """Who owns each field of one CRM object: the owner's value wins, the other side's is ignored.

    ERP-owned fields are pushed on every change; CRM-owned fields are sent once when the hub
    creates the record (a seed) and afterwards flow only from the CRM to the ERP.
    """

    erp: tuple[str, ...] = ()
    crm: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _disjoint(self) -> Ownership:
        both = set(self.erp) & set(self.crm)
        if both:
            raise ValueError(f"fields {sorted(both)} are owned by both erp and crm: pick one")
        return self

    def owner(self, field: str) -> Owner | None:
        """The owner of ``field``, None when the field is not synced at all."""
        if field in self.erp:
            return "erp"
        if field in self.crm:
            return "crm"
        return None


class CrmConfig(_Config):
    """``config/crm.yaml``: how the hub maps and owns data between the ERP and the CRM."""

    id_property: str = Field(default="hub_erp_id", min_length=1)
    pipeline: str = "default"
    companies: Ownership = Ownership(
        erp=("name", "vat", "gln", "code", "street", "postal_code", "city", "country"),
        crm=("phone", "website"),
    )
    contacts: Ownership = Ownership(crm=CONTACT_FIELDS)
    deal_stages: dict[str, str] = Field(
        default_factory=lambda: {
            "confirmed": "contractsent",
            "processing": "closedwon",
            "done": "closedwon",
            "cancelled": "closedlost",
        }
    )
    push_page_size: int = Field(default=500, ge=1, le=10_000)
    pull_page_size: int = Field(default=200, ge=1, le=10_000)

    @model_validator(mode="after")
    def _known_fields(self) -> CrmConfig:
        for name, own, known in (
            ("companies", self.companies, COMPANY_FIELDS),
            ("contacts", self.contacts, CONTACT_FIELDS),
        ):
            unknown = (set(own.erp) | set(own.crm)) - set(known)
            if unknown:
                raise ValueError(
                    f"{name}: unknown fields {sorted(unknown)}; known: {', '.join(known)}"
                )
        bad = set(self.deal_stages) - set(SALE_STATES)
        if bad:
            raise ValueError(
                f"deal_stages: {sorted(bad)} are not ERP sale states ({', '.join(SALE_STATES)})"
            )
        return self
