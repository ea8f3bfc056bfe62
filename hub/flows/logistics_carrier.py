"""The carrier port built from settings: DHL connectors from Airflow connections, in one place.

Secrets come from AIRFLOW_CONN_* (``hub.settings``), never from config/carrier.yaml. A
connection's ``extra.lookup_path`` names a look-up-by-reference endpoint where the carrier
endpoint offers one (the sandbox does; DHL's APIs do not), which lets the shipments flow ask
the carrier before booking again after an unknown outcome.
"""

from __future__ import annotations

from typing import Any

from connectors.carrier.bcs import BcsConnector, BcsSettings
from connectors.carrier.dhl import BcsCarrier, ExpressCarrier
from connectors.carrier.express import ExpressConnector, ExpressSettings
from connectors.carrier.lookup import LookupSettings, ReferenceLookup
from connectors.carrier.port import CarrierPort
from connectors.http import RetryPolicy
from hub import settings
from hub.flows.logistics_config import LogisticsConfig
from schemas.errors import PermanentError
from transforms.dhl_results import Carrier

# -- wiring from connections (secrets come from AIRFLOW_CONN_*, never from the YAML) ----------


def _require(conn: settings.ConnectionInfo, value: str | None, field: str, what: str) -> str:
    if not value:
        raise PermanentError(
            f"connection {conn.conn_id!r} has no {field} ({what}); set it in "
            f"{settings.env_var(conn.conn_id)} or in Airflow",
            system="settings",
        )
    return value


def _soap_settings(config: LogisticsConfig, conn: settings.ConnectionInfo) -> dict[str, Any]:
    """What every carrier SOAP connector takes from the config and its connection."""
    return {
        "operation_timeout": config.timeouts.operation_seconds,
        "load_timeout": config.timeouts.load_seconds,
        "connection_id": conn.conn_id,
    }


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
        **_soap_settings(config, conn),
    )
    return BcsConnector(
        bcs,
        read_policy=policy,
        create_policy=policy,
    )


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
        **_soap_settings(config, conn),
    )
    return ExpressConnector(
        express,
        read_policy=policy,
        create_policy=policy,
    )


def reference_lookup(
    config: LogisticsConfig, conn_id: str, carrier: Carrier
) -> ReferenceLookup | None:
    """The look-up by reference of connection ``conn_id``, when its extra names one."""
    conn = settings.connection(conn_id)
    path = conn.extra.get("lookup_path")
    if not path:
        return None
    return ReferenceLookup(
        LookupSettings(
            url=f"{conn.base_url('https')}/{str(path).strip('/')}",
            username=_require(conn, conn.login, "login", "the look-up user"),
            password=_require(conn, conn.password, "password", "the look-up password"),
            timeout=config.timeouts.operation_seconds,
        ),
        carrier=carrier,
    )


def carrier_for(config: LogisticsConfig) -> CarrierPort:
    """The carrier port of the configured profile (tracking through MyDHL Express, built
    when first used, so a BCS-only installation books without an Express connection)."""
    if config.profile.carrier == "dhl_bcs":
        return BcsCarrier(
            bcs_connector(config),
            config.profile,
            track_connector=lambda: express_connector(config),
            lookup=reference_lookup(config, config.connections.bcs, "dhl_bcs"),
        )
    return ExpressCarrier(
        express_connector(config),
        config.profile,
        lookup=reference_lookup(config, config.connections.express, "dhl_express"),
    )
