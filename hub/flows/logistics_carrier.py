"""The logistics flows' carrier ports: book a shipment, track numbers; DHL adapters behind them.

A port joins a SOAP connector and its pure mapping, so the flows speak the canonical model
and the carrier's errors (Transient / Permanent / OutcomeUnknown) pass through unchanged.
A further carrier is a further ``ShipmentBooker`` plus a profile, not a new flow.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime

from connectors.carrier.bcs import BcsConnector, BcsSettings
from connectors.carrier.express import ExpressConnector, ExpressSettings, message_stamp
from connectors.http import RetryPolicy
from hub import settings
from hub.flows.logistics_config import LogisticsConfig
from schemas.errors import PermanentError
from schemas.model import Shipment
from transforms import dhl_bcs, dhl_express
from transforms.dhl_results import CarrierLabel, CarrierProfile, TrackingReport


class ShipmentBooker(ABC):
    """Creates one carrier shipment (NOT idempotent at the carrier: the flow journals it)."""

    carrier: str

    @abstractmethod
    def book(self, shipment: Shipment, *, now: datetime) -> CarrierLabel:
        """The label of a new carrier shipment whose reference is ``shipment.number``.

        Raises PermanentError (rejected, e.g. address; credentials), TransientError (provably
        nothing was created) or OutcomeUnknownError (sent, answer lost: never resend blindly).
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release sessions."""


class ShipmentTracker(ABC):
    """Reads where shipments are (safe to repeat)."""

    @abstractmethod
    def track(self, numbers: Sequence[str], *, now: datetime) -> dict[str, TrackingReport]:
        """One report per number (``found=False`` for numbers the carrier does not know)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release sessions."""


class BcsBooker(ShipmentBooker):
    """DHL Parcel DE business customer shipping: one ShipmentOrder per call."""

    carrier = "dhl_bcs"

    def __init__(self, connector: BcsConnector, profile: CarrierProfile):
        self.connector = connector
        self.profile = profile

    def book(self, shipment: Shipment, *, now: datetime) -> CarrierLabel:
        request = dhl_bcs.create_request(shipment, self.profile, now.date())
        response = self.connector.create_shipment_order(request, reference=shipment.number)
        outcome = dhl_bcs.parse_create_response(response, [shipment.number])
        first = outcome.results[0] if outcome.results else None
        return _label(first, shipment, "DHL BCS", dhl_bcs.SYSTEM)

    def close(self) -> None:
        self.connector.close()


class ExpressBooker(ShipmentBooker):
    """MyDHL Express createShipmentRequest: one package per shipment."""

    carrier = "dhl_express"

    def __init__(self, connector: ExpressConnector, profile: CarrierProfile):
        self.connector = connector
        self.profile = profile

    def book(self, shipment: Shipment, *, now: datetime) -> CarrierLabel:
        message_time, message_reference = message_stamp()
        request = dhl_express.create_request(
            shipment,
            self.profile,
            ship_time=now,
            message_time=message_time,
            message_reference=message_reference,
        )
        response = self.connector.create_shipment(request, reference=shipment.number)
        result = dhl_express.parse_create_response(response, shipment.number)
        return _label(result, shipment, "DHL Express", dhl_express.SYSTEM)

    def close(self) -> None:
        self.connector.close()


class ExpressTracker(ShipmentTracker):
    """MyDHL Express trackShipmentRequest (waybills and BCS piece numbers alike)."""

    def __init__(self, connector: ExpressConnector):
        self.connector = connector

    def track(self, numbers: Sequence[str], *, now: datetime) -> dict[str, TrackingReport]:
        message_time, message_reference = message_stamp()
        request = dhl_express.track_request(
            numbers, message_time=message_time, message_reference=message_reference
        )
        return dhl_express.parse_track_response(self.connector.track(request), numbers)

    def close(self) -> None:
        self.connector.close()


def _label(result: object, shipment: Shipment, carrier: str, system: str) -> CarrierLabel:
    if isinstance(result, CarrierLabel):
        return result
    message = getattr(result, "message", "no creation state in the answer")
    raise PermanentError(
        f"shipment {shipment.number}: {carrier} rejected it: {message}; correct the shipment "
        "in the ERP and replay the dead letter",
        system=system,
        code="rejected",
    )


# -- wiring from connections (secrets come from AIRFLOW_CONN_*, never from the YAML) ----------


def _require(conn: settings.ConnectionInfo, value: str | None, field: str, what: str) -> str:
    if not value:
        raise PermanentError(
            f"connection {conn.conn_id!r} has no {field} ({what}); set it in "
            f"{settings.env_var(conn.conn_id)} or in Airflow",
            system="settings",
        )
    return value


def bcs_connector(config: LogisticsConfig, *, policy: RetryPolicy | None = None) -> BcsConnector:
    """The BCS connector from connection ``config.connections.bcs``."""
    conn = settings.connection(config.connections.bcs)
    _require(conn, conn.host, "host", "the BCS endpoint's host")
    endpoint = f"{conn.base_url('https')}/{(conn.schema or 'bcs').strip('/')}"
    bcs = BcsSettings(
        wsdl=config.wsdl_location(config.wsdl.bcs or conn.extra.get("wsdl"), endpoint),
        endpoint=endpoint,
        app_id=_require(conn, conn.login, "login", "the application id"),
        app_token=_require(conn, conn.password, "password", "the application token"),
        user=_require(conn, conn.extra.get("user"), "extra.user", "the business customer user"),
        signature=_require(
            conn, conn.extra.get("signature"), "extra.signature", "the user's signature"
        ),
        operation_timeout=config.timeouts.operation_seconds,
        load_timeout=config.timeouts.load_seconds,
        connection_id=conn.conn_id,
    )
    if policy is None:
        return BcsConnector(bcs)
    return BcsConnector(bcs, read_policy=policy, create_policy=policy)


def express_connector(
    config: LogisticsConfig, *, policy: RetryPolicy | None = None
) -> ExpressConnector:
    """The MyDHL Express connector from connection ``config.connections.express``."""
    conn = settings.connection(config.connections.express)
    _require(conn, conn.host, "host", "the MyDHL Express endpoint's host")
    base = conn.base_url("https")
    ship = f"{base}/{str(conn.extra.get('ship_path') or 'express/ship').strip('/')}"
    track = f"{base}/{str(conn.extra.get('track_path') or 'express/track').strip('/')}"
    express = ExpressSettings(
        ship_wsdl=config.wsdl_location(config.wsdl.express_ship, ship),
        track_wsdl=config.wsdl_location(config.wsdl.express_track, track),
        ship_endpoint=ship,
        track_endpoint=track,
        username=_require(conn, conn.login, "login", "the MyDHL username"),
        password=_require(conn, conn.password, "password", "the MyDHL password"),
        operation_timeout=config.timeouts.operation_seconds,
        load_timeout=config.timeouts.load_seconds,
        connection_id=conn.conn_id,
    )
    if policy is None:
        return ExpressConnector(express)
    return ExpressConnector(express, read_policy=policy, create_policy=policy)


def booker_for(config: LogisticsConfig) -> ShipmentBooker:
    """The booking port of the configured carrier."""
    if config.profile.carrier == "dhl_bcs":
        return BcsBooker(bcs_connector(config), config.profile)
    return ExpressBooker(express_connector(config), config.profile)


def tracker_for(config: LogisticsConfig) -> ShipmentTracker:
    """The tracking port (MyDHL Express tracks both APIs' numbers)."""
    return ExpressTracker(express_connector(config))
