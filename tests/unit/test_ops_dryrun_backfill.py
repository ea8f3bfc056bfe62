"""Dry run writes nothing anywhere; backfill re-syncs a window through the same ledger."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from connectors.erp.fake import FakeErp
from hub.bootstrap import Hub
from hub.flows import run_flow
from hub.flows.registry import WINDOW, FlowDescriptor, registered
from hub.ledger import utcnow
from hub.ops.backfill import backfill
from hub.ops.dryrun import dry_run
from sandbox.partner import drop, make_orders, orders_interchange
from schemas.errors import PermanentError
from schemas.model import Party, Product

NORD = "4300000000014"
US = "4006389999993"
LATE = "4006380000049"


def _product(i: int, gtin: str) -> Product:
    return Product(
        code=f"HUB-{i}", name=f"P{i}", gtin=gtin, list_price=Decimal("10.00") + i, currency="EUR"
    )


@pytest.fixture
def erp() -> FakeErp:
    fake = FakeErp()
    fake.add_product(_product(1, "4006380000018"), stock=100)
    fake.create_parties([Party(name="Kaufhaus Nord GmbH", gln=NORD, code="CUST-001")])
    return fake


def _box(hub: Hub) -> Any:
    return hub.mailbox(hub.partners["kaufhaus-nord"])


def _rows(hub: Hub) -> dict[str, int]:
    return hub.ledger.row_counts()


def _two_orders(erp: FakeErp, ref: str, late_second: bool = False) -> bytes:
    orders = make_orders(NORD, US, list(erp.products.values()), count=2, seed=2, lines=1)
    if late_second:
        line = orders[1].lines[0].model_copy(update={"gtin": LATE, "unit_price": Decimal("14")})
        orders[1] = orders[1].model_copy(update={"lines": (line,)})
    return orders_interchange(orders, sender=NORD, recipient=US, control_ref=ref)


def test_dry_run_says_what_it_would_do_and_moves_nothing(hub: Hub, erp: FakeErp) -> None:
    drop(_box(hub).inbox, "a.edi", _two_orders(erp, "5001", late_second=True))
    drop(_box(hub).inbox, "junk.txt", b"garbage")
    before = _rows(hub)
    report = run_flow("edi_orders_inbound", hub=hub, dry_run="true")
    assert report["status"] == "dry_run"
    assert (report["would_create"], report["would_refuse"], report["would_quarantine"]) == (1, 1, 1)
    assert len(report["would"]["erp"]["create_sale"]) == 1
    assert any("CONTRL" in s for s in report["would"]["edi"]["send"])
    assert any(LATE in d for d in report["would"]["ledger"]["dead_letters"])
    assert _rows(hub) == before  # not one ledger row, not even a run
    assert not erp.sales and not list(_box(hub).outbox.iterdir())
    assert sorted(p.name for p in _box(hub).inbox.iterdir()) == ["a.edi", "junk.txt"]
    assert not (hub.home / "archive").exists() and not (hub.home / "quarantine").exists()

    run_flow("edi_orders_inbound", hub=hub)
    drop(_box(hub).inbox, "again.edi", _two_orders(erp, "5002", late_second=True))
    again = dry_run(hub, "edi_orders_inbound")
    assert (again["would_create"], again["already_done"]) == (0, 1)  # journal says: done


def test_dry_run_of_a_flow_without_one_says_how_to_add_it(hub: Hub) -> None:
    with pytest.raises(PermanentError, match="has no dry run"):
        run_flow("erp_reference_check", hub=hub, dry_run=True)


def test_backfill_retries_refused_orders_of_the_window_only_once(hub: Hub, erp: FakeErp) -> None:
    drop(_box(hub).inbox, "a.edi", _two_orders(erp, "6001", late_second=True))
    run_flow("edi_orders_inbound", hub=hub)
    assert len(erp.sales) == 1 and len(hub.ledger.dead_letters()) == 1
    erp.add_product(_product(4, LATE), stock=5)  # the repaired master data
    since = utcnow() - timedelta(hours=1)
    preview = backfill(hub, "edi_orders_inbound", since=since, dry_run=True)
    assert preview["orders_created"] == 1 and len(erp.sales) == 1
    report = backfill(hub, "edi_orders_inbound", since=since)
    assert (report["orders_created"], report["orders_in_sync"]) == (1, 1)
    assert len(erp.sales) == 2 and hub.ledger.dead_letters() == []
    again = backfill(hub, "edi_orders_inbound", since=since)
    assert (again["orders_created"], again["orders_in_sync"]) == (0, 2) and len(erp.sales) == 2
    empty = backfill(hub, "edi_orders_inbound", since=utcnow() + timedelta(minutes=1))
    assert empty["interchanges"] == 0


def windowed_flow(
    hub: Hub,
    *,
    since: str | None = None,
    until: str | None = None,
    cursor_stream: str | None = None,
) -> dict[str, Any]:
    """A cursor-based flow following the backfill convention."""
    stream = cursor_stream or "test.live"
    with hub.ledger.transaction() as conn:
        hub.ledger.advance_cursor(stream, until or "9999", conn=conn)
    return {"status": "ok", "since": since, "stream": stream}


def test_backfill_of_a_cursor_flow_leaves_the_live_cursor_alone(hub: Hub) -> None:
    windowed = FlowDescriptor(
        "ops_windowed",
        "tests.unit.test_ops_dryrun_backfill:windowed_flow",
        "a cursor-based test flow",
        WINDOW,
        streams=("test.live",),
        backfill="cursor",
    )
    with hub.ledger.transaction() as conn:
        hub.ledger.advance_cursor("test.live", "2026-12-01", conn=conn)
    since = utcnow() - timedelta(days=30)
    with registered(windowed):
        report = backfill(hub, "ops_windowed", since=since, until=since + timedelta(days=1))
    assert report["stream"].startswith("backfill:ops_windowed:")
    assert hub.ledger.cursor("test.live")[0] == "2026-12-01"
    with pytest.raises(PermanentError, match="cannot be backfilled"):
        backfill(hub, "erp_reference_check", since=since)
