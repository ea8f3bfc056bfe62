"""EANCOM DESADV (D96A EAN007) from a canonical Shipment: pure segment builder.

The caller resolves parties and GTINs and allocates one SSCC per package (ledger, once); this
module plans the packages, checks the data and writes BGM+351, DTM 137/11/17, RFF+ON (and
RFF+CN with the carrier's tracking number once known), NAD BY/SU/DP, and the CPS hierarchy:
level 1 the consignment, one level per package with PAC, PCI+33E and GIN+BJ (its SSCC), then
the package's LIN (GTIN), QTY+12 and the line's order number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from schemas.model import Shipment
from transforms.edifact_outbound import MissingField, SegmentTuple, dtm, nad, num
from transforms.edifact_outbound_checks import line_gtins, party_glns

DESADV_TYPE = ("DESADV", "D", "96A", "UN", "EAN007")
DOCUMENT = "DESADV"
PACKAGE_TYPE = "PK"  # 7065: package (parcel or pallet alike; the ERP does not say which)
SHIPPED_STATES = frozenset({"shipped", "done"})


@dataclass(frozen=True)
class PackagePlan:
    """One physical unit of the shipment: its lines, and the SSCC when the ERP has one."""

    index: int
    line_nos: tuple[int, ...]
    sscc: str | None = None
    weight_kg: Decimal | None = None


def record_name(shipment: Shipment) -> str:
    """How a person finds the shipment in the ERP."""
    return f"shipment {shipment.number} (ERP id {shipment.erp_id})"


def plan_packages(shipment: Shipment) -> list[PackagePlan]:
    """Packages as the ERP packed them; lines in no package go in one more package.

    No packages at all (an ERP without packing) means one package holding every line.
    """
    all_lines = tuple(line.line_no for line in shipment.lines)
    if not shipment.packages:
        return [PackagePlan(1, all_lines)]
    if len(shipment.packages) == 1 and not shipment.packages[0].line_nos:
        pkg = shipment.packages[0]
        return [PackagePlan(1, all_lines, pkg.sscc, pkg.weight_kg)]
    plans = [
        PackagePlan(i, tuple(n for n in pkg.line_nos if n in all_lines), pkg.sscc, pkg.weight_kg)
        for i, pkg in enumerate(shipment.packages, start=1)
    ]
    packed = {n for plan in plans for n in plan.line_nos}
    loose = tuple(n for n in all_lines if n not in packed)
    if loose:
        plans.append(PackagePlan(len(plans) + 1, loose))
    return plans


def check(
    shipment: Shipment,
    *,
    buyer_gln: str | None,
    supplier_gln: str | None,
    delivery_gln: str | None,
    gtin_by_code: Mapping[str, str],
) -> list[MissingField]:
    """Everything that would make the DESADV invalid, each naming the record and field."""
    record = record_name(shipment)
    who = shipment.customer.name or shipment.customer.erp_id
    missing = party_glns(DOCUMENT, record, who, buyer=buyer_gln, supplier=supplier_gln)
    if not delivery_gln:
        missing.append(
            MissingField(
                DOCUMENT, record, "delivery_address.gln", "the delivery party NAD+DP needs a GLN"
            )
        )
    if not shipment.lines:
        missing.append(MissingField(DOCUMENT, record, "lines", "the shipment has no lines"))
    return missing + line_gtins(DOCUMENT, record, shipment.lines, gtin_by_code)


def desadv(
    shipment: Shipment,
    *,
    document_number: str,
    issued: date,
    buyer_gln: str,
    supplier_gln: str,
    delivery_gln: str,
    packages: Sequence[tuple[PackagePlan, str]],
    gtin_by_code: Mapping[str, str],
    replaces: bool = False,
    decimal_mark: str = ".",
) -> list[SegmentTuple]:
    """DESADV body (UNH/UNT excluded); ``packages`` pairs each plan with its SSCC.

    ``replaces`` sends BGM function 5 (replacement), e.g. when the tracking number became
    known after the original despatch advice went out.
    """
    problems = check(
        shipment,
        buyer_gln=buyer_gln,
        supplier_gln=supplier_gln,
        delivery_gln=delivery_gln,
        gtin_by_code=gtin_by_code,
    )
    if problems:
        raise problems[0]
    despatched = shipment.effective_date or shipment.planned_date or issued
    delivery = (
        shipment.planned_date
        if shipment.planned_date and shipment.planned_date >= despatched
        else despatched
    )
    segments: list[SegmentTuple] = [
        ("BGM", "351", document_number[:35], "5" if replaces else "9"),
        dtm("137", issued),
        dtm("11", despatched),
        dtm("17", delivery),
    ]
    if shipment.weight_kg:
        segments.append(("MEA", "PD", "AAD", ["KGM", num(shipment.weight_kg, decimal_mark)]))
    line_orders = [ln.order_number for ln in shipment.lines if ln.order_number]
    orders = list(dict.fromkeys(shipment.order_numbers or line_orders))
    for order in orders[:9]:
        segments.append(("RFF", ["ON", order[:35]]))
    if shipment.tracking_number:
        segments.append(("RFF", ["CN", shipment.tracking_number[:35]]))
    segments += [nad("BY", buyer_gln), nad("SU", supplier_gln), nad("DP", delivery_gln)]
    segments.append(("CPS", "1"))
    segments.append(("PAC", str(len(packages)), "", PACKAGE_TYPE))
    by_no = {line.line_no: line for line in shipment.lines}
    lines = 0
    for plan, code in packages:
        segments.append(("CPS", str(plan.index + 1), "1"))
        segments.append(("PAC", "1", "", PACKAGE_TYPE))
        if plan.weight_kg:
            segments.append(("MEA", "PD", "AAB", ["KGM", num(plan.weight_kg, decimal_mark)]))
        segments.append(("PCI", "33E"))
        segments.append(("GIN", "BJ", code))
        for line_no in plan.line_nos:
            line = by_no[line_no]
            gtin = line.gtin or gtin_by_code[line.product_code]
            segments.append(("LIN", str(line.line_no), "", [gtin, "EN"]))
            segments.append(("QTY", ["12", num(line.quantity, decimal_mark)]))
            if line.order_number:
                segments.append(("RFF", ["ON", line.order_number[:35]]))
            lines += 1
    segments.append(("CNT", ["2", str(lines)]))
    return segments
