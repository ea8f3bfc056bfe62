"""Tryton's JSON-RPC wire format: Decimal, date and datetime as tagged objects, both ways."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any


def encode(value: Any) -> Any:
    """Python values to Tryton's JSON (``{"__class__": "Decimal", "decimal": "1.50"}`` ...)."""
    if isinstance(value, Decimal):
        return {"__class__": "Decimal", "decimal": str(value)}
    if isinstance(value, dt.datetime):
        return {
            "__class__": "datetime",
            "year": value.year,
            "month": value.month,
            "day": value.day,
            "hour": value.hour,
            "minute": value.minute,
            "second": value.second,
            "microsecond": value.microsecond,
        }
    if isinstance(value, dt.date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    return value


def decode(value: Any) -> Any:
    """Tryton's JSON back to Python values (Decimal, date, datetime, timedelta)."""
    if isinstance(value, dict):
        cls = value.get("__class__")
        if cls == "Decimal":
            return Decimal(value["decimal"])
        if cls == "date":
            return dt.date(value["year"], value["month"], value["day"])
        if cls == "datetime":
            return dt.datetime(
                value["year"],
                value["month"],
                value["day"],
                value["hour"],
                value["minute"],
                value["second"],
                value["microsecond"],
            )
        if cls == "timedelta":
            return dt.timedelta(seconds=value["seconds"])
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value
