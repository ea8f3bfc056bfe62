"""Stock-aware ORDRSP: per line accepted, changed quantity, backorder with a date or not
available, and the ERP sale made accordingly (issue 14.4)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.edi import EdifactReader, Message, validate
from connectors.erp.fake import FakeErp
from hub.bootstrap import Hub
from hub.flows.edi_inbound import edi_orders_inbound
from sandbox.partner import drop, orders_interchange
from schemas.model import PartyRef, SalesOrder, SalesOrderLine
from tests.fixtures.hub import hub_on
from tests.fixtures.ids import GTINS, NORD, US
from transforms.availability import plan


def _hub(tmp_path: Path, erp: FakeErp, backorder_days: int | None) -> Hub:
    base = hub_on(tmp_path, erp)
    nord = base.partners["kaufhaus-nord"].model_copy(
        update={"ordrsp_mode": "availability", "backorder_days": backorder_days}
    )
    return Hub(base.ledger, erp=erp, home=base.home,
               partners={**base.partners, "kaufhaus-nord": nord})  # fmt: skip


@pytest.fixture
def short(erp: FakeErp) -> FakeErp:
    """HUB-1001 has 100, HUB-1002 only 3, HUB-1003 none."""
    erp.stock[("HUB-1002", "WH")] = Decimal(3)
    erp.stock[("HUB-1003", "WH")] = Decimal(0)
    return erp


def _order(*quantities: int) -> SalesOrder:
    return SalesOrder(
        order_number="ST-1", order_date=dt.date(2026, 11, 2), buyer=PartyRef(gln=NORD),
        supplier=PartyRef(gln=US), currency="EUR",
        lines=tuple(SalesOrderLine(line_no=k, gtin=GTINS[k - 1], quantity=Decimal(q),
                                   unit_price=Decimal(10 + k))
                    for k, q in enumerate(quantities, start=1)),
    )  # fmt: skip


def _ordrsp(hub: Hub) -> Message:
    outbox: Path = hub.mailbox(hub.partners["kaufhaus-nord"]).outbox  # type: ignore[attr-defined]
    (path,) = [p for p in outbox.iterdir() if p.name.startswith("ORDRSP")]
    assert validate(path).verdict == "accepted", validate(path).to_dict()
    (msg,) = [e for e in EdifactReader(path.read_bytes()) if isinstance(e, Message)]
    return msg


def _lines(msg: Message) -> list[tuple[str, ...]]:
    """(line, action, QTY+21, QTY+83 or '', DTM+69 or '') per LIN."""
    rows: list[list[str]] = []
    for s in msg.segments:
        if s.tag == "LIN":
            rows.append([s.element(1), s.element(2), "", "", ""])
        elif s.tag == "QTY" and rows:
            rows[-1][2 if s.element(1, 1) == "21" else 3] = s.element(1, 2)
        elif s.tag == "DTM" and rows and s.element(1, 1) == "69":
            rows[-1][4] = s.element(1, 2)
    return [tuple(r) for r in rows]


def _run(hub: Hub, order: SalesOrder) -> dict[str, object]:
    inbox: Path = hub.mailbox(hub.partners["kaufhaus-nord"]).inbox  # type: ignore[attr-defined]
    drop(inbox, "o.edi", orders_interchange([order], sender=NORD, recipient=US, control_ref="5"))
    return edi_orders_inbound(hub)


@pytest.fixture
def backordering(tmp_path: Path, short: FakeErp) -> Iterator[Hub]:
    hub = _hub(tmp_path, short, backorder_days=10)
    yield hub
    hub.close()


def test_backorder_lines_keep_the_ordered_quantity_with_a_date(
    backordering: Hub, short: FakeErp
) -> None:
    report = _run(backordering, _order(5, 5, 2))
    assert report["orders_created"] == 1
    (sale,) = short.sales.values()
    assert [ln.quantity for ln in sale.lines] == [5, 5, 2]  # shipped now or later
    assert _lines(_ordrsp(backordering)) == [
        ("1", "5", "5", "", ""),
        ("2", "3", "3", "2", "20261112"),
        ("3", "3", "0", "2", "20261112"),
    ]


def test_without_backorders_short_lines_shrink_and_missing_ones_are_not_accepted(
    tmp_path: Path, short: FakeErp
) -> None:
    hub = _hub(tmp_path, short, backorder_days=None)
    _run(hub, _order(5, 5, 2))
    (sale,) = short.sales.values()
    assert [(ln.line_no, ln.quantity) for ln in sale.lines] == [(1, 5), (2, 3)]
    msg = _ordrsp(hub)
    assert next(s for s in msg.segments if s.tag == "BGM").element(3) == "4"  # changed
    assert _lines(msg) == [
        ("1", "5", "5", "", ""),
        ("2", "3", "3", "", ""),
        ("3", "7", "0", "", ""),
    ]
    hub.close()


def test_confirm_as_ordered_stays_the_default(hub: Hub, short: FakeErp) -> None:
    _run(hub, _order(5, 5, 2))
    (sale,) = short.sales.values()
    assert [ln.quantity for ln in sale.lines] == [5, 5, 2]
    assert [r[1] for r in _lines(_ordrsp(hub))] == ["5", "5", "5"]


def test_plan_shares_stock_between_orders_of_a_batch() -> None:
    order = _order(4).model_copy(update={"lines": (
        SalesOrderLine(line_no=1, product_code="A", quantity=Decimal(4)),)})  # fmt: skip
    stock = {"A": Decimal(6)}
    _, first = plan(order, stock, backorder_days=None)
    _, second = plan(order, stock, backorder_days=None)
    assert (first[1].status, second[1].status, second[1].now) == ("accepted", "changed", 2)
    none, third = plan(order, stock, backorder_days=None)
    assert none is None and third[1].status == "not_available"
