"""The carrier port: book a shipment, track numbers, find a booking by our reference.

The logistics flows speak only to this port; the DHL adapters (``connectors.carrier.dhl``)
and the named fake (``connectors.carrier.fake``) implement it, and one contract suite
(``tests/contract/test_carrier_port.py``) holds both to the same behaviour.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime

from schemas.model import Shipment
from transforms.dhl_results import Carrier, CarrierLabel, CarrierShipment, TrackingReport


class CarrierPort(ABC):
    """One carrier account: bookings (NOT idempotent at the carrier) and tracking (safe)."""

    carrier: Carrier

    @property
    def system(self) -> str:
        """The name errors, journal entries and dead letters use for this carrier."""
        return f"carrier.{self.carrier}"

    @property
    def endpoint(self) -> str:
        """Where bookings go, for messages (no credentials, no query string)."""
        return self.system

    @property
    def can_look_up(self) -> bool:
        """Whether ``find_by_reference`` can answer (else an unknown booking waits for a person)."""
        return False

    @abstractmethod
    def book(self, shipment: Shipment, *, now: datetime | None = None) -> CarrierLabel:
        """The label of a new carrier shipment whose reference is ``shipment.number``.

        Raises PermanentError (rejected, e.g. address; credentials), TransientError (provably
        nothing was created) or OutcomeUnknownError (sent, answer lost: never resend blindly).
        """

    @abstractmethod
    def track(
        self, numbers: Sequence[str], *, now: datetime | None = None
    ) -> dict[str, TrackingReport]:
        """One report per number (``found=False`` for numbers the carrier does not know)."""

    @abstractmethod
    def find_by_reference(self, shipment_number: str) -> CarrierLabel | None:
        """The booking made under our reference (an ERP shipment number), None when the
        carrier provably holds none; OutcomeUnknownError when the carrier cannot be asked
        (no such API, or no answer): then nobody may book it again blindly."""

    @abstractmethod
    def shipments(self) -> list[CarrierShipment]:
        """Every shipment the carrier holds for this account (for reconcile);
        OutcomeUnknownError when the carrier offers no such list."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release sessions."""
