"""`hub reconcile`, carrier section: what the carrier itself holds against the ERP's shipments.

The hub's own bindings are not the truth about the carrier: a booking whose answer was lost,
or a parcel booked by hand in the carrier's portal, is at the carrier without any binding.
So the carrier is asked through its port (``CarrierPort.shipments``: the shipments under our
account, keyed by our reference, the ERP shipment number) and compared with the ERP:

- ``missing_tracking_in_erp``: the carrier holds a parcel for an ERP shipment that has no
  tracking number (e.g. an unknown outcome nobody settled yet);
- ``tracking_differs``: the ERP's tracking number is not the carrier's parcel;
- ``unknown_to_erp``: a parcel under a reference the ERP has no shipment for;
- ``duplicate_at_carrier``: more than one live parcel under one reference;
- ``missing_at_carrier``: the hub booked it, the carrier no longer holds it (cancelled?);
- ``missing_in_erp``: the hub booked it for an ERP shipment that is gone.

Where the carrier offers no such list (DHL's own APIs), the hub's bookings are checked by
tracking them, and every booking whose outcome is still unknown is a difference
(``unknown_outcome``): only a person looking at the carrier's portal can settle it.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Any

from hub.bootstrap import Hub
from hub.flows.logistics_booking import BOOKED, SHIPMENTS_FLOW
from schemas.errors import HubError, OutcomeUnknownError
from schemas.model import Shipment
from transforms.dhl_results import CarrierShipment
from transforms.keys import KeyKind

SECTION = "carrier.shipments"
SYSTEMS = ("erp", "carrier")
TRACK_BATCH = 50


def _aggregate(hashes: dict[str, str]) -> str:
    text = "\n".join(f"{k}={v}" for k, v in sorted(hashes.items()))
    return hashlib.sha256(text.encode()).hexdigest()


def _section(
    left: dict[str, str], right: dict[str, str], diffs: list[dict[str, Any]], *, active: bool
) -> dict[str, Any]:
    """The section in the shape of every ``hub reconcile`` section."""
    return {
        "section": SECTION,
        "active": active,
        "systems": list(SYSTEMS),
        "counts": {SYSTEMS[0]: len(left), SYSTEMS[1]: len(right)},
        "hashes": {SYSTEMS[0]: _aggregate(left), SYSTEMS[1]: _aggregate(right)},
        "differences": diffs,
    }


def _diff(record: str, kind: str, detail: str) -> dict[str, Any]:
    return {"record": record, "kind": kind, "detail": detail}


def carrier_section(hub: Hub) -> dict[str, Any]:
    """The ``carrier.shipments`` section of ``hub reconcile`` (asks the carrier itself)."""
    booked = hub.ledger.bindings_for(*BOOKED)  # erp_id -> binding(tracking number)
    bookings = hub.ledger.journal_find(KeyKind.BOOKING, flow=SHIPMENTS_FLOW)
    try:
        held = [s for s in hub.carrier.shipments() if not s.cancelled]
    except OutcomeUnknownError as exc:
        if not booked and not bookings:
            return _section({}, {}, [], active=False)
        return _without_list(hub, booked, bookings, str(exc))
    if not booked and not bookings and not held:
        return _section({}, {}, [], active=False)
    erp = {s.number: s for s in _erp_shipments(hub)}
    by_id = {s.erp_id: s for s in erp.values()}
    by_reference: dict[str, list[CarrierShipment]] = defaultdict(list)
    for parcel in held:
        by_reference[parcel.reference or ""].append(parcel)
    mine = set(by_reference) | {by_id[i].number for i in booked if i in by_id}
    left = {n: s.tracking_number or "" for n, s in erp.items() if n in mine}
    right = {
        ref: ",".join(sorted(p.shipment_number for p in ps)) for ref, ps in by_reference.items()
    }
    diffs = [d for ref, ps in sorted(by_reference.items()) for d in _compare(ref, ps, erp)]
    numbers = {p.shipment_number for p in held}
    for erp_id, binding in sorted(booked.items()):
        shipment = by_id.get(erp_id)
        if shipment is None:
            diffs.append(_missing_in_erp(erp_id, binding.external_id))
        elif binding.external_id not in numbers:
            diffs.append(
                _diff(
                    f"shipment {shipment.number}",
                    "missing_at_carrier",
                    f"booked as {binding.external_id}, but the carrier holds no such live "
                    "shipment (cancelled in its portal?): book it again or clear the ERP's "
                    "tracking number",
                )
            )
    return _section(left, right, diffs, active=True)


def _erp_shipments(hub: Hub) -> list[Shipment]:
    return hub.erp.shipments_changed_since(None, limit=1_000_000)


def _compare(
    reference: str, parcels: list[CarrierShipment], erp: dict[str, Shipment]
) -> list[dict[str, Any]]:
    """The differences of one reference's parcels against its ERP shipment."""
    numbers = sorted(p.shipment_number for p in parcels)
    shipment = erp.get(reference)
    if shipment is None:
        return [
            _diff(
                f"carrier {', '.join(numbers)}",
                "unknown_to_erp",
                f"the carrier holds {len(numbers)} parcel(s) under reference {reference!r}, but "
                "the ERP has no such shipment: cancel it at the carrier or find its shipment",
            )
        ]
    record = f"shipment {shipment.number}"
    diffs = []
    if len(numbers) > 1:
        diffs.append(
            _diff(
                record,
                "duplicate_at_carrier",
                f"the carrier holds {len(numbers)} live parcels ({', '.join(numbers)}) for one "
                "shipment: cancel the extra ones at the carrier",
            )
        )
    if not shipment.tracking_number:
        diffs.append(
            _diff(
                record,
                "missing_tracking_in_erp",
                f"the carrier holds {', '.join(numbers)} but the ERP has no tracking number: "
                "replay the shipment's dead letter (it looks the parcel up) or enter it by hand",
            )
        )
    elif shipment.tracking_number not in numbers:
        diffs.append(
            _diff(
                record,
                "tracking_differs",
                f"carrier {', '.join(numbers)}, ERP {shipment.tracking_number}: correct the ERP "
                "or cancel the parcel the ERP does not know",
            )
        )
    return diffs


