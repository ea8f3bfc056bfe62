"""The mailbox side of inbound EDI: files that cannot be processed are quarantined with a
dead letter that names them, symlinks are reported once; nothing here stops other files."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from connectors.edi import FileResult
from connectors.edi.channels import InboxLink, Mailbox, shown
from hub.bootstrap import Hub
from hub.flows.edi_in import FLOW
from schemas.config import PartnerProfile

log = logging.getLogger(__name__)

QUARANTINED = "QuarantinedFile"
SYMLINK = "SymlinkInInbox"


def file_record(partner: str, digest: str) -> str:
    """Dead letter record of a quarantined file (by content)."""
    return f"file:{partner}:{digest}"


def quarantine_reason(result: FileResult) -> str:
    """Why a parsed file cannot be acknowledged at all (its first errors)."""
    errors = result.all_errors()
    if errors:
        return "; ".join(f"{e.message} [{e.where() or e.level}]" for e in errors[:3])
    return "no readable interchange (no UNB with a sender and a control reference)"


def quarantine(
    hub: Hub,
    profile: PartnerProfile,
    box: Mailbox,
    name: str,
    source: Path,
    digest: str,
    detail: dict[str, Any],
    reason: str,
) -> dict[str, Any]:
    """Keep a copy of the archived ``source`` under the hub's quarantine dir (copied, not
    read whole), file the dead letter, empty the inbox slot."""
    label = shown(name)
    target = hub.quarantine_dir / profile.id
    target.mkdir(parents=True, exist_ok=True)
    kept = target / f"{digest[:12]}-{label}"
    if not kept.exists():
        tmp = kept.with_name(f".{kept.name}.tmp")
        shutil.copyfile(source, tmp)
        os.replace(tmp, kept)
    hub.ledger.dead_letter(
        FLOW,
        file_record(profile.id, digest),
        f"{label}: quarantined, nothing could be acknowledged: {reason}",
        error_class=QUARANTINED,
        payload={
            "file": label,
            "partner": profile.id,
            "quarantined": str(kept),
            "archive": detail["archive"],
        },
        system="edi",
        partner=profile.id,
    )
    box.remove(name)
    detail.update(verdict="quarantined", reason=reason, quarantined=str(kept))
    return detail


def quarantine_unreadable(
    hub: Hub, profile: PartnerProfile, box: Mailbox, name: str, reason: str
) -> dict[str, Any]:
    """An inbox entry that cannot be read: move it aside when the channel can, dead letter."""
    label = shown(name)
    moved = box.quarantine(name, hub.quarantine_dir / profile.id)
    where = (
        f"moved to {moved}"
        if moved is not None
        else "left in the inbox (this channel cannot move it): remove or fix it there"
    )
    hub.ledger.dead_letter(
        FLOW,
        f"unreadable:{profile.id}:{label}",
        f"{label}: quarantined, it cannot be read: {reason}; {where}. Ask {profile.id} to "
        "send it again as a plain file",
        error_class=QUARANTINED,
        payload={
            "file": label,
            "partner": profile.id,
            "quarantined": str(moved) if moved else None,
            "archive": None,
        },
        system="edi",
        partner=profile.id,
    )
    log.warning("%s: quarantined, unreadable: %s", label, reason)
    return {
        "partner": profile.id,
        "file": label,
        "verdict": "quarantined",
        "reason": reason,
        "quarantined": str(moved) if moved else None,
    }


def report_links(hub: Hub, profile: PartnerProfile, links: list[InboxLink]) -> None:
    """A dead letter per symlink in the inbox (once: never again for the same link)."""
    if not links:
        return
    seen = {
        letter.record_key
        for letter in hub.ledger.dead_letters(
            state=None, flow=FLOW, partner=profile.id, error_class=SYMLINK
        )
    }
    for link in links:
        label, target = shown(link.name), shown(link.target)
        record = f"symlink:{profile.id}:{label}->{target}"
        if record in seen:
            continue
        hub.ledger.dead_letter(
            FLOW,
            record,
            f"{label} in the inbox of {profile.id} is a symbolic link to {target}: links are "
            "never followed (they could point anywhere on this host). Replace it with the "
            "file itself, or remove it; this is reported once",
            error_class=SYMLINK,
            payload={"file": label, "target": target, "partner": profile.id},
            system="edi",
            partner=profile.id,
        )
        log.warning("%s: symbolic link to %s in the inbox of %s, skipped", label, target,
                    profile.id)  # fmt: skip
