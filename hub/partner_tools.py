"""Onboarding a trading partner: check a profile end to end, write a sample ORDERS for it.

``check(partner_id, ...)`` answers "will this partner work?" in one list of findings: the
profile file validates, the ERP holds the parties and products the profile names, and the
channel answers (local folders writable; SFTP login with the host key verified).
``sample_orders(profile, erp)`` builds an EANCOM ORDERS interchange from the ERP's own
catalogue with the hub's serializer, and ``validate_sample`` re-reads it with the hub's
codec and the partner's checks, so a sample that the hub would reject is never written.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connectors.edi.result import FileResult
    from connectors.erp.port import ErpPort
    from hub.bootstrap import Hub
    from schemas.config import PartnerProfile


@dataclass(frozen=True)
class Finding:
    """One check of a partner: what was checked, whether it passed, what to do if not."""

    check: str
    ok: bool
    detail: str
    skipped: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def profile_file(partner_id: str, folder: Path) -> Path | None:
    """The YAML file of ``partner_id`` (by file name, else by the ``id`` inside)."""
    for path in sorted(folder.glob("*.y*ml")):
        if path.stem == partner_id:
            return path
    import yaml

    for path in sorted(folder.glob("*.y*ml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(data, dict) and data.get("id") == partner_id:
            return path
    return None


def check_profile(partner_id: str, folder: Path) -> tuple[PartnerProfile | None, Finding]:
    """The profile if its file validates (alone and beside the others), with the finding."""
    from hub.config import load_partners

    partners = load_partners(folder)
    path = profile_file(partner_id, folder)
    if partner_id in partners:
        profile = partners[partner_id]
        return profile, Finding("profile", True, f"{path}: valid ({profile.name})")
    if path is not None and str(path) in partners.invalid:
        return None, Finding("profile", False, partners.invalid[str(path)])
    known = ", ".join(sorted(partners)) or "none"
    return None, Finding(
        "profile", False, f"no profile for {partner_id!r} in {folder} (valid: {known})"
    )


def check_erp(profile: PartnerProfile, erp: ErpPort) -> list[Finding]:
    """The ERP holds the partner (its UNB GLN), the parties and products of its lookups,
    and products with GTINs the partner can order."""
    from schemas.errors import HubError

    findings: list[Finding] = []
    try:
        glns = {profile.unb.partner_id} if profile.unb.partner_qualifier == "14" else set()
        glns -= set(profile.party_lookup)  # mapped GLNs are checked through their target
        found = erp.find_parties_by_gln(sorted(glns)) if glns else {}
        for gln in sorted(glns):
            party = found.get(gln)
            findings.append(
                Finding("erp party", True, f"GLN {gln}: {party.name} ({party.erp_id})")
                if party
                else Finding(
                    "erp party", False,
                    f"no ERP party has GLN {gln} (the partner's UNB id): create the customer "
                    "with that GLN, or map it in the profile's party_lookup",
                )
            )  # fmt: skip
        codes = sorted(set(profile.party_lookup.values()))
        for code in codes:
            hits = erp.get_parties([code]) if code else []
            findings.append(
                Finding("erp party", bool(hits), f"party_lookup target {code!r}: "
                        + (hits[0].name if hits else "not in the ERP: fix party_lookup"))
            )  # fmt: skip
        wanted = sorted(set(profile.product_lookup.values()))
        products = erp.find_products_by_code(wanted) if wanted else {}
        for code in wanted:
            findings.append(
                Finding("erp product", code in products, f"product_lookup target {code!r}: "
                        + ("found" if code in products else "not in the ERP: fix product_lookup"))
            )  # fmt: skip
        orderable = [p for p in erp.list_products(limit=500) if p.gtin]
        findings.append(
            Finding(
                "erp products",
                bool(orderable),
                f"{len(orderable)} product(s) with a GTIN the partner can order"
                if orderable
                else "no ERP product has a GTIN: EANCOM orders name products by GTIN",
            )
        )
    except HubError as exc:
        findings.append(Finding("erp", False, f"the ERP cannot be asked: {exc}"))
    return findings


def check_channel(profile: PartnerProfile, hub: Hub) -> Finding:
    """The mailbox answers: lists the inbox (an SFTP login with the host key verified)."""
    from schemas.errors import HubError

    try:
        box = hub.mailbox(profile)
        files = box.list_inbox()
    except HubError as exc:
        return Finding("channel", False, str(exc))
    where = getattr(box, "where", None) or f"{profile.channel.type} mailbox"
    return Finding("channel", True, f"{where}: inbox reachable, {len(files)} file(s) waiting")


def orders_version(profile: PartnerProfile) -> str:
    """The ORDERS version the partner sends (its first accepted one)."""
    for message in profile.messages:
        if message.type == "ORDERS":
            return message.label
    raise ValueError(f"partner {profile.id!r} accepts no ORDERS version (messages:)")


def sample_orders(
    profile: PartnerProfile,
    erp: ErpPort,
    *,
    orders: int = 1,
    lines: int = 3,
    now: datetime,
) -> bytes:
    """An ORDERS interchange as ``profile``'s partner would send it, for products the ERP
    holds (by GTIN), from the partner's GLN to ours, with the hub's own serializer."""
    from connectors.edi import Delimiters, OutboundMessage, build_interchange
    from connectors.edi.serializer import render_interchange
    from hub.edi_out import to_segments
    from schemas.model import PartyRef, SalesOrder, SalesOrderLine
    from transforms.edifact_orders import sales_order_to_orders

    catalogue = [p for p in erp.list_products(limit=500) if p.gtin]
    if not catalogue:
        raise ValueError("no ERP product has a GTIN: nothing to order")
    buyer, today = profile.unb.partner_id, now.date()
    messages = []
    for n in range(orders):
        picked = [catalogue[(n * lines + i) % len(catalogue)] for i in range(lines)]
        picked = list({p.gtin: p for p in picked}.values())
        order = SalesOrder(
            order_number=f"SAMPLE-{now:%y%m%d%H%M}-{n + 1}",
            order_date=today,
            requested_delivery_date=today + timedelta(days=3),
            buyer=PartyRef(gln=buyer),
            supplier=PartyRef(gln=profile.unb.our_id),
            delivery=PartyRef(gln=buyer),
            currency="EUR",
            notes=(f"sample order for {profile.id} by hub partners sample",),
            lines=tuple(
                SalesOrderLine(line_no=i + 1, gtin=p.gtin, quantity=Decimal(i + 1),
                               unit_price=p.list_price)
                for i, p in enumerate(picked)
            ),
        )  # fmt: skip
        body = sales_order_to_orders(order, decimal_mark=profile.decimal_mark)
        messages.append(OutboundMessage(orders_version(profile), str(n + 1), to_segments(body)))
    segments = build_interchange(
        messages,
        sender=profile.unb.partner_id,
        sender_qualifier=profile.unb.partner_qualifier,
        recipient=profile.unb.our_id,
        recipient_qualifier=profile.unb.our_qualifier,
        control_ref=f"S{now:%y%m%d%H%M%S}",
        prepared=now,
        syntax_identifier=profile.syntax_identifier,
        syntax_version=profile.syntax_version,
    )
    return render_interchange(segments, Delimiters(decimal=profile.decimal_mark))


def validate_sample(data: bytes, profile: PartnerProfile, erp: ErpPort | None) -> FileResult:
    """``data`` read back by the hub's codec with the partner's own checks."""
    from connectors.edi.partner_checks import PartnerChecks
    from connectors.edi.validation import validate

    checks = PartnerChecks(profile, erp)
    return validate(
        data,
        file="sample",
        policy=profile.charset_policy,
        checks=[checks.message],
        interchange_checks=[checks.interchange],
    )
