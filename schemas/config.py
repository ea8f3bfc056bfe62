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

    partner_id: str = Field(
        min_length=1,
        max_length=35,
        description="the partner's UNB identification (0004 as sender, 0010 as recipient); "
        "a GLN when the qualifier is 14",
    )
    partner_qualifier: str = Field(
        default="14", max_length=4, description="code qualifier of partner_id (14 = GLN)"
    )
    our_id: str = Field(
        min_length=1, max_length=35, description="our UNB identification, usually our GLN"
    )
    our_qualifier: str = Field(
        default="14", max_length=4, description="code qualifier of our_id (14 = GLN)"
    )

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

    type: Literal[
        "ORDERS", "ORDCHG", "ORDRSP", "DESADV", "INVOIC", "INVRPT", "APERAK", "CONTRL"
    ] = Field(description="message type (UNH S009 0065)")
    version: str = Field(default="D", description="message version (0052): D, or 2/4 for CONTRL")
    release: str = Field(description="message release (0054), e.g. 96A or 01B")
    agency: str = Field(default="UN", description="controlling agency (0051)")
    association: str | None = Field(
        default=None, description="association assigned code (0057), e.g. EAN008"
    )

    @property
    def label(self) -> str:
        """As it appears in UNH S009, e.g. ORDERS:D:96A:UN:EAN008."""
        parts = [self.type, self.version, self.release, self.agency]
        if self.association:
            parts.append(self.association)
        return ":".join(parts)


class Acknowledgements(ConfigModel):
    """Which answers the partner gets."""

    contrl: Literal["always", "on_error", "never"] = Field(
        default="always",
        description="CONTRL for each interchange received: always, only "
        "when something was rejected, or never",
    )
    aperak: bool = Field(
        default=True,
        description="APERAK for orders refused by business checks (unknown "
        "GTIN or party, price outside the tolerance)",
    )
    ordrsp: bool = Field(default=True, description="ORDRSP for each order created in the ERP")


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

    conn_id: str = Field(
        min_length=1,
        description="Airflow connection with host, port, login, password or key_file, and "
        "the host key (extra host_key or known_hosts); e.g. hub_sftp_<partner>",
    )
    remote_inbox: str = Field(
        default="/out", description="folder on the server the partner's files are read from"
    )
    remote_outbox: str = Field(
        default="/in", description="folder on the server our documents are written to"
    )


class Channel(ConfigModel):
    """The partner's mailbox: local directories by default, optionally fed from SFTP."""

    type: Literal["local", "sftp"] = Field(
        default="local", description="local directories under HUB_HOME, or an SFTP server"
    )
    inbox: str | None = Field(
        default=None, description="local inbox, relative to HUB_HOME (default partners/<id>/in)"
    )
    outbox: str | None = Field(
        default=None, description="local outbox, relative to HUB_HOME (default partners/<id>/out)"
    )
    sftp: SftpChannel | None = Field(default=None, description="the SFTP settings (type sftp)")
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

    documents: tuple[Literal["DESADV", "INVOIC", "INVRPT"], ...] = Field(
        default=(), description="the documents we send this partner"
    )
    una: Literal["always", "never"] = Field(
        default="always", description="write the UNA service string advice"
    )
    charset: Literal["UNOA", "UNOB", "UNOC", "UNOY"] = Field(
        default="UNOC", description="syntax identifier (character set) of our interchanges"
    )
    syntax_version: Literal["3", "4"] = Field(default="3", description="UNB syntax version")
    decimal_mark: Literal[".", ","] = Field(default=".", description="decimal mark we write")
    segment_per_line: bool = Field(
        default=True, description="a line break after each segment (else one long line)"
    )
    file_name: str = Field(
        default="{type}_{partner}_{control_ref}.edi",
        description="outbox file name; {type}, {partner} and {control_ref} are filled in",
    )
    invrpt_schedule: str | None = Field(
        default=None, description="cron expression or preset (@daily) for INVRPT; none: never"
    )
    require_vat: bool = Field(
        default=False, description="refuse an INVOIC whose buyer has no VAT id"
    )
    gs1_company_prefix: str | None = Field(
        default=None,
        pattern=r"^\d{6,12}$",
        description="our GS1 company prefix, for the SSCC-18 of DESADV packages",
    )
    supplier_vat: VatId | None = Field(
        default=None, description="our VAT id for NAD+SU RFF+VA in INVOIC"
    )


