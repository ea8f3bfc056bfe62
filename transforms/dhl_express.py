"""Canonical Shipment <-> MyDHL Express payloads (createShipment, trackShipment), pure.

Requests are dicts for zeep; responses are read from ``zeep.helpers.serialize_object(..., dict)``
output. The caller passes the clock values (ship time, message time, message reference).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from schemas.errors import PermanentError
from schemas.model import Shipment
from transforms.dhl_bcs import decode_label
from transforms.dhl_results import (
    CarrierLabel,
    CarrierProfile,
    CarrierRejection,
    TrackingEvent,
    TrackingReport,
    overall_status,
    require_address,
    shipment_weight_kg,
    status_for_event,
)

SYSTEM = "carrier.dhl_express"
MAX_TRACK_NUMBERS = 100  # keep one tracking call small; the API itself does not say


def ship_timestamp(moment: datetime) -> str:
    """MyDHL's ShipTimestamp: ``2024-05-02T14:00:00GMT+02:00`` (needs an aware datetime)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("ship_timestamp needs a timezone-aware datetime")
    offset = moment.utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{moment.strftime('%Y-%m-%dT%H:%M:%S')}GMT{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _contact(name: str, company: str, phone: str, email: str | None = None) -> dict[str, Any]:
    contact = {"PersonName": name[:45], "CompanyName": company[:35], "PhoneNumber": phone[:25]}
    if email:
        contact["EmailAddress"] = email
    return contact


def _ship(
    shipment: Shipment, profile: CarrierProfile, recipient_phone: str | None
) -> dict[str, Any]:
    """The Shipper (our dispatch) and Recipient (the delivery address) of a request."""
    address = shipment.delivery_address
    shipper = profile.shipper
    recipient_name = address.name or shipment.customer.name or ""
    return {
        "Shipper": {
            "Contact": _contact(
                shipper.contact_person, shipper.company, shipper.phone, shipper.email
            ),
            "Address": {
                "StreetLines": shipper.street[:35],
                "City": shipper.city,
                "PostalCode": shipper.postal_code,
                "CountryCode": shipper.country,
            },
        },
        "Recipient": {
            "Contact": _contact(
                recipient_name,
                shipment.customer.name or recipient_name,
                recipient_phone or profile.default_recipient_phone,
            ),
            "Address": {
                "StreetLines": (address.street or "")[:35],
                "City": address.city,
                "PostalCode": address.postal_code,
                "CountryCode": address.country,
            },
        },
    }


def create_request(
    shipment: Shipment,
    profile: CarrierProfile,
    *,
    ship_time: datetime,
    message_time: datetime,
    message_reference: str,
    recipient_phone: str | None = None,
) -> dict[str, Any]:
    """createShipmentRequest arguments for one shipment (one package, reference = number)."""
    missing = require_address(shipment)
    if missing:
        raise PermanentError(
            f"shipment {shipment.number}: cannot book with DHL Express, missing "
            f"{', '.join(missing)}; complete the delivery address in the ERP",
            system=SYSTEM,
            code="address",
        )
    weight = shipment_weight_kg(shipment, profile.default_weight_kg)
    length, width, height = profile.default_dimensions_cm
    return {
        "Request": {
            "ServiceHeader": {
                "MessageTime": message_time,
                "MessageReference": message_reference,
            }
        },
        "RequestedShipment": {
            "ShipmentInfo": {
                "DropOffType": "REGULAR_PICKUP",
                "ServiceType": profile.product,
                "Account": profile.account_number,
                "Currency": profile.currency,
                "UnitOfMeasurement": "SI",
            },
            "ShipTimestamp": ship_timestamp(ship_time),
            "PaymentInfo": "DAP",
            "InternationalDetail": {
                "Commodities": {"Description": profile.content_description[:70]},
                "Content": "NON_DOCUMENTS",
            },
            "Ship": _ship(shipment, profile, recipient_phone),
            "Packages": {
                "RequestedPackages": [
                    {
                        "number": 1,
                        "Weight": weight.quantize(Decimal("0.001"), rounding=ROUND_HALF_UP),
                        "Dimensions": {"Length": length, "Width": width, "Height": height},
                        "CustomerReferences": shipment.number[:35],
                    }
                ]
            },
        },
    }


def parse_create_response(
    response: Mapping[str, Any], reference: str
) -> CarrierLabel | CarrierRejection:
    """A label when Notification code is 0 and a waybill came back, else the rejection."""
    notifications = response.get("Notification") or []
    codes = [str(n.get("code")) for n in notifications]
    messages = tuple(str(n.get("Message") or "").strip() for n in notifications)
    number = response.get("ShipmentIdentificationNumber")
    images = response.get("LabelImage") or []
    if number and all(code == "0" for code in codes):
        image = images[0].get("GraphicImage") if images else None
        if isinstance(image, bytes) and image.startswith(b"%PDF-"):
            label = image
        else:
            label = decode_label(image, reference=reference)
        return CarrierLabel(
            carrier="dhl_express", reference=reference, shipment_number=str(number), label_pdf=label
        )
    bad = [c for c in codes if c != "0"] or ["-1"]
    return CarrierRejection(
        carrier="dhl_express", reference=reference, status_code=bad[0], messages=messages
    )


def track_request(
    numbers: Sequence[str], *, message_time: datetime, message_reference: str
) -> dict[str, Any]:
    """trackShipmentRequest arguments: 10-11 character waybills as AWBNumber, others as pieces."""
    if not numbers or len(numbers) > MAX_TRACK_NUMBERS:
        raise ValueError(f"track 1 to {MAX_TRACK_NUMBERS} numbers a call, got {len(numbers)}")
    if not 28 <= len(message_reference) <= 32:
        raise ValueError("MessageReference must be 28 to 32 characters")
    awbs = [n for n in numbers if 10 <= len(n) <= 11]
    plates = [n for n in numbers if not 10 <= len(n) <= 11]
    tracking: dict[str, Any] = {
        "Request": {
            "ServiceHeader": {"MessageTime": message_time, "MessageReference": message_reference}
        },
        "LevelOfDetails": "ALL_CHECK_POINTS",
        "PiecesEnabled": "B" if plates else "S",
    }
    if awbs:
        tracking["AWBNumber"] = {"ArrayOfAWBNumberItem": awbs}
    if plates:
        tracking["LPNumber"] = {"ArrayOfTrackingPieceIDItem": plates}
    return {"trackingRequest": {"TrackingRequest": tracking}}


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _as_time(value: Any) -> time:
    if isinstance(value, time):
        return value.replace(tzinfo=None)
    return time.fromisoformat(str(value)).replace(tzinfo=None)


def _items(container: Any, key: str) -> list[Mapping[str, Any]]:
    if not container:
        return []
    items = container.get(key) if isinstance(container, Mapping) else container
    return list(items or [])


def parse_track_response(
    response: Mapping[str, Any], queried: Sequence[str]
) -> dict[str, TrackingReport]:
    """One TrackingReport per queried number (``found=False`` when DHL does not know it)."""
    outer = response.get("trackingResponse") or response
    tracking = outer.get("TrackingResponse") or outer
    reports: dict[str, TrackingReport] = {}
    for info in _items(tracking.get("AWBInfo"), "ArrayOfAWBInfoItem"):
        awb = str(info.get("AWBNumber") or "")
        action = str((info.get("Status") or {}).get("ActionStatus") or "")
        shipment = info.get("ShipmentInfo") or {}
        events = []
        for row in _items(shipment.get("ShipmentEvent"), "ArrayOfShipmentEventItem"):
            service_event = row.get("ServiceEvent") or {}
            area = row.get("ServiceArea") or {}
            code = str(service_event.get("EventCode") or "").strip()
            events.append(
                TrackingEvent(
                    code=code,
                    description=service_event.get("Description"),
                    occurred_at=datetime.combine(
                        _as_date(row.get("Date")), _as_time(row.get("Time"))
                    ),
                    location=area.get("Description") or area.get("ServiceAreaCode"),
                    status=status_for_event(code),
                )
            )
        plates = [
            str((piece.get("PieceDetails") or {}).get("LicensePlate") or "")
            for piece in _items((info.get("Pieces") or {}).get("PieceInfo"), "ArrayOfPieceInfoItem")
        ]
        reference = (shipment.get("ShipperReference") or {}).get("ReferenceID")
        found = action.lower() == "success"
        ordered = tuple(sorted(events, key=lambda e: e.occurred_at))
        for number in [awb, *plates]:
            if number in queried:
                reports[number] = TrackingReport(
                    tracking_number=number,
                    found=found,
                    status=overall_status(ordered) if found else "unknown",
                    events=ordered if found else (),
                    reference=reference,
                )
    for number in queried:
        reports.setdefault(
            number, TrackingReport(tracking_number=number, found=False, status="unknown")
        )
    return reports
