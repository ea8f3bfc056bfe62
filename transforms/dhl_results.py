"""What the DHL APIs answer, as small canonical results: labels, rejections, tracking status.

Shared by the BCS and Express mappings; pure (no clock, no I/O). Also holds the carrier
profile (shipper, account, product) that a mapping needs besides the canonical Shipment.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.model import CarrierStatus, Shipment

Carrier = Literal["dhl_bcs", "dhl_express"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ShipperProfile(_Frozen):
    """Our own dispatch address and contact, printed as the sender on every label."""

    company: str = Field(min_length=1, max_length=35)
    contact_person: str = Field(min_length=1, max_length=45)
    street: str = Field(min_length=1)
    postal_code: str = Field(min_length=1)
    city: str = Field(min_length=1)
    country: str = Field(min_length=2, max_length=2)
    phone: str = Field(min_length=1, max_length=25)
    email: str | None = None


class CarrierProfile(_Frozen):
    """Account and defaults for one carrier API (a further carrier = a further profile)."""

    carrier: Carrier
    account_number: str = Field(min_length=1)
    product: str = Field(min_length=1)
    shipper: ShipperProfile
    default_weight_kg: Decimal = Field(default=Decimal("1.0"), gt=0)
    default_dimensions_cm: tuple[int, int, int] = (30, 20, 15)
    default_recipient_phone: str = "+49 30 0000000"
    currency: str = "EUR"
    content_description: str = "Goods"


class CarrierLabel(_Frozen):
    """A shipment the carrier accepted: its number and the label PDF."""

    carrier: Carrier
    reference: str
    shipment_number: str
    label_pdf: bytes


class CarrierShipment(_Frozen):
    """One shipment as the carrier itself holds it (for look-ups and reconcile)."""

    carrier: Carrier
    reference: str | None
    shipment_number: str
    created_at: datetime | None = None
    cancelled: bool = False


class CarrierRejection(_Frozen):
    """A shipment the carrier refused (e.g. address not found), with the carrier's words."""

    carrier: Carrier
    reference: str
    status_code: str
    messages: tuple[str, ...]

    @property
    def message(self) -> str:
        return "; ".join(m for m in self.messages if m) or f"status {self.status_code}"


class TrackingEvent(_Frozen):
    """One checkpoint, with the canonical status it means."""

    code: str
    description: str | None
    occurred_at: datetime
    location: str | None
    status: CarrierStatus


class TrackingReport(_Frozen):
    """Where one tracked shipment is: the latest canonical status and all checkpoints."""

    tracking_number: str
    found: bool
    status: CarrierStatus
    events: tuple[TrackingEvent, ...] = ()
    reference: str | None = None


# MyDHL Express checkpoint codes (ServiceEvent/EventCode) -> canonical carrier status.
EXPRESS_EVENT_STATUS: dict[str, CarrierStatus] = {
    "OK": "delivered",
    "DL": "delivered",
    "WC": "out_for_delivery",
    "PU": "in_transit",
    "PL": "in_transit",
    "DF": "in_transit",
    "AF": "in_transit",
    "AR": "in_transit",
    "CC": "in_transit",
    "CR": "in_transit",
    "RR": "in_transit",
    "TR": "in_transit",
    "TP": "in_transit",
    "SA": "created",
    "BA": "exception",
    "NH": "exception",
    "OH": "exception",
    "CA": "exception",
    "CD": "exception",
    "CS": "exception",
    "HP": "exception",
    "MS": "exception",
    "MD": "exception",
    "NA": "exception",
    "RD": "exception",
    "SS": "exception",
    "RT": "returned",
}


def status_for_event(code: str) -> CarrierStatus:
    """Canonical status for a carrier checkpoint code; ``unknown`` when we do not know it."""
    return EXPRESS_EVENT_STATUS.get(code.strip().upper(), "unknown")


def overall_status(events: tuple[TrackingEvent, ...]) -> CarrierStatus:
    """The status a shipment is in: the latest known event's, ``created`` without events."""
    # stable ascending sort, walked backwards: among equal timestamps the later-listed wins
    for event in reversed(sorted(events, key=lambda e: e.occurred_at)):
        if event.status != "unknown":
            return event.status
    return "created" if not events else "unknown"


_STREET = re.compile(
    r"^(?P<name>.*?\D)\s*(?P<number>\d+\s*[a-zA-Z]?(?:\s*[-/]\s*\d+\s*[a-zA-Z]?)?)$"
)


def split_street(street: str) -> tuple[str, str]:
    """``"Sträßchensweg 10a"`` -> ``("Sträßchensweg", "10a")``; no number -> (street, "")."""
    text = " ".join(street.split())
    match = _STREET.match(text)
    if not match:
        return text, ""
    return match.group("name").strip().rstrip(","), match.group("number").replace(" ", "")


def shipment_weight_kg(shipment: Shipment, default: Decimal) -> Decimal:
    """Total weight: the shipment's, else the sum of its packages', else the profile default."""
    if shipment.weight_kg is not None:
        return shipment.weight_kg
    weights = [p.weight_kg for p in shipment.packages if p.weight_kg is not None]
    return sum(weights, Decimal(0)) if weights else default


def require_address(shipment: Shipment) -> list[str]:
    """Names of the delivery-address fields a carrier needs but the shipment lacks."""
    address = shipment.delivery_address
    missing = [
        f"delivery_address.{name}"
        for name in ("street", "postal_code", "city", "country")
        if not getattr(address, name)
    ]
    if not (address.name or shipment.customer.name):
        missing.append("delivery_address.name (or customer.name)")
    return missing
