"""logistics_shipments follows the ops conventions: dry run, backfill, trace events."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

from connectors.erp.fake import FakeErp
from hub.bootstrap import Hub
from hub.flows import run_flow
from hub.flows.logistics import SHIPMENTS_STREAM
from hub.ledger import Ledger
from hub.ops.backfill import backfill
from hub.ops.trace import trace
from tests.unit.test_logistics_flow import (
    FakeBooker,
    FakeTracker,
    add_shipment,
    booker,
    config,
    erp,
    hub,
    tracker,
)

__all__ = ["booker", "config", "erp", "hub", "tracker"]  # fixtures of the flow's own tests


def rows(ledger: Ledger) -> dict[str, int]:
    return ledger.row_counts()


def test_dry_run_books_nothing_and_says_what_it_would(
    hub: Hub, erp: FakeErp, booker: FakeBooker
) -> None:
    for n in (1, 2):
        add_shipment(erp, n)
    add_shipment(erp, 3, state="draft")
    before = rows(hub.ledger)
    report = run_flow("logistics_shipments", hub=hub, dry_run=True)
    assert report["status"] == "dry_run" and report["would_booked"] == 2
    assert report["would"]["carrier.dhl_bcs"]["create_shipment"] == ["CS0001", "CS0002"]
    assert len(report["would"]["erp"]["set_shipment_tracking"]) == 2
    assert rows(hub.ledger) == before and sum(booker.calls.values()) == 0
    assert all(s.tracking_number is None for s in erp.shipments.values())
    assert not (hub.home / "labels").exists()


def test_backfill_keeps_the_live_cursor_and_only_writes_back_a_lost_tracking_number(
    hub: Hub, erp: FakeErp, booker: FakeBooker
) -> None:
    for n in (1, 2, 3):
        add_shipment(erp, n)
    run_flow("logistics_shipments", hub=hub)
    live = hub.ledger.cursor(SHIPMENTS_STREAM)
    since = erp.now - timedelta(days=1)
    writes = erp.calls

    quiet = backfill(hub, "logistics_shipments", since=since)
    assert quiet["booked"] == quiet["already_booked"] == quiet["written_back"] == 0
    assert hub.ledger.cursor(SHIPMENTS_STREAM) == live

    # the ERP lost shipment 2's tracking number: restored from a backup taken before it
    lost = erp.shipments["2"]
    assert lost.updated_at is not None
    erp.shipments["2"] = lost.model_copy(
        update={"tracking_number": None, "updated_at": lost.updated_at - timedelta(hours=1)}
    )
    assert run_flow("logistics_shipments", hub=hub)["written_back"] == 0  # behind the cursor
    live = hub.ledger.cursor(SHIPMENTS_STREAM)
    report = backfill(hub, "logistics_shipments", since=since, until=erp.now)
    assert (report["already_booked"], report["written_back"], report["booked"]) == (1, 1, 0)
    assert erp.shipments["2"].tracking_number == lost.tracking_number
    assert booker.calls == Counter({"CS0001": 1, "CS0002": 1, "CS0003": 1})  # never twice
    assert hub.ledger.cursor(SHIPMENTS_STREAM) == live
    assert erp.calls > writes


def test_booking_label_and_status_are_traced_by_order_and_tracking_number(
    hub: Hub, erp: FakeErp, tracker: FakeTracker
) -> None:
    add_shipment(erp, 1, order_numbers=("PO-5",))
    run_flow("logistics_shipments", hub=hub)
    number = erp.shipments["1"].tracking_number
    assert number is not None
    tracker.statuses[number] = "delivered"
    run_flow("logistics_tracking", hub=hub)
    data = trace(hub, number)
    assert data["orders"] == ["PO-5"] and data["tracking_numbers"] == [number]
    kinds = sorted(i["kind"] for i in data["timeline"])
    assert kinds == ["label.archived", "shipment.booked", "tracking.status"]
    label = next(i for i in data["timeline"] if i["kind"] == "label.archived")
    assert Path(label["document"]["path"]).is_file()
    status = next(i for i in data["timeline"] if i["kind"] == "tracking.status")
    assert status["state"] == "delivered" and trace(hub, "PO-5")["timeline"] == data["timeline"]
