"""Logistics flows' configuration: config/carrier.yaml, validated at load, errors name fields."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hub import settings
from hub.config import load_model
from transforms.dhl_express import MAX_TRACK_NUMBERS
from transforms.dhl_results import CarrierProfile

CONFIG_FILE = "carrier.yaml"
ShipmentReadyState = Literal["draft", "waiting", "assigned", "picked", "packed"]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CarrierConnections(_Config):
    """Airflow connection ids holding the carriers' endpoints and credentials."""

    bcs: str = "hub_carrier_bcs"
    express: str = "hub_carrier_express"


class WsdlLocations(_Config):
    """Where each WSDL is read from; None means ``<endpoint>?wsdl`` from the connection."""

    bcs: str | None = None
    express_ship: str | None = None
    express_track: str | None = None


class Timeouts(_Config):
    """Seconds per SOAP call and for loading a WSDL (once per process)."""

    operation_seconds: float = Field(default=30.0, gt=0)
    load_seconds: float = Field(default=10.0, gt=0)


class ShipmentsSettings(_Config):
    """Which ERP shipments go to the carrier, how many per round, where labels are archived."""

    ready_states: tuple[ShipmentReadyState, ...] = ("assigned", "picked", "packed")
    batch_size: int = Field(default=100, ge=1, le=1000)
    label_dir: str = "labels"
    max_consecutive_failures: int = Field(default=3, ge=1)
    # circuit breaker: this many bookings in a row with an unknown outcome (an endpoint
    # answering HTML or a DTD, timeouts after sending) stop the run instead of going on
    max_consecutive_unknown: int = Field(default=3, ge=1)

    @field_validator("label_dir")
    @classmethod
    def _relative(cls, value: str) -> str:
        if Path(value).is_absolute() or ".." in Path(value).parts:
            raise ValueError("must be a path relative to the hub home, without '..'")
        return value


class TrackingSettings(_Config):
    """How many tracking numbers one trackShipmentRequest carries."""

    batch_size: int = Field(default=50, ge=1, le=MAX_TRACK_NUMBERS)


class LogisticsConfig(_Config):
    """config/carrier.yaml: the booking carrier's profile, connections, WSDLs and batch sizes."""

    profile: CarrierProfile
    connections: CarrierConnections = CarrierConnections()
    wsdl: WsdlLocations = WsdlLocations()
    timeouts: Timeouts = Timeouts()
    shipments: ShipmentsSettings = ShipmentsSettings()
    tracking: TrackingSettings = TrackingSettings()
    base_dir: Path | None = Field(default=None, exclude=True)

    def wsdl_location(self, value: str | None, endpoint: str) -> str:
        """A configured WSDL (URL, or path relative to the config folder), else endpoint?wsdl."""
        if not value:
            return f"{endpoint}?wsdl"
        if "://" in value or Path(value).is_absolute() or self.base_dir is None:
            return value
        return str(self.base_dir / value)


def load_logistics_config(path: Path | None = None) -> LogisticsConfig:
    """config/carrier.yaml (or ``path``); a ConfigError names the file and every bad field."""
    path = path or settings.config_dir() / CONFIG_FILE
    config = load_model(
        path,
        LogisticsConfig,
        missing=f"carrier profile not found; copy config/{CONFIG_FILE} from the project "
        "or set HUB_CONFIG_DIR to the folder holding it",
    )
    return config.model_copy(update={"base_dir": path.parent})
