"""CRM sync configuration: id property, field ownership and deal stages, validated at load."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Owner = Literal["erp", "crm"]
ObjectName = Literal["companies", "contacts", "products", "deals", "line_items", "quotes"]
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


class CustomerRule(_Config):
    """Which CRM companies are customers and so become ERP parties (the others are prospects
    and stay in the CRM). Any rule that holds is enough."""

    lifecycle_stages: tuple[str, ...] = Field(
        default=("customer", "evangelist"),
        description="HubSpot lifecyclestage values that make a company a customer",
    )
    property: str | None = Field(
        default=None, description="a CRM company property whose true/yes/1 value marks a customer"
    )
    won_deal: bool = Field(
        default=True, description="a company with a deal won in the CRM is a customer"
    )

    without_stage: Literal["customer", "prospect"] = Field(
        default="customer",
        description="what a company without any lifecyclestage counts as ('customer' keeps "
        "companies typed without a stage syncing as before)",
    )


class WonDeals(_Config):
    """Deals won in the CRM become ERP sales, once per deal."""

    enabled: bool = Field(default=True, description="turn CRM -> ERP sales on or off")
    stage: str = Field(default="closedwon", min_length=1, description="the CRM stage that wins")
    sale_state: Literal["quotation", "confirmed"] = Field(
        default="quotation", description="what the ERP makes of a won deal"
    )
    reference_prefix: str = Field(
        default="CRM-", min_length=1, max_length=10,
        description="ERP sale reference = prefix + CRM deal id (how the ERP knows the deal)",
    )  # fmt: skip
    default_currency: str = Field(
        default="EUR", pattern=r"^[A-Z]{3}$", description="when the deal names no currency"
    )


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
            "quotation": "presentationscheduled",
            "confirmed": "contractsent",
            "processing": "closedwon",
            "done": "closedwon",
            "cancelled": "closedlost",
        }
    )
    quotes: bool = Field(
        default=True, description="ERP quotations (and the sales after them) as CRM quote objects"
    )
    customers: CustomerRule = CustomerRule()
    won_deals: WonDeals = WonDeals()
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

    def stages_used(self) -> dict[str, str]:
        """Where each deal stage is named (``deal_stages.<state>``, ``won_deals.stage``)."""
        used = {f"deal_stages.{state}": stage for state, stage in self.deal_stages.items()}
        if self.won_deals.enabled:
            used["won_deals.stage"] = self.won_deals.stage
        return used
