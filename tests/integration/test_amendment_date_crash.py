"""A crash between a processed sale's amendment and its goods' date: the rerun gives it back.

Tryton plans the goods of amended lines anew (for today); the connector then moves the
sale's open shipments back to the date they had. Here the amendment is validated on the
sandbox trytond but the hub never hears of it (a loopback proxy loses every answer to
``validate_amendment``), so that move never runs: the rerun of the change must make it, from
the date written in the amendment, with no second amendment.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from connectors.erp import tryton_adjustments, tryton_amendments
from connectors.erp.tryton import TrytonErp
from schemas.errors import HubError
from schemas.model import PartyRef, SalesOrderChange, SalesOrderLineChange
from tests.fixtures.erp import FAST_POLICY
from tests.integration.test_erp_connector import CUSTOMERS, order
from tests.integration.test_erp_outcome_unknown import (  # noqa: F401 - fixtures
    LosingProxy,
    erp_via_proxy,
    proxy,
)

pytestmark = pytest.mark.integration

VALIDATE = "model.sale.amendment.validate_amendment"
OPEN = ("draft", "waiting")


def _dated_sale(erp: TrytonErp, number: str, when: dt.date) -> int:
    """A processed sale of three lines (2, 3, 4) whose goods a change moved to ``when``."""
    (made,) = erp.create_sales([order(number)])
    assert made.sale is not None and made.sale.erp_id is not None
    assert made.sale.state == "processing"
    moved = SalesOrderChange(order_number=number, change_number="0",
                             buyer=PartyRef(gln=CUSTOMERS[0].gln),
                             requested_delivery_date=when)  # fmt: skip
    erp.change_sale(made.sale.erp_id, moved)
    sale_id = int(made.sale.erp_id)
    assert _dates(erp, sale_id) == ({when}, {when})
    return sale_id


def _dates(erp: TrytonErp, sale_id: int) -> tuple[set[Any], set[Any]]:
    """The planned dates of the sale's open shipments and of every move of its lines."""
    records = erp.records
    (sale,) = records.read("sale.sale", [sale_id], ["shipments"])
    shipments = records.read("stock.shipment.out", sale["shipments"], ["state", "planned_date"])
    lines = records.search_read("sale.line", [("sale", "=", sale_id)], [])
    moves = records.search_read(
        "stock.move", [("origin", "in", [f"sale.line,{ln['id']}" for ln in lines])],
        ["planned_date"],
    )  # fmt: skip
    assert moves and any(s["state"] in OPEN for s in shipments)
    return {s["planned_date"] for s in shipments if s["state"] in OPEN}, {
        m["planned_date"] for m in moves
    }


def _amendments(erp: TrytonErp, sale_id: int) -> list[dict[str, Any]]:
    return erp.records.search_read(
        "sale.amendment", [("sale", "=", sale_id)], ["state", "description"]
    )


def _change(number: str) -> SalesOrderChange:
    """Line 1 to 7 pieces, line 3 deleted (kept at 0 on a processed sale)."""
    return SalesOrderChange(
        order_number=number, change_number="1", buyer=PartyRef(gln=CUSTOMERS[0].gln),
        lines=(SalesOrderLineChange(line_no=1, action="change", quantity=Decimal(7)),
               SalesOrderLineChange(line_no=3, action="delete")),
    )  # fmt: skip


AS_ASKED = [(1, Decimal(7)), (2, Decimal(3)), (3, Decimal(0))]


def test_a_lost_validation_answer_leaves_the_date_to_the_rerun(
    erp: TrytonErp,
    erp_via_proxy: TrytonErp,  # noqa: F811 - the imported fixture
    proxy: LosingProxy,  # noqa: F811
    unique: str,
) -> None:
    """Every answer to ``validate_amendment`` lost (trytond committed it): the change fails
    with the goods planned for today; the rerun finds the validated amendment, makes no other
    and moves every open shipment and move back to +11 days; a third run changes nothing."""
    number, later = f"PO-{unique}-X", dt.date.today() + dt.timedelta(days=11)
    sale_id = _dated_sale(erp, number, later)
    change = _change(number)
    proxy.lose(VALIDATE, times=FAST_POLICY.attempts)
    with pytest.raises(HubError):
        erp_via_proxy.change_sale(str(sale_id), change)
    assert proxy.lost == [VALIDATE] * FAST_POLICY.attempts
    # what the crash left: the amendment validated, the goods re-planned by Tryton
    assert [a["state"] for a in _amendments(erp, sale_id)] == ["validated"]
    shipment_dates, move_dates = _dates(erp, sale_id)
    assert later not in shipment_dates and move_dates != {later}

    rerun = erp.change_sale(str(sale_id), change)
    assert [(ln.line_no, ln.quantity) for ln in rerun.lines] == AS_ASKED
    assert rerun.state == "processing" and rerun.delivery_date == later
    assert _dates(erp, sale_id) == ({later}, {later})
    (amendment,) = _amendments(erp, sale_id)
    assert amendment["state"] == "validated"
    assert amendment["description"].startswith(tryton_amendments.marker(change))
    assert erp.change_sale(str(sale_id), change) == rerun
    assert len(_amendments(erp, sale_id)) == 1


def test_an_amendment_of_an_older_version_is_found_and_finished(
    erp: TrytonErp, unique: str
) -> None:
    """An amendment left in draft by a version that described it with the marker alone (a
    crash before its validation): the rerun validates it, makes no other and the goods keep
    their date."""
    number, later = f"PO-{unique}-O", dt.date.today() + dt.timedelta(days=11)
    sale_id = _dated_sale(erp, number, later)
    change, records = _change(number), erp.records
    lines = records.search_read(
        "sale.line", [("sale", "=", sale_id), ("type", "=", "line")],
        tryton_adjustments.LINE_FIELDS,
    )  # fmt: skip
    amended = tryton_amendments.amendment_lines(records, lines, change, number)
    records.rpc.model(
        "sale.amendment", "create",
        [{"sale": sale_id, "description": tryton_amendments.marker(change),
          "lines": [("create", amended)]}],
        idempotent=False,
    )  # fmt: skip

    rerun = erp.change_sale(str(sale_id), change)
    assert [(ln.line_no, ln.quantity) for ln in rerun.lines] == AS_ASKED
    assert _dates(erp, sale_id) == ({later}, {later})
    assert [(a["state"], a["description"]) for a in _amendments(erp, sale_id)] == [
        ("validated", tryton_amendments.marker(change))]  # fmt: skip
