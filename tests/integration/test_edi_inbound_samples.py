"""Every real sample interchange through the inbound flow: accepted, rejected or quarantined.

Partner profiles are made for the samples' senders that a real profile could name (a valid
GLN when the qualifier is 14); each file goes to the inbox of the partner that sent it, or,
when no profile can name its sender, to another partner's inbox. Files in must equal
accepted + rejected + quarantined, every rejection must have been answered (CONTRL/APERAK)
and every quarantine must have a dead letter a person can act on; nothing stays in an inbox.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from stdnum import ean

from connectors.edi import EdifactReader, InterchangeHeader
from hub.bootstrap import Hub
from hub.flows.edi_inbound import edi_orders_inbound
from schemas.config import PartnerProfile
from tests.fixtures.hub import fake_catalogue_erp, hub_on

pytestmark = pytest.mark.integration


def _first_unb(data: bytes) -> tuple[str, str, str, str] | None:
    try:
        for event in EdifactReader(data, policy="lenient"):
            if isinstance(event, InterchangeHeader):
                unb = event.unb
                return unb.element(2, 1), unb.element(2, 2), unb.element(3, 1), unb.element(3, 2)
    except Exception:  # noqa: BLE001 - an unreadable file simply has no sender
        return None
    return None


def _nameable(ident: str, qualifier: str) -> bool:
    if qualifier == "14":
        return len(ident) == 13 and ident.isdigit() and ean.is_valid(ident)
    return bool(ident) and len(ident) <= 35


def test_every_sample_file_ends_accepted_rejected_or_quarantined(
    shared_dir: Path, tmp_path: Path
) -> None:
    samples = sorted(
        p
        for p in (shared_dir / "samples" / "edifact").rglob("*")
        if p.is_file() and p.suffix != ".md"
    )
    assert len(samples) >= 30
    profiles: dict[str, PartnerProfile] = {}
    routed: dict[Path, str] = {}
    for path in samples:
        unb = _first_unb(path.read_bytes())
        if unb is None or not (_nameable(unb[0], unb[1]) and _nameable(unb[2], unb[3])):
            continue
        pid = f"p-{unb[0].lower()}"[:40].replace(" ", "")
        profiles.setdefault(
            pid,
            PartnerProfile.model_validate(
                {
                    "id": pid,
                    "name": f"sample sender {unb[0]}",
                    "unb": {
                        "partner_id": unb[0],
                        "partner_qualifier": unb[1],
                        "our_id": unb[2],
                        "our_qualifier": unb[3],
                    },
                    "messages": [{"type": "ORDERS", "release": "96A", "association": "EAN008"}],
                    "charset_policy": "utf8-fallback",
                    "channel": {"min_age_seconds": 0},
                }
            ),
        )
        routed[path] = pid
    catch_all = PartnerProfile.model_validate(
        {
            "id": "catch-all",
            "name": "a partner whose inbox received files it did not send",
            "unb": {"partner_id": "4300000000014", "our_id": "4006389999993"},
            "messages": [{"type": "ORDERS", "release": "96A", "association": "EAN008"}],
            "channel": {"min_age_seconds": 0},
        }
    )
    profiles[catch_all.id] = catch_all
    assert len(profiles) >= 5, "the samples should name several usable senders"

    hub = hub_on(tmp_path, fake_catalogue_erp())
    hub = Hub(hub.ledger, erp=hub.erp, home=hub.home, partners=profiles)
    for i, path in enumerate(samples):
        box = hub.mailbox(profiles[routed.get(path, catch_all.id)])
        (box.inbox / f"{i:02d}-{path.name}").write_bytes(path.read_bytes())  # type: ignore[attr-defined]

    report = edi_orders_inbound(hub)

    assert report["files"] == len(samples)
    assert report["accepted"] + report["rejected"] + report["quarantined"] == len(samples)
    assert report["quarantined"] >= 1 and report["rejected"] >= 1
    for profile in profiles.values():
        assert not list(hub.mailbox(profile).inbox.iterdir()), profile.id  # type: ignore[attr-defined]
    letters = hub.ledger.dead_letters(flow="edi_orders_inbound")
    quarantined = [d for d in report["details"] if d["verdict"] == "quarantined"]
    by_key = {d.record_key for d in letters if d.error_class == "QuarantinedFile"}
    for detail in quarantined:
        assert f"file:{detail['partner']}:{detail['sha256']}" in by_key, detail["file"]
        assert detail["reason"], detail["file"]
    for detail in (d for d in report["details"] if d["verdict"] == "rejected"):
        outbox = hub.mailbox(profiles[detail["partner"]]).outbox  # type: ignore[attr-defined]
        answers = [p.name for p in outbox.iterdir() if p.name.startswith(("CONTRL", "APERAK"))]
        assert answers, f"{detail['file']} was rejected without a CONTRL or APERAK"
    # the quarantined bytes are kept for a person to look at, the raw files archived
    assert len(list(hub.quarantine_dir.rglob("*.*"))) >= len(quarantined)
    assert len(list((hub.home / "archive").rglob("*.edi"))) >= len(samples) - 1
