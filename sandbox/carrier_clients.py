"""Our side of the sandbox carrier: the demo shipper's DHL profiles, a packed shipment, and
connector settings against a running ``SandboxCarrier`` (for tests and the benchmark)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from connectors.carrier.bcs import BcsSettings
from connectors.carrier.express import ExpressSettings
from sandbox.carrier import SandboxCarrier
from sandbox.carrier_soap import (
    BCS_DIR,
    BCS_WSDL,
    EXPRESS_DIR,
    EXPRESS_SHIP_WSDL,
    EXPRESS_TRACK_WSDL,
)
from schemas.model import Address, PartyRef, Shipment
from transforms.dhl_results import CarrierProfile, ShipperProfile

SHIPPER = ShipperProfile(
    company="Hub Demo GmbH",
    contact_person="Versand",
    street="Hafenstrasse 5",
    postal_code="20457",
    city="Hamburg",
    country="DE",
    phone="+49 40 1234567",
    email="versand@example.com",
)
BCS_PROFILE = CarrierProfile(
    carrier="dhl_bcs", account_number="22222222220101", product="V01PAK", shipper=SHIPPER
)
EXPRESS_PROFILE = CarrierProfile(
    carrier="dhl_express", account_number="123456789", product="N", shipper=SHIPPER
)


def make_shipment(
    number: str = "CS0001",
    postal_code: str = "53113",
    *,
    erp_id: str | None = None,
    **extra: object,
) -> Shipment:
    """A packed customer shipment (2.5 kg) to a German address, ready for the carrier."""
    return Shipment.model_validate(
        {
            "erp_id": erp_id or number.removeprefix("CS") or "1",
            "number": number,
            "state": "packed",
            "customer": PartyRef(erp_id="42", name="ACME AG"),
            "delivery_address": Address(
                name="ACME AG",
                street="Sträßchensweg 10",
                postal_code=postal_code,
                city="Bonn",
                country="DE",
            ),
            "weight_kg": Decimal("2.5"),
            **extra,
        }
    )


def bcs_settings(
    server: SandboxCarrier, contracts: Path, *, timeout: float = 3.0, **overrides: Any
) -> BcsSettings:
    """Settings for the BCS connector against ``server`` (local WSDL file, endpoint override)."""
    creds = server.credentials
    settings = BcsSettings(
        wsdl=str(contracts / BCS_DIR / BCS_WSDL), endpoint=server.bcs_url,
        app_id=creds.bcs_app_id, app_token=creds.bcs_app_token,
        user=creds.bcs_user, signature=creds.bcs_signature, operation_timeout=timeout,
    )  # fmt: skip
    return replace(settings, **overrides)


def express_settings(
    server: SandboxCarrier, contracts: Path, *, timeout: float = 3.0, **overrides: Any
) -> ExpressSettings:
    """Settings for the Express connector against ``server``."""
    creds = server.credentials
    ship, track = (
        str(contracts / EXPRESS_DIR / wsdl) for wsdl in (EXPRESS_SHIP_WSDL, EXPRESS_TRACK_WSDL)
    )
    settings = ExpressSettings(
        ship_wsdl=ship, ship_endpoint=server.express_ship_url,
        track_wsdl=track, track_endpoint=server.express_track_url,
        username=creds.express_username, password=creds.express_password, operation_timeout=timeout,
    )  # fmt: skip
    return replace(settings, **overrides)
