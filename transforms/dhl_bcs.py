"""Canonical Shipment <-> DHL Parcel DE business customer shipping (BCS 3.3.2) payloads, pure.

Requests are plain dicts shaped for zeep's ``createShipmentOrder(**request)``; responses are
read from ``zeep.helpers.serialize_object(..., dict)`` output (plain dicts and lists).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from schemas.errors import PermanentError
from schemas.model import Shipment
from transforms.dhl_results import (
    CarrierLabel,
    CarrierProfile,
    CarrierRejection,
    _Frozen,
    require_address,
    shipment_weight_kg,
    split_street,
)

SYSTEM = "carrier.dhl_bcs"
VERSION = {"majorRelease": "3", "minorRelease": "3"}
MAX_WEIGHT_KG = Decimal("31.5")
UNKNOWN_SHIPMENT = 2000


class BcsCreateOutcome(_Frozen):
    """The call's overall status and one result per ShipmentOrder, in request order."""

    status_code: int
    status_text: str
    results: tuple[CarrierLabel | CarrierRejection, ...] = ()


class BcsDeleteOutcome(_Frozen):
    """Per shipment number: deleted or not, with the carrier's status."""

    status_code: int
    deleted: dict[str, bool]
    messages: dict[str, str]


def _kg(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.001"), rounding=ROUND_HALF_UP).normalize())


def _shipper(profile: CarrierProfile) -> dict[str, Any]:
    shipper = profile.shipper
    street_name, street_number = split_street(shipper.street)
    communication: dict[str, Any] = {
        "phone": shipper.phone,
        "contactPerson": shipper.contact_person,
    }
    if shipper.email:
        communication["email"] = shipper.email
    return {
        "Name": {"name1": shipper.company},
        "Address": {
            "streetName": street_name,
            "streetNumber": street_number or "0",
            "zip": shipper.postal_code,
            "city": shipper.city,
            "Origin": {"countryISOCode": shipper.country},
        },
        "Communication": communication,
    }


def create_request(shipment: Shipment, profile: CarrierProfile, ship_date: date) -> dict[str, Any]:
    """createShipmentOrder arguments for one shipment; sequenceNumber = reference = its number.

    Raises PermanentError naming the shipment and the missing field when the shipment cannot
    be shipped as it stands (no address, overweight), so the flow dead-letters it.
    """
    missing = require_address(shipment)
    if missing:
        raise PermanentError(
            f"shipment {shipment.number}: cannot book with DHL BCS, missing {', '.join(missing)}; "
            "complete the delivery address in the ERP",
            system=SYSTEM,
            code="address",
        )
    weight = shipment_weight_kg(shipment, profile.default_weight_kg)
    if weight > MAX_WEIGHT_KG:
        raise PermanentError(
            f"shipment {shipment.number}: weight {weight} kg exceeds the DHL Paket limit of "
            f"{MAX_WEIGHT_KG} kg; split it into several shipments",
            system=SYSTEM,
            code="weight",
        )
    address = shipment.delivery_address
    street_name, street_number = split_street(address.street or "")
    receiver_name = (address.name or shipment.customer.name or "")[:50]
    return {
        "Version": dict(VERSION),
        "ShipmentOrder": [
            {
                "sequenceNumber": shipment.number,
                "Shipment": {
                    "ShipmentDetails": {
                        "product": profile.product,
                        "accountNumber": profile.account_number,
                        "customerReference": shipment.number[:35],
                        "shipmentDate": ship_date.isoformat(),
                        "ShipmentItem": {"weightInKG": _kg(weight)},
                    },
                    "Shipper": _shipper(profile),
                    "Receiver": {
                        "name1": receiver_name,
                        "Address": {
                            "streetName": street_name,
                            "streetNumber": street_number or "0",
                            "zip": address.postal_code,
                            "city": address.city,
                            "Origin": {"countryISOCode": address.country},
                        },
                    },
                },
            }
        ],
        "labelResponseType": "B64",
    }


def _status(value: Mapping[str, Any] | None) -> tuple[int, str, tuple[str, ...]]:
    if not value:
        return -1, "", ()
    code = value.get("statusCode")
    messages = value.get("statusMessage") or []
    if isinstance(messages, str):
        messages = [messages]
    return (
        int(code) if code is not None else -1,
        str(value.get("statusText") or ""),
        tuple(str(m).strip() for m in messages if m),
    )


def decode_label(data: str | bytes | None, *, reference: str) -> bytes:
    """Label bytes from base64; PermanentError if it is not base64 of a PDF."""
    if not data:
        raise PermanentError(
            f"shipment {reference}: DHL returned no label data", system=SYSTEM, code="label"
        )
    try:
        pdf = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PermanentError(
            f"shipment {reference}: DHL label is not valid base64: {exc}",
            system=SYSTEM,
            code="label",
        ) from exc
    if not pdf.startswith(b"%PDF-"):
        raise PermanentError(
            f"shipment {reference}: DHL label is not a PDF", system=SYSTEM, code="label"
        )
    return pdf


def parse_create_response(
    response: Mapping[str, Any], references: Sequence[str]
) -> BcsCreateOutcome:
    """Results per CreationState, matched to ``references`` by sequenceNumber (else order)."""
    code, text, _ = _status(response.get("Status"))
    states = response.get("CreationState") or []
    results: list[CarrierLabel | CarrierRejection] = []
    for index, state in enumerate(states):
        sequence = str(state.get("sequenceNumber") or "")
        if sequence in references:
            reference = sequence
        elif index < len(references):
            reference = references[index]
        else:
            reference = sequence
        label = state.get("LabelData") or {}
        state_code, state_text, messages = _status(label.get("Status"))
        number = state.get("shipmentNumber") or label.get("shipmentNumber")
        if number and state_code == 0:
            results.append(
                CarrierLabel(
                    carrier="dhl_bcs",
                    reference=reference,
                    shipment_number=str(number),
                    label_pdf=decode_label(label.get("labelData"), reference=reference),
                )
            )
        else:
            results.append(
                CarrierRejection(
                    carrier="dhl_bcs",
                    reference=reference,
                    status_code=str(state_code if state_code >= 0 else code),
                    messages=tuple(m for m in messages) or (state_text or text,),
                )
            )
    return BcsCreateOutcome(status_code=code, status_text=text, results=tuple(results))


def delete_request(shipment_numbers: Sequence[str]) -> dict[str, Any]:
    """deleteShipmentOrder arguments (up to 30 numbers a call)."""
    if not 1 <= len(shipment_numbers) <= 30:
        raise ValueError(f"deleteShipmentOrder takes 1 to 30 numbers, got {len(shipment_numbers)}")
    return {"Version": dict(VERSION), "shipmentNumber": list(shipment_numbers)}


def parse_delete_response(response: Mapping[str, Any]) -> BcsDeleteOutcome:
    """Which numbers were deleted; an unknown number (2000) is reported, not deleted."""
    code, _, _ = _status(response.get("Status"))
    deleted: dict[str, bool] = {}
    messages: dict[str, str] = {}
    for state in response.get("DeletionState") or []:
        number = str(state.get("shipmentNumber"))
        state_code, state_text, state_messages = _status(state.get("Status"))
        deleted[number] = state_code == 0
        messages[number] = "; ".join(state_messages) or state_text
    return BcsDeleteOutcome(status_code=code, deleted=deleted, messages=messages)


def parse_version(response: Mapping[str, Any]) -> str:
    """``major.minor[.build]`` from a GetVersionResponse."""
    version = response.get("Version") or response
    parts = [version.get("majorRelease"), version.get("minorRelease"), version.get("build")]
    return ".".join(str(p) for p in parts if p is not None)
