"""Dead letters for operators: list with filters, show one with its audit trail, discard.

Every operator action (replay, discard) leaves a row in ``dead_letter_audit``: who, when,
why and what came of it; the letter itself keeps its last state, ``resolved_by`` and
``resolution``.
"""

from __future__ import annotations

import getpass
import os
import re
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any, Unpack

from hub.ledger import DeadLetter, Ledger, utcnow
from hub.ledger.ops_events import AuditEntry
from schemas.errors import PermanentError
from transforms.keys import KeyError_, parse

STATES = ("open", "replayed", "resolved", "discarded")
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT = {"s": 1, "": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_age(text: str) -> timedelta:
    """``90s``, ``30m``, ``2h``, ``3d``, ``1w`` (a bare number is seconds)."""
    match = _AGE.match(text or "")
    if not match:
        raise PermanentError(
            f"age {text!r}: expected a number with s/m/h/d/w, e.g. 30m, 2h or 3d", system="cli"
        )
    return timedelta(seconds=float(match.group(1)) * _UNIT[match.group(2)])


def actor(by: str | None = None) -> str:
    """Who acts: --by, else $USER / the login name."""
    return by or os.environ.get("USER") or getpass.getuser()


def subject_of(record_key: str) -> str | None:
    """The business reference a dead letter's record key names: the key's subject for a hub
    key, else the part after its last ':' (document keys, file names with a partner)."""
    try:
        return parse(record_key).subject
    except KeyError_:
        head, sep, tail = record_key.rpartition(":")
        return tail if sep and head else None


def as_dict(letter: DeadLetter, now: datetime | None = None) -> dict[str, Any]:
    """A JSON-able letter with its age in seconds."""
    data = asdict(letter)
    data["age_seconds"] = int(((now or utcnow()) - letter.created_at).total_seconds())
    for key in ("created_at", "updated_at"):
        data[key] = data[key].isoformat()
    return data


def list_letters(
    ledger: Ledger,
    *,
    state: str | None = "open",
    flow: str | None = None,
    partner: str | None = None,
    error_class: str | None = None,
    older_than: timedelta | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Letters matching the filters, oldest first (state None or "all": every state)."""
    if state not in (None, "all", *STATES):
        raise PermanentError(
            f"state {state!r}: use one of {', '.join(STATES)} or all", system="cli"
        )
    now = utcnow()
    letters = ledger.dead_letters(
        state=None if state in (None, "all") else state,
        flow=flow,
        partner=partner,
        error_class=error_class,
        older_than=now - older_than if older_than else None,
        limit=limit,
    )
    return [as_dict(letter, now) for letter in letters]


def get(ledger: Ledger, letter_id: int) -> DeadLetter:
    """One letter, or an error naming how to find the right id."""
    letter = ledger.dead_letter_by_id(letter_id)
    if letter is None:
        raise PermanentError(
            f"dead letter {letter_id} does not exist; list them with `hub dead-letters list "
            "--state all`",
            system="ledger",
        )
    return letter


def show(ledger: Ledger, letter_id: int) -> dict[str, Any]:
    """One letter with its payload and its audit trail."""
    data = as_dict(get(ledger, letter_id))
    data["audit"] = audit_trail(ledger, letter_id)
    return data


def audit(ledger: Ledger, letter_id: int, **entry: Unpack[AuditEntry]) -> None:
    """Append one operator action to the letter's audit trail."""
    ledger.audit_dead_letter(letter_id, **entry)


def audit_trail(ledger: Ledger, letter_id: int) -> list[dict[str, Any]]:
    """Every action taken on a letter, oldest first."""
    return ledger.dead_letter_audit(letter_id)


def discard(
    ledger: Ledger, letter_id: int, *, reason: str, by: str | None = None
) -> dict[str, Any]:
    """Close a letter as discarded (nothing will be done for it), keeping who/when/why."""
    if not reason or not reason.strip():
        raise PermanentError(
            f"dead letter {letter_id}: a discard needs --reason (why nothing will be done)",
            system="cli",
        )
    letter = get(ledger, letter_id)
    who = actor(by)
    if letter.state != "open":
        audit(
            ledger,
            letter_id,
            action="discard",
            by=who,
            outcome="skipped",
            reason=reason,
            detail={"state": letter.state},
        )
        return {
            "id": letter_id,
            "outcome": "skipped",
            "detail": f"letter is {letter.state} already; nothing changed",
        }
    ledger.close_dead_letter(letter_id, "discarded", by=who, note=reason)
    audit(ledger, letter_id, action="discard", by=who, outcome="discarded", reason=reason)
    return {"id": letter_id, "outcome": "discarded", "by": who, "reason": reason}
