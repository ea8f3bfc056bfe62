"""A confirmed sale's goods are planned for the date the order asked (DTM+2), not for today.

Tryton plans the moves of a processed sale from the product's lead time and ignores the
sale's shipping date when the product has none (the sandbox's catalogue): its shipments would
leave today. ``create_sales`` moves them to the order's requested delivery date, on the
sandbox trytond, once: a rerun of the same orders writes nothing, and a rerun after a crash
between the confirmation and the move makes the move.
"""

from __future__ import annotations

import datetime as dt

import pytest

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
