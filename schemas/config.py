"""Configuration models: trading-partner profiles (EDI), validated when config/ is loaded."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.types import GLN, GTIN, VatId


class ConfigModel(BaseModel):
    """Strict base: a misspelt key in a YAML file is an error, not a silent default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class UnbIdentity(ConfigModel):
    """How the partner and we are identified in UNB (0004/0007, 0010/0007)."""

    partner_id: str = Field(min_length=1, max_length=35)
    partner_qualifier: str = Field(default="14", max_length=4)
    our_id: str = Field(min_length=1, max_length=35)
    our_qualifier: str = Field(default="14", max_length=4)

    @model_validator(mode="after")
    def _gln_when_qualifier_14(self) -> UnbIdentity:
        from stdnum import ean

        for name, ident, qual in (
            ("partner_id", self.partner_id, self.partner_qualifier),
            ("our_id", self.our_id, self.our_qualifier),
        ):
            if qual == "14" and not (len(ident) == 13 and ident.isdigit() and ean.is_valid(ident)):
                raise ValueError(
                    f"{name} {ident!r}: qualifier 14 means a GLN with a valid check digit"
                )
        return self


class MessageVersion(ConfigModel):
    """An accepted message version: type, version, release, agency and association code."""

    type: Literal["ORDERS", "ORDRSP", "DESADV", "INVOIC", "INVRPT", "APERAK", "CONTRL"]
    version: str = "D"
    release: str
    agency: str = "UN"
    association: str | None = None

    @property
    def label(self) -> str:
        """As it appears in UNH S009, e.g. ORDERS:D:96A:UN:EAN008."""
        parts = [self.type, self.version, self.release, self.agency]
        if self.association:
            parts.append(self.association)
        return ":".join(parts)


class Acknowledgements(ConfigModel):
    """Which answers the partner gets."""

    contrl: Literal["always", "on_error", "never"] = "always"
    aperak: bool = True
    ordrsp: bool = True


class AckExpectation(ConfigModel):
    """Which acknowledgements the partner sends for one of our document types, and by when."""

    contrl_hours: float | None = Field(
        default=None,
        gt=0,
        description="a CONTRL is expected within this many hours of sending (none: not expected)",
    )
    aperak_hours: float | None = Field(
        default=None,
        gt=0,
        description="an APERAK is expected within this many hours of sending (none: not expected)",
    )

    def due_hours(self) -> dict[str, float]:
        """Acknowledgement kind -> hours, for the kinds expected."""
        hours = {"CONTRL": self.contrl_hours, "APERAK": self.aperak_hours}
        return {kind: h for kind, h in hours.items() if h is not None}


class SftpChannel(ConfigModel):
    """Where the partner's files are on an SFTP server; credentials in the connection."""

    conn_id: str = Field(min_length=1)
    remote_inbox: str = "/out"
    remote_outbox: str = "/in"


class Channel(ConfigModel):
    """The partner's mailbox: local directories by default, optionally fed from SFTP."""

    type: Literal["local", "sftp"] = "local"
    inbox: str | None = None
    outbox: str | None = None
    sftp: SftpChannel | None = None
    min_age_seconds: float = Field(
        default=2.0, ge=0, description="a file younger than this may still be being written"
    )

    @model_validator(mode="after")
    def _sftp_needs_settings(self) -> Channel:
        if self.type == "sftp" and self.sftp is None:
            raise ValueError(
                "type sftp needs an sftp: block (conn_id, remote_inbox, remote_outbox)"
            )
        return self


class OutboundSettings(ConfigModel):
    """How documents we send to the partner are written."""

    documents: tuple[Literal["DESADV", "INVOIC", "INVRPT"], ...] = ()
    una: Literal["always", "never"] = "always"
    charset: Literal["UNOA", "UNOB", "UNOC", "UNOY"] = "UNOC"
    syntax_version: Literal["3", "4"] = "3"
    decimal_mark: Literal[".", ","] = "."
    segment_per_line: bool = True
    file_name: str = "{type}_{partner}_{control_ref}.edi"
    invrpt_schedule: str | None = None
    require_vat: bool = False
    gs1_company_prefix: str | None = Field(default=None, pattern=r"^\d{6,12}$")
    supplier_vat: VatId | None = Field(
        default=None, description="our VAT id for NAD+SU RFF+VA in INVOIC"
    )


class PartnerProfile(ConfigModel):
    """A trading partner: identities, accepted messages, policies, channel and lookups."""

    id: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str
    active: bool = True
    unb: UnbIdentity
    syntax_identifier: Literal["UNOA", "UNOB", "UNOC", "UNOD", "UNOE", "UNOF", "UNOY", "UNOW"] = (
        "UNOC"
    )
    syntax_version: Literal["1", "2", "3", "4"] = "3"
    messages: tuple[MessageVersion, ...] = Field(min_length=1)
    charset_policy: Literal["strict", "utf8-fallback", "lenient"] = "strict"
    strictness: Literal["strict", "standard", "lenient"] = Field(
        default="strict",
        description=(
            "how strictly this partner's interchanges are judged. strict (the default, the "
            "hub's historical judgement): a UNB party with qualifier 14 must be a valid GLN. "
            "standard: ISO 9735 as written (a qualifier-14 id that is no GLN is a warning). "
            "lenient: standard, plus these common deviations accepted and reported as "
            "warnings: a CCYYMMDD UNB date under syntax version 1-3 (or YYMMDD under 4); a "
            "UNB without syntax version number (read as 3); a code outside the checked EANCOM "
            "code lists (1001, 1153, 2005, 3035, 6063, 6411, 7143, 4343). `hub edi validate` "
            "without --partner applies standard"
        ),
    )
    decimal_mark: Literal[".", ","] = "."
    accept_test_interchanges: bool = True
    acknowledgements: Acknowledgements = Acknowledgements()
    channel: Channel = Channel()
    party_lookup: dict[GLN, str] = Field(
        default_factory=dict, description="GLN -> ERP party id, where the ERP has no GLN"
    )
    product_lookup: dict[GTIN, str] = Field(
        default_factory=dict, description="GTIN -> ERP product code, where the ERP has no GTIN"
    )
    price_tolerance_percent: Decimal = Field(default=Decimal("1.0"), ge=0, le=100)
    outbound: OutboundSettings = OutboundSettings()
    expect_acks: dict[Literal["ORDRSP", "DESADV", "INVOIC", "INVRPT"], AckExpectation] = Field(
        default_factory=dict,
        description=(
            "per document type we send: which acknowledgements (CONTRL, APERAK) the partner "
            "sends back and the deadline; a document past it is overdue (alert, status, "
            "reconcile). Empty: no acknowledgement expected (documents stay 'sent')"
        ),
    )
    ordrsp_mode: Literal["confirm_as_ordered", "availability"] = Field(
        default="confirm_as_ordered",
        description=(
            "ORDRSP lines: confirm the ordered quantities, or answer per line from the "
            "ERP's availability (accepted, changed quantity, backorder, not available)"
        ),
    )

    @field_validator("messages")
    @classmethod
    def _unique_versions(cls, value: tuple[MessageVersion, ...]) -> tuple[MessageVersion, ...]:
        labels = [m.label for m in value]
        dupes = sorted({x for x in labels if labels.count(x) > 1})
        if dupes:
            raise ValueError(f"message versions listed twice: {', '.join(dupes)}")
        return value

    def accepts(self, label: str) -> bool:
        """Whether a UNH message identifier (e.g. ORDERS:D:96A:UN:EAN008) is accepted."""
        return any(m.label == label for m in self.messages)