class PartnerProfile(ConfigModel):
    """A trading partner: identities, accepted messages, policies, channel and lookups."""

    id: str = Field(
        min_length=1,
        max_length=40,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="the partner's id in the hub (CLI, DAG conf, file names); usually the "
        "file name",
    )
    name: str = Field(description="the partner's name, for people")
    active: bool = Field(default=True, description="false: the partner's files are not collected")
    unb: UnbIdentity = Field(description="UNB identities of the partner and of us")
    syntax_identifier: Literal["UNOA", "UNOB", "UNOC", "UNOD", "UNOE", "UNOF", "UNOY", "UNOW"] = (
        Field(default="UNOC", description="the character set the partner sends (UNB S001)")
    )
    syntax_version: Literal["1", "2", "3", "4"] = Field(
        default="3", description="the UNB syntax version the partner sends"
    )
    messages: tuple[MessageVersion, ...] = Field(
        min_length=1,
        description="message versions accepted from the partner (ORDERS, and the CONTRL/"
        "APERAK acknowledging our documents)",
    )
    charset_policy: Literal["strict", "utf8-fallback", "lenient"] = Field(
        default="strict",
        description="bytes outside the UNB character set: strict rejects, utf8-fallback "
        "reads UTF-8 with a warning, lenient replaces them with a warning",
    )
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
    decimal_mark: Literal[".", ","] = Field(default=".", description="decimal mark it sends")
    accept_test_interchanges: bool = Field(
        default=True, description="process interchanges with the UNB test indicator"
    )
    acknowledgements: Acknowledgements = Field(
        default=Acknowledgements(), description="which acknowledgements we send"
    )
    channel: Channel = Field(default=Channel(), description="where files are exchanged")
    party_lookup: dict[GLN, str] = Field(
        default_factory=dict, description="GLN -> ERP party id, where the ERP has no GLN"
    )
    product_lookup: dict[GTIN, str] = Field(
        default_factory=dict, description="GTIN -> ERP product code, where the ERP has no GTIN"
    )
    price_tolerance_percent: Decimal = Field(
        default=Decimal("1.0"),
        ge=0,
        le=100,
        description="an order price further than this from the ERP's price is refused (APERAK)",
    )
    outbound: OutboundSettings = Field(
        default=OutboundSettings(), description="how documents we send are written"
    )
    expect_acks: dict[Literal["ORDRSP", "DESADV", "INVOIC", "INVRPT"], AckExpectation] = Field(
        default_factory=dict,
        description=(
            "per document type we send: which acknowledgements (CONTRL, APERAK) the partner "
            "sends back and the deadline; a document past it is overdue (alert, status, "
            "reconcile). Empty: no acknowledgement expected (documents stay 'sent')"
        ),
    )
    backorder_days: int | None = Field(
        default=None,
        ge=0,
        description=(
            "with ordrsp_mode availability: a line short of stock is backordered, expected "
            "this many days after the order date (the sale keeps the ordered quantity); "
            "none: it is reduced to the stock there is, or not accepted when there is none"
        ),
    )
    order_state: Literal["confirmed", "quotation"] = Field(
        default="confirmed",
        description=(
            "the state the hub creates a partner's sales in; quotation keeps them open to "
            "the partner's ORDCHG until someone confirms them in the ERP (Tryton processes a "
            "confirmed sale at once, after which changes come too late)"
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
