"""FakeCarrier: the carrier port in memory, for flow tests (held to the port's contract suite).

It books like the sandbox carrier (numbers, a PDF label, one shipment per call), tracks
booked numbers as ``created`` until a status is set, and can look bookings up by our
reference when ``can_look_up`` (the sandbox's look-up endpoint) or refuse to tell (BCS).
Failures are injected per reference: ``errors[ref]`` raise before anything is created,
``lose_answer`` creates the shipment and then raises OutcomeUnknownError (a lost answer).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

from connectors.carrier.port import CarrierPort
from schemas.errors import HubError, OutcomeUnknownError, PermanentError, TransientError
from schemas.model import CarrierStatus, Shipment
from transforms.dhl_results import (
    Carrier,
    CarrierLabel,
    CarrierShipment,
    TrackingEvent,
    TrackingReport,
)

PDF = b"%PDF-1.4 fake label "
EVENT_CODES: dict[str, str] = {
    "in_transit": "PL",
    "out_for_delivery": "WC",
    "delivered": "OK",
    "exception": "NH",
    "returned": "RT",
}


class FakeCarrier(CarrierPort):
    """In-memory carrier; see the module docstring for the knobs."""

    def __init__(self, carrier: Carrier = "dhl_bcs", *, can_look_up: bool = False) -> None:
        self.carrier = carrier
        self._can_look_up = can_look_up
        self.booked: dict[str, CarrierShipment] = {}  # shipment number -> shipment
        self.labels: dict[str, bytes] = {}
        self.calls: Counter[str] = Counter()  # book calls per reference
        self.created: Counter[str] = Counter()  # shipments created per reference
        self.errors: dict[str, list[HubError]] = {}  # raised before creating, one per call
        self.always: HubError | None = None  # raised by every book call
        self.lose_answer: set[str] = set()  # created, then OutcomeUnknownError
        self.lookup_error: HubError | None = None  # raised by every look-up
        self.reject_postcodes: set[str] = set()  # refused like an address DHL cannot find
        self._next: list[str] = []  # "lose" / "refuse" for the next bookings, in order
        self.statuses: dict[str, CarrierStatus] = {}
        self.asked: list[list[str]] = []  # tracking batches
        self.fail_batches: set[int] = set()  # 1-based tracking batches that fail
        self.closed = 0

    @property
    def can_look_up(self) -> bool:
        return self._can_look_up

    def _number(self, shipment: Shipment) -> str:
        serial = len(self.booked) + 1
        return f"2222{serial:014d}" if self.carrier == "dhl_bcs" else f"{1234500000 + serial}"

    def lose_next_answer(self) -> None:
        """The next booking is created, then its answer is lost."""
        self._next.append("lose")

    def refuse_next(self) -> None:
        """The next booking is refused before anything is created (HTTP 503)."""
        self._next.append("refuse")

    def book(self, shipment: Shipment, *, now: datetime | None = None) -> CarrierLabel:
        reference = shipment.number
        self.calls[reference] += 1
        if self.always is not None:
            raise self.always
        if self._next:
            if self._next.pop(0) == "refuse":
                raise TransientError(
                    f"shipment {reference}: the carrier answered HTTP 503", system=self.system
                )
            self.lose_answer.add(reference)
        pending = self.errors.get(reference)
        if pending:
            raise pending.pop(0)
        if shipment.delivery_address.postal_code in self.reject_postcodes:
            raise PermanentError(
                f"shipment {reference}: the carrier rejected it: postal code "
                f"{shipment.delivery_address.postal_code} not found; correct the shipment in "
                "the ERP and replay the dead letter",
                system=self.system,
                code="rejected",
            )
        number = self._number(shipment)
        self.booked[number] = CarrierShipment(
            carrier=self.carrier,
            reference=reference,
            shipment_number=number,
            created_at=(now or datetime.now(UTC)).replace(microsecond=0),
        )
        self.labels[number] = PDF + number.encode()
        self.created[reference] += 1
        if reference in self.lose_answer:
            self.lose_answer.discard(reference)
            raise OutcomeUnknownError(
                f"shipment {reference}: ReadTimeout after sending; outcome unknown",
                system=self.system,
            )
        return CarrierLabel(
            carrier=self.carrier,
            reference=reference,
            shipment_number=number,
            label_pdf=self.labels[number],
        )

    def track(
        self, numbers: Sequence[str], *, now: datetime | None = None
    ) -> dict[str, TrackingReport]:
        self.asked.append(list(numbers))
        if len(self.asked) in self.fail_batches:
            raise TransientError("tracking answered HTTP 503", system="carrier.dhl_express")
        return {number: self._report(number) for number in numbers}

    def _report(self, number: str) -> TrackingReport:
        shipment = self.booked.get(number)
        status = self.statuses.get(number)
        if shipment is None and status is None or (shipment and shipment.cancelled):
            return TrackingReport(tracking_number=number, found=False, status="unknown")
        reference = shipment.reference if shipment else None
        if status is None or status == "created":
            return TrackingReport(
                tracking_number=number, found=True, status="created", reference=reference
            )
        event = TrackingEvent(
            code=EVENT_CODES.get(status, "PU"),
            description=None,
            occurred_at=datetime(2024, 5, 2, 10, 0),
            location="BER",
            status=status,
        )
        return TrackingReport(
            tracking_number=number,
            found=True,
            status=status,
            events=(event,),
            reference=reference,
        )

    def find_by_reference(self, shipment_number: str) -> CarrierLabel | None:
        if not self._can_look_up:
            raise OutcomeUnknownError(
                f"shipment {shipment_number}: this carrier offers no look-up by our reference",
                system=self.system,
                code="no-lookup",
            )
        if self.lookup_error is not None:
            raise self.lookup_error
        for number, shipment in self.booked.items():
            if shipment.reference == shipment_number and not shipment.cancelled:
                return CarrierLabel(
                    carrier=self.carrier,
                    reference=shipment_number,
                    shipment_number=number,
                    label_pdf=self.labels[number],
                )
        return None

    def shipments(self) -> list[CarrierShipment]:
        if not self._can_look_up:
            raise OutcomeUnknownError(
                "this carrier offers no list of our shipments",
                system=self.system,
                code="no-lookup",
            )
        return list(self.booked.values())

    def cancel(self, number: str) -> None:
        """Cancel a booking at the carrier (as a person would in its portal)."""
        self.booked[number] = self.booked[number].model_copy(update={"cancelled": True})

    def close(self) -> None:
        self.closed += 1
