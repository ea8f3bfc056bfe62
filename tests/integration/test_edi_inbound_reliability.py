"""Nothing a partner does blocks the inbound flow: re-sent orders, bad names, unreadable
entries and symlinks among good files (issue 11, items 1, 2 and 7)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from connectors.edi.channels import LocalMailbox, sha256
from connectors.erp.fake import FakeErp
from hub.bootstrap import Hub
from hub.flows.edi_inbound import edi_orders_inbound
from hub.ledger import utcnow
from sandbox.partner import drop, make_orders, orders_interchange
from tests.fixtures.hub import NORD, US, fake_erp_fixture, fake_hub_fixture  # noqa: F401

pytestmark = pytest.mark.integration

PARTNER = "kaufhaus-nord"


def _box(hub: Hub) -> LocalMailbox:
    box = hub.mailbox(hub.partners[PARTNER])
    assert isinstance(box, LocalMailbox)
    return box


def _orders(erp: FakeErp, ref: str, seed: int, count: int = 1) -> bytes:
    orders = make_orders(NORD, US, list(erp.products.values()), count=count, seed=seed)
    return orders_interchange(orders, sender=NORD, recipient=US, control_ref=ref)


def _age(path: Path | bytes, seconds: float = 60) -> None:
    past = utcnow().timestamp() - seconds
    os.utime(path, (past, past), follow_symlinks=False)


def test_resent_order_in_a_new_interchange_gets_its_first_ordrsp_and_blocks_nothing(
    hub: Hub, erp: FakeErp
) -> None:
    first = _orders(erp, "2001", seed=1)
    # the first file arrived yesterday (registered by a run that stopped right after): its
    # interchange is dated a day before the re-sent copy's (ORDRSP bytes differed by it)
    hub.ledger.record_interchange(PARTNER, "in", "2001", sha256(first), file_name="a.edi")
    hub.ledger.update_interchange(PARTNER, "in", "2001", created_at=utcnow() - timedelta(days=1))
    drop(_box(hub).inbox, "a.edi", first)
    assert edi_orders_inbound(hub)["orders_created"] == 1
    ordrsp = {p.name: p.read_bytes() for p in _box(hub).outbox.glob("ORDRSP_*")}
    assert len(ordrsp) == 1

    drop(_box(hub).inbox, "a-again.edi", _orders(erp, "2002", seed=1), age_seconds=120)
    drop(_box(hub).inbox, "b.edi", _orders(erp, "2003", seed=2))
    report = edi_orders_inbound(hub)  # raised "outbox already holds ORDRSP_..." before

    assert (report["files"], report["accepted"]) == (2, 2)
    assert (report["orders_existing"], report["orders_created"]) == (1, 1)
    assert sorted(s.reference for s in erp.sales.values()) == ["PO00100000", "PO00200000"]
    assert not list(_box(hub).inbox.iterdir())
    again = {p.name: p.read_bytes() for p in _box(hub).outbox.glob("ORDRSP_*")}
    assert len(again) == 2 and all(again[name] == data for name, data in ordrsp.items())
    assert hub.ledger.dead_letters() == []

    for path in _box(hub).outbox.glob("ORDRSP_*"):
        path.unlink()  # the partner fetched them; then re-sends the order once more
    drop(_box(hub).inbox, "a-third.edi", _orders(erp, "2004", seed=1))
    assert edi_orders_inbound(hub)["orders_existing"] == 1
    assert {p.name: p.read_bytes() for p in _box(hub).outbox.glob("ORDRSP_*")} == ordrsp


def test_bad_names_and_unreadable_entries_are_quarantined_and_good_files_go_on(
    hub: Hub, erp: FakeErp
) -> None:
    inbox = _box(hub).inbox
    drop(inbox, "a-good.edi", _orders(erp, "3001", seed=1), age_seconds=300)
    latin1 = os.path.join(os.fsencode(inbox), b"orders_\xe9t\xe9.edi")
    with open(latin1, "wb") as fh:
        fh.write(_orders(erp, "3002", seed=2))
    _age(latin1, 240)
    os.mkfifo(inbox / "orders-fifo.edi")  # reading it would block, even for root
    _age(inbox / "orders-fifo.edi", 200)
    (inbox / "orders-dir.edi").mkdir()  # a directory named like a file: no read, even for root
    _age(inbox / "orders-dir.edi", 150)
    drop(inbox, "z-good.edi", _orders(erp, "3003", seed=3), age_seconds=100)

    report = edi_orders_inbound(hub)

    assert (report["files"], report["accepted"], report["quarantined"]) == (5, 2, 3)
    assert sorted(s.reference for s in erp.sales.values()) == ["PO00100000", "PO00300000"]
    assert os.listdir(inbox) == []
    letters = {d.reason.split(":")[0]: d for d in hub.ledger.dead_letters()}
    assert set(letters) == {"orders_\\xe9t\\xe9.edi", "orders-fifo.edi", "orders-dir.edi"}
    assert all(d.error_class == "QuarantinedFile" for d in letters.values())
    assert "not UTF-8" in letters["orders_\\xe9t\\xe9.edi"].reason
    assert "a FIFO" in letters["orders-fifo.edi"].reason
    assert "a directory" in letters["orders-dir.edi"].reason
    kept = {p.name for p in (hub.quarantine_dir / PARTNER).iterdir()}
    assert {"orders-fifo.edi", "orders-dir.edi"} <= kept
    assert any(name.endswith("-orders_\\xe9t\\xe9.edi") for name in kept)

    again = edi_orders_inbound(hub)
    assert again["files"] == 0 and len(hub.ledger.dead_letters()) == 3


def test_a_symlink_in_the_inbox_is_reported_once_and_never_followed(
    hub: Hub, erp: FakeErp, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.edi"
    outside.write_bytes(_orders(erp, "4001", seed=1))
    (_box(hub).inbox / "link.edi").symlink_to(outside)
    _age(_box(hub).inbox / "link.edi")
    drop(_box(hub).inbox, "good.edi", _orders(erp, "4002", seed=2))
    report = edi_orders_inbound(hub)
    assert (report["files"], report["orders_created"]) == (1, 1)
    edi_orders_inbound(hub)
    letters = hub.ledger.dead_letters()
    assert [d.error_class for d in letters] == ["SymlinkInInbox"]
    assert "link.edi" in letters[0].reason and str(outside) in letters[0].reason
    assert letters[0].attempts == 1  # reported once, not every run
    assert (_box(hub).inbox / "link.edi").is_symlink() and len(erp.sales) == 1


def test_a_file_that_fails_for_its_own_reason_is_quarantined_and_the_others_go_on(
    hub: Hub, erp: FakeErp
) -> None:
    box = _box(hub)
    # a stranger's file holds the name our first CONTRL will get: sending it is a conflict
    (box.outbox / "CONTRL_kaufhaus-nord_000000001.edi").write_bytes(b"not ours")
    bad = _orders(erp, "5001", seed=1).replace(b"UNT+", b"UNT+99", 1)
    drop(box.inbox, "a-bad.edi", bad, age_seconds=120)
    drop(box.inbox, "b-good.edi", _orders(erp, "5002", seed=2))
    report = edi_orders_inbound(hub)
    assert (report["files"], report["quarantined"], report["accepted"]) == (2, 1, 1)
    assert [s.reference for s in erp.sales.values()] == ["PO00200000"]
    assert not list(box.inbox.iterdir())
    [letter] = hub.ledger.dead_letters()
    assert letter.error_class == "QuarantinedFile" and letter.reason.startswith("a-bad.edi:")
    assert "ConflictError" in letter.reason and "outbox already holds" in letter.reason


def test_a_resent_order_after_a_profile_change_leaves_the_earlier_ordrsp_and_goes_on(
    hub: Hub, erp: FakeErp
) -> None:
    drop(_box(hub).inbox, "a.edi", _orders(erp, "6001", seed=1))
    edi_orders_inbound(hub)
    first = {p.name: p.read_bytes() for p in _box(hub).outbox.glob("ORDRSP_*")}
    shipped = hub.partners[PARTNER]
    changed = shipped.model_copy(
        update={"outbound": shipped.outbound.model_copy(update={"segment_per_line": False})}
    )
    later = Hub(hub.ledger, erp=erp, home=hub.home, partners={PARTNER: changed})
    drop(_box(later).inbox, "a-again.edi", _orders(erp, "6002", seed=1), age_seconds=120)
    drop(_box(later).inbox, "b.edi", _orders(erp, "6003", seed=2))
    report = edi_orders_inbound(later)
    assert (report["accepted"], report["orders_existing"], report["orders_created"]) == (2, 1, 1)
    assert {n: d for n, d in first.items()} == {
        p.name: p.read_bytes() for p in _box(later).outbox.glob("ORDRSP_*") if p.name in first
    }
    assert not list(_box(later).inbox.iterdir()) and later.ledger.dead_letters() == []
