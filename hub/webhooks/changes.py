"""Changed CRM objects: read from HubSpot's webhook events, named in a CRM DAG run's conf.

A webhook batch (``[{"objectId", "subscriptionType": "deal.propertyChange", ...}]``) names
changed objects; a DAG run triggered for them carries them as
``conf = {"changes": ["deals:1080", "companies:1003"]}`` (``type:id``, the CRM object type
and id), checked by the DAG's JSON schema when the run is created and again by the pull
(``parse_changes``), which reads the named companies and contacts by id: ``changes`` is a
parameter of the crm_pull and crm_sync flows in the flow registry.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from schemas.errors import PermanentError

CHANGES = "changes"  # the conf key of a CRM DAG run triggered by webhooks
# subscriptionType prefix -> CRM object type
OBJECTS = {"company": "companies", "contact": "contacts", "deal": "deals",
           "line_item": "line_items", "product": "products", "quote": "quotes"}  # fmt: skip
CHANGE_PATTERN = rf"^({'|'.join(OBJECTS.values())}):[0-9]+$"
CHANGES_SCHEMA: dict[str, Any] = {
    "type": ["null", "array"],
    "items": {"type": "string", "pattern": CHANGE_PATTERN},
    "maxItems": 10_000,
}


@dataclass(frozen=True)
class CrmChange:
    """One changed CRM object as a webhook event names it."""

    object_type: str
    object_id: str
    change: str  # creation, propertyChange, deletion, merge, associationChange ...

    @property
    def ref(self) -> str:
        """``type:id``, as a DAG run's conf names it."""
        return f"{self.object_type}:{self.object_id}"


def parse_events(body: bytes) -> list[CrmChange]:
    """The changed objects of a HubSpot event batch; a malformed batch is a ValueError."""
    events = json.loads(body)
    if not isinstance(events, list):
        raise ValueError("a webhook body is a JSON array of events")
    out = []
    for event in events:
        kind, _, change = str(event.get("subscriptionType", "")).partition(".")
        if kind in OBJECTS and event.get("objectId") is not None:
            out.append(CrmChange(OBJECTS[kind], str(event["objectId"]), change))
    return out


def conf_changes(changes: Iterable[CrmChange]) -> list[str]:
    """The ``changes`` of a DAG run's conf: each object once, sorted."""
    return sorted({c.ref for c in changes})


def parse_changes(raw: Any) -> list[tuple[str, str]]:
    """(object type, id) of a run's ``changes``; anything else is a PermanentError."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise PermanentError(
            f'conf {CHANGES}: expected a list like ["deals:1080"], got {type(raw).__name__}',
            system="airflow",
        )
    out = []
    for item in raw:
        kind, _, rid = str(item).partition(":")
        if kind not in OBJECTS.values() or not rid.isdigit():
            raise PermanentError(
                f"conf {CHANGES}: {item!r} is not 'type:id' with type one of "
                f"{', '.join(OBJECTS.values())} and a numeric CRM id",
                system="airflow",
            )
        out.append((kind, rid))
    return out
