"""Sandbox CRM search: HubSpot's filter groups (AND inside, OR between), operators and sorts."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from sandbox.crm_wire import CrmApiError, parse_ms

if TYPE_CHECKING:
    from sandbox.crm_store import Record

DATE_PROPERTIES = frozenset({"createdate", "hs_lastmodifieddate", "lastmodifieddate"})


def sort_spec(spec: Any) -> tuple[str, bool]:
    """Sorts are strings in the spec (``prop``, ``-prop``); the live API also takes objects."""
    if isinstance(spec, dict):
        return str(spec.get("propertyName", "")), spec.get("direction") == "DESCENDING"
    text = str(spec)
    return (text[1:], True) if text.startswith("-") else (text, False)


def sort_key(rec: Record, prop: str) -> tuple[Any, ...]:
    if not prop or prop == "hs_object_id":
        return (0, int(rec.id), "")
    if prop in ("hs_lastmodifieddate", "lastmodifieddate"):
        return (0, rec.updated_ms, int(rec.id))
    if prop == "createdate":
        return (0, rec.created_ms, int(rec.id))
    value = rec.props.get(prop)
    if value is None:
        return (2, 0, "")
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0, value.lower())


def _prop_value(rec: Record, prop: str) -> Any:
    if prop in ("hs_lastmodifieddate", "lastmodifieddate"):
        return rec.updated_ms
    if prop == "createdate":
        return rec.created_ms
    if prop == "hs_object_id":
        return int(rec.id)
    return rec.props.get(prop)


def _coerce(prop: str, current: Any, raw: str) -> Any:
    if isinstance(current, int):
        parsed = parse_ms(raw) if prop in DATE_PROPERTIES else None
        if parsed is not None:
            return parsed
        try:
            return int(raw)
        except ValueError:
            return None
    if isinstance(current, str):
        try:
            float(current)
            return float(raw)
        except ValueError:
            return raw.lower()
    return raw


def matches(rec: Record, groups: list[dict[str, Any]]) -> bool:
    if not groups:
        return True
    return any(all(_match(rec, f) for f in group.get("filters") or []) for group in groups)


def _match(rec: Record, flt: dict[str, Any]) -> bool:
    prop, op = flt["propertyName"], flt["operator"]
    current = _prop_value(rec, prop)
    if op == "HAS_PROPERTY":
        return current is not None
    if op == "NOT_HAS_PROPERTY":
        return current is None
    if current is None:
        return op in ("NEQ", "NOT_IN")
    left = current.lower() if isinstance(current, str) else current
    if isinstance(left, str):
        with contextlib.suppress(ValueError):
            left = float(left)
    if op in ("IN", "NOT_IN"):
        values = [_coerce(prop, current, str(v)) for v in flt.get("values") or []]
        return (left in values) == (op == "IN")
    right = _coerce(prop, current, str(flt.get("value", "")))
    if right is None:
        return False
    try:
        if op == "EQ":
            return left == right
        if op == "NEQ":
            return left != right
        if op == "GT":
            return left > right
        if op == "GTE":
            return left >= right
        if op == "LT":
            return left < right
        if op == "LTE":
            return left <= right
        if op == "BETWEEN":
            high = _coerce(prop, current, str(flt.get("highValue", "")))
            return right <= left <= high
        if op == "CONTAINS_TOKEN":
            return str(flt.get("value", "")).lower().strip("*") in str(current).lower()
    except TypeError:
        return False
    raise CrmApiError(400, "VALIDATION_ERROR", f"Unsupported filter operator {op} on {prop}")
