"""E-invoice configuration (``config/einvoice.yaml``): the seller and each customer's format."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from schemas.config import ConfigModel
from schemas.types import CountryCode, Email, VatId

EInvoiceFormat = Literal[
    "xrechnung-ubl", "xrechnung-cii", "peppol-bis", "zugferd-en16931", "zugferd-xrechnung"
]
FORMATS: tuple[str, ...] = EInvoiceFormat.__args__  # type: ignore[attr-defined]
# UNCL 5305 categories a customer's zero-rated lines can be declared as (K and G are chosen
# from the countries, Z otherwise): exempt, reverse charge, export, not subject to VAT
ZeroCategory = Literal["E", "AE", "G", "O"]


def _iban(value: str | None) -> str | None:
    from stdnum import iban

    if value is None:
        return None
    if not iban.is_valid(value):
        raise ValueError(f"IBAN {value!r} is not valid (country, length or check digits)")
    return iban.compact(value)


class SellerContact(ConfigModel):
    """Who the buyer calls about an invoice (XRechnung requires name, phone and e-mail)."""

    name: str = Field(min_length=1, description="Contact person or department (BT-41).")
    phone: str = Field(min_length=3, description="Telephone number (BT-42).")
    email: Email = Field(description="E-mail address (BT-43).")


class SellerAddress(ConfigModel):
    """The seller's postal address as invoices print it."""

    street: str = Field(min_length=1)
    postal_code: str = Field(min_length=1)
    city: str = Field(min_length=1)
    country: CountryCode


class Seller(ConfigModel):
    """The issuing company as its e-invoices name it (the ERP's company party has no VAT id,
    contact or bank account in this deployment, so the whole seller is configured here)."""

    vat_id: VatId = Field(description="The seller's VAT identifier (BT-31), e.g. DE123456789.")
    iban: str | None = Field(
        default=None,
        description="The account customers pay into (BT-84) when the ERP has no bank account.",
    )
    bic: str | None = Field(default=None, description="The account's BIC (BT-86), optional.")
    electronic_address: Email = Field(
        description="The seller's electronic address (BT-34, scheme EM): where answers go."
    )
    contact: SellerContact
    legal_registration: str | None = Field(
        default=None, description="Trade register entry (BT-30), e.g. 'HRB 12345 Bremen'."
    )
    name: str = Field(min_length=1, description="The seller's legal name (BT-27).")
    address: SellerAddress = Field(description="The seller's postal address (BG-5).")
    gln: str | None = Field(default=None, description="The seller's GLN, if it has one.")

    _check_iban = field_validator("iban")(_iban)


class CustomerEInvoice(ConfigModel):
    """One customer who receives e-invoices: which format and over which channel."""

    party: str = Field(min_length=1, description="The ERP party: its code or ERP id.")
    format: EInvoiceFormat = Field(description="The e-invoice format this customer receives.")
    channel: Literal["outbox", "email"] = Field(
        default="outbox",
        description="'outbox': the partner profile's mailbox (local or SFTP); "
        "'email': attached to a mail through the hub_smtp connection.",
    )
    partner: str | None = Field(
        default=None, description="Partner profile id whose mailbox the 'outbox' channel uses."
    )
    email: Email | None = Field(default=None, description="Recipient for the 'email' channel.")
    buyer_reference: str | None = Field(
        default=None,
        description="Buyer reference (BT-10): the Leitweg-ID for German public buyers.",
    )
    electronic_address: str | None = Field(
        default=None,
        description="The buyer's electronic address (BT-49); default: the e-mail recipient "
        "or the party's e-mail in the ERP.",
    )
    vat_category: ZeroCategory | None = Field(
        default=None,
        description="What this customer's zero-rated lines are (UNCL 5305): E exempt, AE "
        "reverse charge, G export outside the EU, O not subject to VAT. Default: K for a "
        "business in another EU state, G for a buyer outside the EU, else Z.",
    )
    vat_exemption_code: str | None = Field(
        default=None,
        pattern=r"^VATEX-EU-[A-Z0-9-]+$",
        description="VATEX code of the exemption (BT-121), e.g. VATEX-EU-132-1I; default "
        "for AE, G, O: VATEX-EU-AE, VATEX-EU-G, VATEX-EU-O.",
    )
    vat_exemption_reason: str | None = Field(
        default=None,
        min_length=1,
        description="Why no VAT is charged, as the invoice says it (BT-120).",
    )

    @model_validator(mode="after")
    def _channel_complete(self) -> CustomerEInvoice:
        if self.channel == "outbox" and not self.partner:
            raise ValueError(f"customer {self.party}: channel 'outbox' needs 'partner'")
        if self.channel == "email" and not self.email:
            raise ValueError(f"customer {self.party}: channel 'email' needs 'email'")
        xrechnung = self.format.startswith("xrechnung") or self.format == "zugferd-xrechnung"
        if xrechnung and not self.buyer_reference:
            raise ValueError(
                f"customer {self.party}: format {self.format} needs 'buyer_reference' "
                "(BT-10, the Leitweg-ID for public buyers)"
            )
        if self.vat_category == "E" and not (self.vat_exemption_code or self.vat_exemption_reason):
            raise ValueError(
                f"customer {self.party}: vat_category E (exempt) needs vat_exemption_code "
                "(e.g. VATEX-EU-132-1I) or vat_exemption_reason (BR-E-10)"
            )
        if self.vat_category is None and (self.vat_exemption_code or self.vat_exemption_reason):
            raise ValueError(
                f"customer {self.party}: a VAT exemption needs vat_category (E, AE, G or O)"
            )
        return self


class EInvoiceConfig(ConfigModel):
    """The whole ``config/einvoice.yaml``."""

    seller: Seller
    customers: tuple[CustomerEInvoice, ...] = ()

    @field_validator("customers")
    @classmethod
    def _unique(cls, value: tuple[CustomerEInvoice, ...]) -> tuple[CustomerEInvoice, ...]:
        seen: set[str] = set()
        for c in value:
            if c.party in seen:
                raise ValueError(f"customer {c.party} is listed twice")
            seen.add(c.party)
        return value

    def for_party(self, code: str | None, erp_id: str | None) -> CustomerEInvoice | None:
        """The customer entry of an ERP party, by code or ERP id."""
        for c in self.customers:
            if c.party in (code, erp_id):
                return c
        return None
