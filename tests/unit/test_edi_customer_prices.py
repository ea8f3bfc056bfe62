"""Customer prices: a price-list customer's order is checked against what the ERP charges it
(price list, quantity breaks), net of its ALC/PCD allowances (issue 14.3)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.edi import validate
from connectors.erp.fake import FakeErp
from hub.bootstrap import Hub
from hub.edi_out import to_segments
from hub.flows.edi_inbound import edi_orders_inbound
from sandbox.erp_seed import PRICE_LIST_BREAKS
from sandbox.partner import drop, orders_interchange
from schemas.model import PartyRef, SalesOrder, SalesOrderLine
from tests.fixtures.edi_orders_body import fake_invoic
from tests.fixtures.ids import GTINS, NORD, US
from transforms.edifact_orders import orders_to_sales_order, sales_order_to_orders


@pytest.fixture
def listed(erp: FakeErp) -> FakeErp:
    """Kaufhaus Nord buys from the sandbox's "Retail partners" list (-5% from 24, -10% from 100)."""
    party = next(p for p in erp.parties.values() if p.gln == NORD)
    assert party.erp_id
    erp.price_lists[party.erp_id] = PRICE_LIST_BREAKS
    return erp


def _order(number: str, *lines: tuple[int, str, str, str]) -> SalesOrder:
    """Lines of (quantity, gross price, discount %, GTIN index)."""
    return SalesOrder(
        order_number=number, order_date=dt.date(2026, 11, 2), buyer=PartyRef(gln=NORD),
        supplier=PartyRef(gln=US), currency="EUR",
        lines=tuple(
            SalesOrderLine(line_no=k, gtin=GTINS[int(g)], quantity=Decimal(q),
                           unit_price=Decimal(p), discount_percent=Decimal(d))
            for k, (q, p, d, g) in enumerate(lines, start=1)
        ),
    )  # fmt: skip


def _run(hub: Hub, *orders: SalesOrder, ref: str = "8001") -> dict[str, object]:
    data = orders_interchange(list(orders), sender=NORD, recipient=US, control_ref=ref)
    assert validate(data).verdict == "accepted", validate(data).to_dict()
    inbox: Path = hub.mailbox(hub.partners["kaufhaus-nord"]).inbox  # type: ignore[attr-defined]
    drop(inbox, f"orders-{ref}.edi", data)
    return edi_orders_inbound(hub)


def test_price_list_customer_ordering_at_its_price_is_accepted(hub: Hub, listed: FakeErp) -> None:
    # HUB-1001 lists at 11.00: 100 units cost this customer 9.90, 30 units 10.45
    report = _run(hub, _order("PL-1", (100, "9.90", "0", "0"), (30, "10.45", "0", "0")))
    assert report["orders_created"] == 1 and report.get("orders_refused", 0) == 0
    (sale,) = listed.sales.values()
    assert [ln.unit_price for ln in sale.lines] == [Decimal("9.9000"), Decimal("10.4500")]


def test_allowance_percentage_makes_the_net_price_checked_and_sold(
    hub: Hub, listed: FakeErp
) -> None:
    # gross 11.00 less a 10% allowance (ALC+A, PCD+1:10) = 9.90, the customer's price for 100
    report = _run(hub, _order("PL-2", (100, "11.00", "10", "0")))
    assert report["orders_created"] == 1
    (sale,) = listed.sales.values()
    assert sale.lines[0].unit_price == Decimal("9.9000")
    outbox: Path = hub.mailbox(hub.partners["kaufhaus-nord"]).outbox  # type: ignore[attr-defined]
    (ordrsp,) = [p.read_text() for p in outbox.iterdir() if p.name.startswith("ORDRSP")]
    assert "BGM+231+RSP0000001+29'" in ordrsp and "LIN+1+5+" in ordrsp  # accepted as ordered
    # the invoice states the same allowance: gross price, ALC/PCD and its amount
    path = fake_invoic(hub, listed, sale.erp_id, outbox)
    invoic = path.read_text()
    for segment in ("PRI+AAA:9.9'", "PRI+AAB:11'", "ALC+A+++1+TD'", "PCD+1:10'", "MOA+204:110"):
        assert segment in invoic, segment


def test_price_outside_the_customers_price_is_refused_naming_the_agreed_price(
    hub: Hub, listed: FakeErp
) -> None:
    report = _run(hub, _order("PL-3", (30, "9.90", "0", "0")))  # 30 units: 10.45 agreed
    assert report["orders_refused"] == 1 and not listed.sales
    (letter,) = hub.ledger.dead_letters()
    assert "price 9.9 differs from the agreed 10.45 by 5.26%" in letter.reason


def test_without_a_price_list_the_list_price_is_agreed(hub: Hub, erp: FakeErp) -> None:
    report = _run(hub, _order("PL-4", (100, "9.90", "0", "0")))
    assert report["orders_refused"] == 1
    (letter,) = hub.ledger.dead_letters()
    assert "differs from the agreed 11 by 10.00%" in letter.reason


def _mapped(segments: list[tuple[object, ...]]) -> tuple[SalesOrder | None, list[str]]:
    order, errors = orders_to_sales_order(to_segments(segments))
    return order, [e.message for e in errors]


def test_alc_pcd_mapping_rules() -> None:
    base = sales_order_to_orders(_order("PL-5", (5, "10", "0", "0"), (6, "20", "0", "1")))
    gross = [s if s[0] != "PRI" else ("PRI", ["AAB", *s[1][1:]]) for s in base]  # type: ignore[index]
    lin = next(i for i, s in enumerate(base) if s[0] == "LIN")
    header_alc = [("ALC", "A", "", "", "1", ["TD"]), ("PCD", ["1", "5"])]
    order, errors = _mapped([*gross[:lin], *header_alc, *gross[lin:]])
    assert errors == [] and order is not None
    assert [ln.discount_percent for ln in order.lines] == [Decimal(5), Decimal(5)]
    # PRI+AAA is already net: its allowance is information, not a second discount
    net = [s if s[0] != "PRI" else ("PRI", ["AAA", "9.5"]) for s in base]
    pri = next(i for i, s in enumerate(net) if s[0] == "PRI")
    order, errors = _mapped([*net[: pri + 1], ("ALC", "A"), ("PCD", ["1", "5"]), *net[pri + 1 :]])
    assert errors == [] and order is not None and order.lines[0].discount_percent == 0
    # a line's charge or amount allowance makes its price the net price (see
    # test_edi_line_allowances): 5 x 10.00 + 4.00 = 54.00, 10.80 each
    order, errors = _mapped([*gross[: pri + 1], ("ALC", "C"), ("MOA", ["23", "4"]),
                             *gross[pri + 1 :]])  # fmt: skip
    assert errors == [] and order is not None
    assert (order.lines[0].unit_price, order.lines[0].discount_percent) == (
        Decimal("10.8"),
        Decimal(0),
    )


def test_quantities_are_read_once_per_price_list_break() -> None:
    from connectors.erp.tryton_prices import _classes

    quantities = {Decimal(q) for q in (1, 5, 23, 24, 50, 99, 100, 500)}
    groups = _classes(quantities, [Decimal(24), Decimal(100)])
    assert groups == [{Decimal(1), Decimal(5), Decimal(23)}, {Decimal(24), Decimal(50),
                      Decimal(99)}, {Decimal(100), Decimal(500)}]  # fmt: skip
    assert _classes(quantities, []) == [quantities]  # no price list: one read
