"""Invalid partner profiles as dead letters: one open letter per broken file, closed by
itself once the file is valid again (or removed), so a person is told and the rest runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hub.config import Partners

FLOW = "partner_config"


def sync_letters(ledger: Any, partners: Partners) -> dict[str, list[str]]:
    """File (or re-file) a dead letter per invalid profile and close the letters of files
    that are fine now. Returns the files ``filed`` and ``resolved``."""
    filed, resolved = [], []
    for path, error in sorted(partners.invalid.items()):
        ledger.dead_letter(
            FLOW,
            path,
            f"{error}. Partner profile skipped (the other partners keep running): fix the "
            "file, the next run reads it again (`hub partners check` shows the problem)",
            error_class="ConfigError",
            system="config",
            partner=Path(path).stem,
        )
        filed.append(path)
    for letter in ledger.dead_letters(state="open", flow=FLOW):
        if letter.record_key not in partners.invalid:
            ledger.close_dead_letter(
                letter.id, "resolved", by="hub", note="the profile file is valid again or gone"
            )
            resolved.append(letter.record_key)
    return {"filed": filed, "resolved": resolved}


def active_partners(wanted: str | None = None) -> list[str]:
    """The ids of active partners with a valid profile, for the inbound DAG's mapped tasks.

    Invalid profiles are filed as dead letters (and closed once fixed) and left out. A
    ``wanted`` partner that is unknown or whose profile is invalid is a PermanentError
    (the run's conf names it: fail at once, never retried)."""
    from hub.bootstrap import Hub
    from hub.config import load_partners
    from schemas.errors import PermanentError

    profiles = load_partners()
    hub = Hub.from_env()
    try:
        sync_letters(hub.ledger, profiles)
    finally:
        hub.close()
    if wanted is not None and wanted not in profiles:
        broken = [e for path, e in profiles.invalid.items() if Path(path).stem == wanted]
        why = f"its profile is invalid: {broken[0]}" if broken else "no such partner"
        raise PermanentError(
            f"unknown partner {wanted!r} in the run's conf ({why}); configured partners: "
            f"{', '.join(sorted(profiles)) or 'none'}",
            system="airflow",
        )
    return [p.id for p in profiles.values() if p.active and wanted in (None, p.id)]
