"""The DHL adapters behind the carrier port: BCS (Parcel DE) and MyDHL Express.

Each joins a SOAP connector and its pure mapping (``transforms.dhl_bcs`` / ``dhl_express``),
so the flows speak the canonical model and the carrier's errors (Transient / Permanent /
OutcomeUnknown) pass through unchanged. Tracking goes through MyDHL Express for both (it
tracks BCS piece numbers too), built only when first needed. Look-ups by our reference use
a ``ReferenceLookup`` where the endpoint offers one; without it the adapter says it cannot
tell, and an unknown booking waits for a person.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Generic, TypeVar

from connectors.carrier.bcs import BcsConnector
from connectors.carrier.express import ExpressConnector, message_stamp
from connectors.carrier.lookup import ReferenceLookup
from connectors.carrier.port import CarrierPort
from connectors.http import redact_url
from schemas.errors import OutcomeUnknownError, PermanentError
from schemas.model import Shipment
from transforms import dhl_bcs, dhl_express
from transforms.dhl_results import CarrierLabel, CarrierProfile, CarrierShipment, TrackingReport

TrackConnector = Callable[[], ExpressConnector]
C = TypeVar("C", BcsConnector, ExpressConnector)


class DhlCarrier(CarrierPort, Generic[C]):
    """What both DHL adapters share: tracking through Express, look-ups, closing."""

    name = "DHL"

    def __init__(
        self,
        connector: C,
        profile: CarrierProfile,
        *,
        track_connector: ExpressConnector | TrackConnector | None = None,
        lookup: ReferenceLookup | None = None,
    ) -> None:
        self.connector: C = connector
        self.profile = profile
        if track_connector is None and isinstance(connector, ExpressConnector):
            track_connector = connector  # Express tracks on its own connection
        self._track_source: ExpressConnector | TrackConnector | None = track_connector
        self._tracker: ExpressConnector | None = None
        self.lookup = lookup

    @property
    def can_look_up(self) -> bool:
        return self.lookup is not None

    def _track_connector(self) -> ExpressConnector:
        if self._tracker is None:
            source = self._track_source
            if source is None:
                raise PermanentError(
                    f"{self.name}: no MyDHL Express connection for tracking is configured",
                    system=self.system,
                )
            self._tracker = source if isinstance(source, ExpressConnector) else source()
        return self._tracker

    def track(
        self, numbers: Sequence[str], *, now: datetime | None = None
    ) -> dict[str, TrackingReport]:
        message_time, message_reference = message_stamp()
        request = dhl_express.track_request(
            numbers, message_time=message_time, message_reference=message_reference
        )
        response = self._track_connector().track(request)
        return dhl_express.parse_track_response(response, numbers)

    def find_by_reference(self, shipment_number: str) -> CarrierLabel | None:
        if self.lookup is None:
            raise OutcomeUnknownError(
                f"shipment {shipment_number}: {self.name} offers no look-up by our reference; "
                "only a person can check the carrier's portal",
                system=self.system,
                code="no-lookup",
            )
        return self.lookup.find(shipment_number)

    def shipments(self) -> list[CarrierShipment]:
        if self.lookup is None:
            raise OutcomeUnknownError(
                f"{self.name} offers no list of our shipments (no look-up endpoint configured)",
                system=self.system,
                code="no-lookup",
            )
        return self.lookup.all()

    def _rejected(self, result: object, shipment: Shipment) -> CarrierLabel:
        if isinstance(result, CarrierLabel):
            return result
        message = getattr(result, "message", "no creation state in the answer")
        raise PermanentError(
            f"shipment {shipment.number}: {self.name} rejected it: {message}; correct the "
            "shipment in the ERP and replay the dead letter",
            system=self.system,
            code="rejected",
        )

    def close(self) -> None:
        self.connector.close()
        if self._tracker is not None and self._tracker is not self.connector:
            self._tracker.close()
        if self.lookup is not None:
            self.lookup.close()


class BcsCarrier(DhlCarrier[BcsConnector]):
    """DHL Parcel DE business customer shipping: one ShipmentOrder per call."""

    carrier = "dhl_bcs"
    name = "DHL BCS"

    @property
    def endpoint(self) -> str:
        return redact_url(self.connector.settings.endpoint or self.connector.settings.wsdl)

    def book(self, shipment: Shipment, *, now: datetime | None = None) -> CarrierLabel:
        day = (now or datetime.now(UTC)).date()
        request = dhl_bcs.create_request(shipment, self.profile, day)
        response = self.connector.create_shipment_order(request, reference=shipment.number)
        outcome = dhl_bcs.parse_create_response(response, [shipment.number])
        return self._rejected(outcome.results[0] if outcome.results else None, shipment)


class ExpressCarrier(DhlCarrier[ExpressConnector]):
    """MyDHL Express createShipmentRequest: one package per shipment."""

    carrier = "dhl_express"
    name = "DHL Express"

    @property
    def endpoint(self) -> str:
        settings = self.connector.settings
        return redact_url(settings.ship_endpoint or settings.ship_wsdl)

    def book(self, shipment: Shipment, *, now: datetime | None = None) -> CarrierLabel:
        message_time, message_reference = message_stamp()
        request = dhl_express.create_request(
            shipment,
            self.profile,
            ship_time=now or datetime.now(UTC),
            message_time=message_time,
            message_reference=message_reference,
        )
        response = self.connector.create_shipment(request, reference=shipment.number)
        return self._rejected(
            dhl_express.parse_create_response(response, shipment.number), shipment
        )
