"""A confirmed sale's goods are planned for the date the order asked (DTM+2), not for today.

Tryton plans the moves of a processed sale from the product's lead time and ignores the
sale's shipping date when the product has none (the sandbox's catalogue): its shipments would
leave today. ``create_sales`` moves them to the order's requested delivery date, on the
sandbox trytond, once: a rerun of the same orders writes nothing, and a rerun after a crash
between the confirmation and the move makes the move. The goods of a whole batch move in a
constant number of calls (``move_shipments_many``); a sale whose goods left is refused alone.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from connectors.erp import tryton_amendments
from connectors.erp.tryton import TrytonErp
from schemas.model import PartyRef, SalesOrder, SalesOrderChange
from tests.integration.test_amendment_date_crash import _dates as _goods
from tests.integration.test_erp_connector import CUSTOMERS, order
from tests.integration.test_erp_outcome_unknown import (  # noqa: F401 - fixtures
    LosingProxy,
    erp_via_proxy,
    proxy,
)

pytestmark = pytest.mark.integration

READS = ("search_read", "read", "search", "search_count", "get_preferences")


def _dated(number: str, days: int | None, *, buyer: int = 0) -> SalesOrder:
    """An order of three lines asking delivery ``days`` from today (None: no date asked)."""
    when = None if days is None else dt.date.today() + dt.timedelta(days=days)
    return order(number, buyer=buyer).model_copy(update={"requested_delivery_date": when})


def _writes(methods: list[str]) -> list[str]:
    """The calls of ``methods`` that are no read (nor the session's own)."""
    return [m for m in methods if m.startswith("model.") and m.rsplit(".", 1)[1] not in READS]


def test_goods_are_planned_for_the_requested_date_and_a_rerun_writes_nothing(
    erp: TrytonErp,
    erp_via_proxy: TrytonErp,  # noqa: F811 - the imported fixture
    proxy: LosingProxy,  # noqa: F811
    unique: str,
) -> None:
    """+11 days asked: every open shipment and move is planned for it and the sale reports
    it; no date asked: Tryton's plan (today) is kept; the same orders again: no write."""
    today, later = dt.date.today(), dt.date.today() + dt.timedelta(days=11)
    orders = [_dated(f"PO-{unique}-R", 11), _dated(f"PO-{unique}-N", None, buyer=1)]
    dated, undated = erp_via_proxy.create_sales(orders)
    assert "model.stock.shipment.out.write" in _writes(proxy.methods)  # the proxy sees writes
    assert dated.sale is not None and undated.sale is not None
    assert (dated.sale.state, undated.sale.state) == ("processing", "processing")
    assert dated.sale.delivery_date == later
    assert _goods(erp, int(dated.sale.erp_id or 0)) == ({later}, {later})
    assert undated.sale.delivery_date == today
    assert _goods(erp, int(undated.sale.erp_id or 0)) == ({today}, {today})
    assert erp.get_sales([dated.sale.erp_id or ""])[0].delivery_date == later

    before = len(proxy.methods)
    again = erp_via_proxy.create_sales(orders)
    assert [r.sale for r in again] == [
        r.sale.model_copy(update={"created": False}) for r in (dated, undated) if r.sale
    ]
    assert _writes(proxy.methods[before:]) == []
    assert _goods(erp, int(dated.sale.erp_id or 0)) == ({later}, {later})


def test_a_crash_between_confirmation_and_move_is_put_right_by_the_rerun(
    erp: TrytonErp, unique: str
) -> None:
    """The sale quoted by the hub and confirmed in the ERP, the hub gone before moving its
    goods (as a crash leaves it): the rerun of the order moves them to the asked date."""
    later = dt.date.today() + dt.timedelta(days=11)
    dated = _dated(f"PO-{unique}-C", 11)
    (quoted,) = erp.create_sales([dated], state="quotation")
    assert quoted.sale is not None and quoted.sale.erp_id is not None
    sale_id = int(quoted.sale.erp_id)
    erp.records.rpc.model("sale.sale", "confirm", [sale_id], idempotent=False)
    assert _goods(erp, sale_id)[0] == {dt.date.today()}  # Tryton's plan, not the order's

    (rerun,) = erp.create_sales([dated])
    assert rerun.sale is not None and not rerun.sale.created
    assert (rerun.sale.state, rerun.sale.delivery_date) == ("processing", later)
    assert _goods(erp, sale_id) == ({later}, {later})


def test_a_rerun_keeps_the_date_a_change_moved_the_goods_to(erp: TrytonErp, unique: str) -> None:
    """A change moved the processed sale's goods earlier than the order asked: a rerun of the
    order leaves them there (the buyer's latest word), and the sale reports that date."""
    sooner = dt.date.today() + dt.timedelta(days=5)
    dated = _dated(f"PO-{unique}-M", 11)
    (made,) = erp.create_sales([dated])
    assert made.sale is not None and made.sale.erp_id is not None
    change = SalesOrderChange(order_number=dated.order_number, change_number="1",
                              buyer=PartyRef(gln=CUSTOMERS[0].gln),
                              requested_delivery_date=sooner)  # fmt: skip
    assert erp.change_sale(made.sale.erp_id, change).delivery_date == sooner

    (rerun,) = erp.create_sales([dated])
    assert rerun.sale is not None and rerun.sale.delivery_date == sooner
    assert _goods(erp, int(made.sale.erp_id)) == ({sooner}, {sooner})


def test_a_batch_of_dated_orders_costs_as_many_calls_as_two(
    erp: TrytonErp,
    erp_via_proxy: TrytonErp,  # noqa: F811 - the imported fixture
    proxy: LosingProxy,  # noqa: F811
    unique: str,
) -> None:
    """Six orders asking two different dates cost the HTTP calls two such orders cost (the
    goods of all moved at once); every sale's shipments and moves are at its own date."""
    erp_via_proxy.create_sales([_dated(f"PO-{unique}-W", None)])  # login, cached look-ups
    days = [11, 17]

    def batch(tag: str, size: int) -> tuple[list[dt.date], int]:
        orders = [_dated(f"PO-{unique}-{tag}{k}", days[k % 2], buyer=k % 2) for k in range(size)]
        before = len(proxy.methods)
        results = erp_via_proxy.create_sales(orders)
        calls = len(proxy.methods) - before
        for result, asked in zip(results, orders, strict=True):
            when = asked.requested_delivery_date
            assert result.sale is not None and result.sale.state == "processing"
            assert result.sale.delivery_date == when
            assert _goods(erp, int(result.sale.erp_id or 0)) == ({when}, {when})
        assert _writes(proxy.methods[-calls:]).count("model.stock.shipment.out.write") == 1
        return [o.requested_delivery_date for o in orders if o.requested_delivery_date], calls

    (two, two_calls), (six, six_calls) = batch("T", 2), batch("S", 6)
    assert len(set(two)) == len(set(six)) == 2
    assert six_calls == two_calls


def test_a_sale_whose_goods_left_is_refused_alone_while_the_others_move(
    erp: TrytonErp,
    erp_operator: Any,
    erp_via_proxy: TrytonErp,  # noqa: F811 - the imported fixture
    proxy: LosingProxy,  # noqa: F811
    unique: str,
) -> None:
    """Three sales moved in one batch: the one whose goods are picked gets its own
    ``too_late`` refusal and keeps its plan; a draft shipment already at its date (a crash
    inside an earlier move) waits again; the others are moved; the same batch again writes
    nothing and refuses the same sale."""
    today = dt.date.today()
    soon, later = today + dt.timedelta(days=9), today + dt.timedelta(days=13)
    made = erp.create_sales([_dated(f"PO-{unique}-B{k}", None, buyer=k % 2) for k in range(3)])
    a, gone, c = (int(r.sale.erp_id or 0) for r in made if r.sale)
    picked = _shipments(erp_operator, gone)
    erp_operator.call("stock.shipment.out", "assign_force", picked)
    erp_operator.call("stock.shipment.out", "pick", picked)
    half = _shipments(erp_operator, c)  # moved, not waited again
    erp_operator.call("stock.shipment.out", "draft", half)
    erp_operator.call("stock.shipment.out", "write", half, {"planned_date": later})
    targets = {a: ("A", soon), gone: ("GONE", later), c: ("C", later)}

    refused = tryton_amendments.move_shipments_many(erp_via_proxy.records, targets)
    assert list(refused) == [gone] and refused[gone].code == "too_late"
    assert "sale GONE: shipment" in refused[gone].message
    assert _goods(erp, a) == ({soon}, {soon}) and _goods(erp, c) == ({later}, {later})
    states = erp.records.read("stock.shipment.out", picked + half, ["state"])
    assert sorted(r["state"] for r in states) == sorted(["picked"] * len(picked) + [
        "waiting"] * len(half))  # fmt: skip
    lines = erp.records.search_read("sale.line", [("sale", "=", gone)], [])
    moves = erp.records.search_read(
        "stock.move", [("origin", "in", [f"sale.line,{ln['id']}" for ln in lines])],
        ["planned_date"],
    )  # fmt: skip
    assert moves and {m["planned_date"] for m in moves} == {today}

    before = len(proxy.methods)
    again = tryton_amendments.move_shipments_many(erp_via_proxy.records, targets)
    assert list(again) == [gone] and _writes(proxy.methods[before:]) == []


def _shipments(operator: Any, sale_id: int) -> list[int]:
    """The sale's shipment ids, as the ERP's staff see them."""
    (sale,) = operator.call("sale.sale", "read", [sale_id], ["shipments"])
    return list(sale["shipments"])
