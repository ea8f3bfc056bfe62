"""DESADV for a shipped shipment, and a replacement (BGM 5) once a tracking number follows.

Each package gets one SSCC from our GS1 company prefix, allocated once in the ledger (a
replacement reuses the original's). The orders shipped are bound to the shipment, so the
invoices of those orders quote the DESADV number (RFF+DQ) and its despatch date.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from hub.flows.edi_outbound_run import (
    Problems,
    Run,
    gtin_by_code,
    our_gln,
    stamp,
    trace_refs,
)
from hub.flows.edi_outbound_send import Outgoing, deliver
from hub.ledger import Ledger
from schemas.config import PartnerProfile
from schemas.errors import ConflictError
from schemas.model import Shipment
from transforms import edifact_desadv as desadv_t
from transforms.edifact_outbound import MissingField
from transforms.keys import ControlNumberKey, DocumentKey
from transforms.sscc import sscc

BINDING_SYSTEM = "edi.out"
Packages = list[tuple[desadv_t.PackagePlan, str]]


def desadv_entity(partner: str) -> str:
    """The binding entity of order number -> shipment for one partner (RFF+DQ, trace)."""
    return f"desadv:{partner}"


def desadv(run: Run, profile: PartnerProfile, shipment: Shipment, buyer: str) -> None:
    """The DESADV of a shipped shipment; a replacement once a tracking number follows."""
    if shipment.state not in desadv_t.SHIPPED_STATES:
        return
    base = DocumentKey("DESADV", profile.id, shipment.erp_id)
    before = run.sent_before(base)
    tracking = shipment.tracking_number
    if before is not None and (not tracking or before.get("tracking") == tracking):
        run.count("already_sent", "DESADV")
        return
    gtins = gtin_by_code(profile)
    delivery = shipment.delivery_address.gln or buyer  # no location GLN: the buyer's own site
    problems = desadv_t.check(
        shipment,
        buyer_gln=buyer,
        supplier_gln=our_gln(profile),
        delivery_gln=delivery,
        gtin_by_code=gtins,
    )
    if problems:
        raise Problems(problems)
    plans = desadv_t.plan_packages(shipment)
    prefix = profile.outbound.gs1_company_prefix
    no_prefix = prefix is None and any(plan.sscc is None for plan in plans)
    if run.would is not None:  # checked; SSCCs and references are allocated only for real
        if no_prefix:
            raise MissingField("DESADV", f"partner {profile.id}", "outbound.gs1_company_prefix")
        what = "replacement DESADV" if before is not None else "DESADV"
        run.would_send("DESADV", f"{what} for shipment {shipment.number} to {profile.id}")
        return
    if no_prefix:
        raise MissingField(
            "DESADV",
            f"partner {profile.id}",
            "outbound.gs1_company_prefix",
            "SSCCs are made from our GS1 company prefix: set it in the partner profile",
        )
    packages = _packages(run.hub.ledger, base, plans, prefix or "")
    if before is None:
        # may be the bytes pinned by a crashed run, without the tracking number
        before = deliver(run, profile, _document(profile, shipment, base, buyer, packages))
    if tracking and before.get("tracking") != tracking:
        replacement = base.replacement(tracking)
        deliver(run, profile, _document(profile, shipment, replacement, buyer, packages))
    _bind_orders(run.hub.ledger, profile.id, shipment)


def _packages(
    ledger: Ledger, key: DocumentKey, plans: Sequence[desadv_t.PackagePlan], prefix: str
) -> Packages:
    """One SSCC per package: the ERP's, or allocated once from our prefix (kept by the ledger)."""
    packages: Packages = []
    for plan in plans:
        code = plan.sscc
        if not code:
            code = sscc(
                prefix, ledger.control_number(ControlNumberKey.sscc(prefix, key, plan.index))
            )
        packages.append((plan, code))
    return packages


def _document(
    profile: PartnerProfile,
    shipment: Shipment,
    key: DocumentKey,
    buyer: str,
    packages: Packages,
) -> Outgoing:
    """The original (``key`` is the shipment's own) or a replacement carrying the tracking."""
    replaces = key != DocumentKey("DESADV", profile.id, shipment.erp_id)
    tracking = shipment.tracking_number
    despatched = shipment.effective_date or shipment.planned_date
    prepared = stamp(shipment, shipment.effective_date)
    body = desadv_t.desadv(
        shipment,
        document_number=shipment.number,
        issued=prepared.date(),
        buyer_gln=buyer,
        supplier_gln=our_gln(profile) or "",
        delivery_gln=shipment.delivery_address.gln or buyer,
        packages=packages,
        gtin_by_code=gtin_by_code(profile),
        replaces=replaces,
        decimal_mark=profile.outbound.decimal_mark,
    )
    return Outgoing(
        key,
        desadv_t.DESADV_TYPE,
        body,
        prepared,
        result={
            "number": shipment.number,
            "tracking": tracking,
            "despatched": despatched.isoformat() if despatched else None,
            "ssccs": [code for _, code in packages],
            "replaces": replaces,
        },
        record=desadv_t.record_name(shipment),
        settles=None if replaces else lambda sent: not tracking or sent.get("tracking") == tracking,
        trace=trace_refs(
            shipment.order_numbers,
            sales=shipment.sale_numbers,
            shipments=(shipment.number,),
            tracking=(tracking,) if tracking else (),
        ),
    )


def _bind_orders(ledger: Ledger, partner: str, shipment: Shipment) -> None:
    """Order number -> this shipment, for RFF+DQ in the invoices of these orders."""
    entity = desadv_entity(partner)
    for order in shipment.order_numbers:
        if ledger.lookup(BINDING_SYSTEM, entity, order) is None:
            # a second shipment of the same order conflicts: the first one stays quoted
            with contextlib.suppress(ConflictError):
                ledger.bind(BINDING_SYSTEM, entity, order, shipment.erp_id)
