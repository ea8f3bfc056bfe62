"""MyDHL Express connector: createShipmentRequest and trackShipmentRequest with WS-Security.

The UsernameToken is not declared in the WSDLs; zeep adds it to every call (``wsse=``).
Two WSDLs, two endpoints (ship, track), each parsed once per process.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
from zeep.wsse.username import UsernameToken

from connectors.carrier.client import (
    SoapConnector,
    SoapSettings,
)
from connectors.http import with_retries
from schemas.errors import PermanentError

SYSTEM = "carrier.dhl_express"


def message_stamp() -> tuple[datetime, str]:
    """(MessageTime, MessageReference) for a request header: now, and 32 random hex chars."""
    return datetime.now(UTC).replace(microsecond=0), uuid.uuid4().hex


@dataclass(frozen=True, kw_only=True)
class ExpressSettings(SoapSettings):
    """Where and as whom to call MyDHL Express. The password never appears in repr or logs."""

    ship_wsdl: str
    track_wsdl: str
    ship_endpoint: str | None
    track_endpoint: str | None
    username: str
    password: str = field(repr=False)
    connection_id: str = "carrier_dhl_express"


class ExpressConnector(SoapConnector[ExpressSettings], system=SYSTEM):
    """MyDHL Express calls: two WSDLs and endpoints (ship, track), a WS-Security token."""

    def _bind(
        self, settings: ExpressSettings, session_factory: Callable[[], requests.Session]
    ) -> None:
        def token() -> UsernameToken:
            return UsernameToken(settings.username, settings.password)

        self._ship = self.clients(
            settings.ship_wsdl, settings.ship_endpoint, session_factory=session_factory, wsse=token
        )
        self._track = self.clients(
            settings.track_wsdl,
            settings.track_endpoint,
            session_factory=session_factory,
            wsse=token,
        )

    @property
    def credentials_fix(self) -> str:
        return (
            f"check the MyDHL Express username {self.settings.username!r} and its password, "
            f"then update connection {self.settings.connection_id!r}"
        )

    def create_shipment(self, request: dict[str, Any], *, reference: str) -> dict[str, Any]:
        """Book one shipment (``transforms.dhl_express.create_request``); the serialized response.

        A non-zero Notification (e.g. the destination is invalid) raises PermanentError with
        the carrier's message; a lost answer raises OutcomeUnknownError (reconcile first).
        """
        url = self.settings.ship_endpoint or self.settings.ship_wsdl

        def attempt() -> dict[str, Any]:
            response = self.call(
                self._ship, "createShipmentRequest", url, request, creates=True, reference=reference
            )
            notes = response.get("Notification") or []
            bad = [n for n in notes if str(n.get("code")) != "0"]
            if bad or not response.get("ShipmentIdentificationNumber"):
                text = "; ".join(f"{n.get('code')}: {n.get('Message')}" for n in bad or notes)
                raise PermanentError(
                    f"shipment {reference}: DHL Express rejected it ({text or 'no waybill'}); "
                    "correct the shipment in the ERP and release it again",
                    system=SYSTEM,
                    code=str(bad[0].get("code")) if bad else "no-waybill",
                )
            return response

        return with_retries(attempt, self.create_policy)

    def track(self, request: dict[str, Any]) -> dict[str, Any]:
        """Tracking (``transforms.dhl_express.track_request``); retried on transient errors."""
        url = self.settings.track_endpoint or self.settings.track_wsdl

        def attempt() -> dict[str, Any]:
            return self.call(
                self._track, "trackShipmentRequest", url, request, creates=False, reference=None
            )

        return with_retries(attempt, self.read_policy)

    def close(self) -> None:
        """Close this thread's sessions."""
        self._ship.close()
        self._track.close()
