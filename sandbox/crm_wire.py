"""Sandbox CRM wire helpers: HubSpot's error body and its timestamp formats."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any


class CrmApiError(Exception):
    """A whole-request failure the HTTP layer turns into a HubSpot ``Error`` body."""

    def __init__(self, status: int, category: str, message: str, **context: list[str]) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.context = context

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "status": "error",
            "message": self.message,
            "correlationId": str(uuid.uuid4()),
            "category": self.category,
        }
        if self.context:
            out["context"] = self.context
        return out


def iso(ms: int) -> str:
    """Epoch milliseconds as HubSpot's ISO 8601 UTC timestamp with milliseconds."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{ms % 1000:03d}Z"
    )


def parse_ms(value: str) -> int | None:
    """Epoch milliseconds from either a digit string or an ISO 8601 timestamp."""
    value = value.strip()
    if value.lstrip("-").isdigit():
        return int(value)
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None
