"""DHL Parcel DE business customer shipping (BCS 3.3.2) connector: create, delete, getVersion.

Auth is twofold, as at DHL: HTTP Basic with the application id/token on every call, and the
``cis:Authentification`` SOAP header (user/signature) on business operations.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from connectors.carrier.client import (
    SoapConnector,
    SoapSettings,
)
from connectors.carrier.errors import auth_error
from connectors.http import with_retries
from schemas.errors import PermanentError

log = logging.getLogger(__name__)

SYSTEM = "carrier.dhl_bcs"
CLIENT_VERSION = {"majorRelease": "3", "minorRelease": "3"}
# Status codes of a whole call that mean "your credentials", not "your shipment".
AUTH_STATUS = {112: "password expired", 118: "invalid authentication", 119: "login failed"}


@dataclass(frozen=True, kw_only=True)
class BcsSettings(SoapSettings):
    """Where and as whom to call BCS. Secrets are excluded from repr (never logged)."""

    wsdl: str
    endpoint: str | None
    app_id: str
    app_token: str = field(repr=False)
    user: str
    signature: str = field(repr=False)
    connection_id: str = "carrier_dhl_bcs"


class BcsConnector(SoapConnector[BcsSettings], system=SYSTEM):
    """BCS calls: HTTP Basic with the application, the user in a SOAP header."""

    def _bind(self, settings: BcsSettings, session_factory: Callable[[], requests.Session]) -> None:
        self._clients = self.clients(
            settings.wsdl,
            settings.endpoint,
            session_factory=session_factory,
            auth=(settings.app_id, settings.app_token),
        )

    def _header(self) -> dict[str, Any]:
        return {"header": {"user": self.settings.user, "signature": self.settings.signature}}

    @property
    def credentials_fix(self) -> str:
        return (
            f"renew the BCS password/signature of user {self.settings.user!r} in the DHL business "
            f"customer portal and update connection {self.settings.connection_id!r}"
        )

    def _call(
        self, operation: str, kwargs: dict[str, Any], *, creates: bool, reference: str | None
    ) -> dict[str, Any]:
        url = self.settings.endpoint or self.settings.wsdl
        return self.call(
            self._clients, operation, url, kwargs, creates=creates, reference=reference
        )

    def _user_call(
        self, operation: str, request: dict[str, Any], *, creates: bool, reference: str | None
    ) -> dict[str, Any]:
        """``operation`` as the user (SOAP header); a credentials status raises at once."""
        response = self._call(
            operation,
            {**request, "_soapheaders": self._header()},
            creates=creates,
            reference=reference,
        )
        self._check_call_status(response)
        return response

    def _check_call_status(self, response: dict[str, Any]) -> None:
        status = response.get("Status") or {}
        code = int(status.get("statusCode") or 0)
        if code in AUTH_STATUS:
            raise auth_error(
                SYSTEM, f"statusCode {code} {status.get('statusText')}", self.credentials_fix
            )

    def create_shipment_order(self, request: dict[str, Any], *, reference: str) -> dict[str, Any]:
        """Book shipments (``transforms.dhl_bcs.create_request``); the serialized response.

        Raises PermanentError with the carrier's messages when it rejects a shipment order
        (e.g. address not found), an alert-worthy PermanentError for credential problems,
        TransientError when provably nothing happened, and OutcomeUnknownError when the
        answer was lost after sending: the caller must reconcile, never call again blindly.
        """

        def attempt() -> dict[str, Any]:
            response = self._user_call(
                "createShipmentOrder", request, creates=True, reference=reference
            )
            states = response.get("CreationState") or []
            if not states:
                status = response.get("Status") or {}
                raise PermanentError(
                    f"shipment {reference}: DHL BCS answered status {status.get('statusCode')} "
                    f"{status.get('statusText')!r} without a creation state",
                    system=SYSTEM,
                    code=str(status.get("statusCode")),
                )
            for state in states:
                label_status = (state.get("LabelData") or {}).get("Status") or {}
                code = int(label_status.get("statusCode") or 0)
                if code != 0 or not state.get("shipmentNumber"):
                    messages = [m for m in label_status.get("statusMessage") or [] if m]
                    text = "; ".join(messages) or str(label_status.get("statusText") or "")
                    raise PermanentError(
                        f"shipment {state.get('sequenceNumber') or reference}: DHL BCS rejected it "
                        f"(status {code}): {text}; correct the shipment in the ERP and release "
                        "it again",
                        system=SYSTEM,
                        code=str(code),
                    )
            return response

        return with_retries(attempt, self.create_policy)

    def delete_shipment_order(self, request: dict[str, Any]) -> dict[str, Any]:
        """Cancel shipments (``transforms.dhl_bcs.delete_request``); unknown numbers are in
        the response's DeletionState, not raised."""

        def attempt() -> dict[str, Any]:
            response = self._user_call(
                "deleteShipmentOrder", request, creates=False, reference=None
            )
            return response

        return with_retries(attempt, self.read_policy)

    def get_version(self) -> dict[str, Any]:
        """The service's version (a cheap health check that also proves HTTP Basic auth)."""

        def attempt() -> dict[str, Any]:
            return self._call("getVersion", dict(CLIENT_VERSION), creates=False, reference=None)

        return with_retries(attempt, self.read_policy)

    def close(self) -> None:
        """Close this thread's session."""
        self._clients.close()