def _missing_in_erp(erp_id: str, tracking: str) -> dict[str, Any]:
    return _diff(
        f"shipment id {erp_id}", "missing_in_erp", f"booked as {tracking} but not in the ERP"
    )


def _without_list(
    hub: Hub, booked: dict[str, Any], bookings: list[dict[str, Any]], why: str
) -> dict[str, Any]:
    """The carrier cannot list our shipments: track the hub's bookings, name the unknowns."""
    by_id = {s.erp_id: s for s in _erp_shipments(hub)}
    numbers = sorted(b.external_id for b in booked.values())
    found: dict[str, bool] = {}
    diffs: list[dict[str, Any]] = []
    try:
        for i in range(0, len(numbers), TRACK_BATCH):
            reports = hub.carrier.track(numbers[i : i + TRACK_BATCH])
            found.update({n: r.found for n, r in reports.items()})
    except HubError as exc:
        diffs.append(_diff("carrier", "carrier_unreachable", f"tracking failed: {exc}"))
    left: dict[str, str] = {}
    right = {n: n for n, ok in found.items() if ok}
    for erp_id, binding in sorted(booked.items()):
        shipment = by_id.get(erp_id)
        if shipment is None:
            diffs.append(_missing_in_erp(erp_id, binding.external_id))
            continue
        left[shipment.number] = shipment.tracking_number or ""
        if found.get(binding.external_id) is False:
            diffs.append(
                _diff(
                    f"shipment {shipment.number}",
                    "missing_at_carrier",
                    f"booked as {binding.external_id}, but the carrier does not know it",
                )
            )
        if shipment.tracking_number != binding.external_id:
            diffs.append(
                _diff(
                    f"shipment {shipment.number}",
                    "tracking_differs",
                    f"carrier {binding.external_id}, ERP {shipment.tracking_number or '(none)'}: "
                    "replay the write-back dead letter",
                )
            )
    for row in bookings:
        if row["state"] in ("unknown", "dead") and "unknown" in str(row.get("error") or ""):
            diffs.append(
                _diff(
                    f"shipment {row['subject']}",
                    "unknown_outcome",
                    f"the outcome of its booking is unknown and the carrier cannot be asked "
                    f"({why}): look reference {row['subject']} up in the carrier's portal",
                )
            )
    return _section(left, right, diffs, active=True)
