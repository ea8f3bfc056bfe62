"""Order-level allowances and charges in ORDERS (ALC before the first LIN): mapped into
SalesOrder.allowance_charges and checked, errors naming segment and field (issue 14.3)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from connectors.edi import validate
from connectors.erp.fake import FakeErp
from hub.bootstrap import Hub
from hub.edi_out import to_segments
from hub.flows.edi_inbound import edi_orders_inbound
from hub.flows.edi_outbound import edi_documents_outbound
from sandbox.demo_partner import ordchg_for
from sandbox.partner import drop, orders_interchange
from schemas.model import (
    AllowanceCharge,
    PartyRef,
    SalesOrder,
    SalesOrderChange,
    SalesOrderLine,
    SalesOrderLineChange,
    content_hash,
)
from tests.fixtures.ids import GTINS, NORD, US
from transforms.edifact_orders import AppError, orders_to_sales_order, sales_order_to_orders
from transforms.edifact_orders_allowances import adjustment_lines

Segments = list[tuple[object, ...]]


def _order(*adjustments: AllowanceCharge) -> SalesOrder:
    """5 x 10.00 + 6 x 20.00 = 170.00 of goods, with ``adjustments``."""
    return SalesOrder(
        order_number="OA-1", order_date=dt.date(2026, 11, 2), buyer=PartyRef(gln=NORD),
        supplier=PartyRef(gln=US), currency="EUR", allowance_charges=adjustments,
        lines=(SalesOrderLine(line_no=1, gtin=GTINS[0], quantity=Decimal(5),
                              unit_price=Decimal(10)),
               SalesOrderLine(line_no=2, gtin=GTINS[1], quantity=Decimal(6),
                              unit_price=Decimal(20))),
    )  # fmt: skip


def _with_header(*alc: tuple[object, ...]) -> Segments:
    """The ORDERS body of the plain order with ``alc`` inserted before the first LIN."""
    body = sales_order_to_orders(_order())
    lin = next(i for i, s in enumerate(body) if s[0] == "LIN")
    return [*body[:lin], *alc, *body[lin:]]


def _mapped(segments: Segments) -> tuple[SalesOrder | None, list[AppError]]:
    return orders_to_sales_order(to_segments(segments))


def test_amount_allowance_and_charge_are_mapped_and_round_trip() -> None:
    order, errors = _mapped(
        _with_header(
            ("ALC", "A", "", "", "1", ["TD", "", "", "Loyalty"]),
            ("MOA", ["204", "12.50"]),
            ("ALC", "C", "", "", "1", ["FC"]),
            ("MOA", ["23", "7"]),
        )
    )
    assert errors == [] and order is not None
    assert order.allowance_charges == (
        AllowanceCharge(amount=Decimal("12.50"), reason="Loyalty", reason_code="TD"),
        AllowanceCharge(charge=True, amount=Decimal(7), reason_code="FC"),
    )
    assert [ln.discount_percent for ln in order.lines] == [0, 0]  # not a line discount
    again, errors = _mapped(sales_order_to_orders(order))
    assert errors == [] and again == order
    # the ERP sale gets one service line each, numbered after the order's lines
    lines = adjustment_lines(order)
    assert [(a.sequence, a.product_code, a.unit_price) for a in lines] == [
        (3, "ALLOWANCE", Decimal("-12.50")),
        (4, "CHARGE", Decimal(7)),
    ]


def test_percentage_charge_is_the_share_of_the_net_line_total() -> None:
    order, errors = _mapped(_with_header(("ALC", "C", "", "", "1", ["PC"]), ("PCD", ["3", "2"])))
    assert errors == [] and order is not None
    assert order.allowance_charges[0].amount == Decimal("3.40")  # 2% of 170.00
    # a percentage allowance stays every line's discount (as before)
    order, errors = _mapped(
        _with_header(("ALC", "A"), ("PCD", ["1", "5"]), ("MOA", ["204", "8.5"]))
    )
    assert errors == [] and order is not None and order.allowance_charges == ()
    assert [ln.discount_percent for ln in order.lines] == [0, 0]  # PRI+AAA: already net


def test_wrong_order_level_allowances_are_refused_naming_segment_and_field() -> None:
    cases: list[tuple[Segments, str, str]] = [
        (
            _with_header(("ALC", "C"), ("PCD", ["3", "5"]), ("MOA", ["23", "9"])),
            "MOA",
            "MOA 9 is not PCD 5% of the lines' net total 170.00 (8.50)",
        ),
        (
            _with_header(("ALC", "A"), ("MOA", ["204", "171"])),
            "ALC",
            "allowances 171 exceed the lines' net total 170.00",
        ),
        (_with_header(("ALC", "C")), "ALC", "neither PCD+1 (percentage) nor MOA+204/23"),
        (_with_header(("ALC", "A"), ("MOA", ["204", "-3"])), "MOA", "must be more than 0"),
    ]
    for segments, tag, words in cases:
        order, errors = _mapped(segments)
        assert order is None
        (error,) = errors
        assert (error.code, error.tag, error.element_position) == ("ALC", tag, 1)
        assert words in error.message, error.message
        position = next(i for i, s in enumerate(segments, start=2) if s[0] == tag and i > 5)
        assert error.segment_position == position


def test_an_order_without_allowances_hashes_as_before() -> None:
    order = _order()
    before = order.model_dump(mode="json")
    del before["allowance_charges"]  # the content of an order before the field existed
    for line in before["lines"]:
        del line["allowance_charges"]  # nor had its lines
    assert order.content_hash() == content_hash(before)
    assert _order(AllowanceCharge(amount=Decimal(1))).content_hash() != order.content_hash()


def test_order_level_allowance_goes_from_orders_to_sale_to_invoic(hub: Hub, erp: FakeErp) -> None:
    # 10 x 11.00 + 2 x 12.00 = 134.00 of goods (list prices), less 12.50, plus 7.00 freight
    order = SalesOrder(
        order_number="OA-2", order_date=dt.date(2026, 11, 2), buyer=PartyRef(gln=NORD),
        supplier=PartyRef(gln=US), currency="EUR",
        allowance_charges=(AllowanceCharge(amount=Decimal("12.50"), reason_code="TD"),
                           AllowanceCharge(charge=True, amount=Decimal(7), reason_code="FC")),
        lines=(SalesOrderLine(line_no=1, gtin=GTINS[0], quantity=Decimal(10),
                              unit_price=Decimal(11)),
               SalesOrderLine(line_no=2, gtin=GTINS[1], quantity=Decimal(2),
                              unit_price=Decimal(12))),
    )  # fmt: skip
    data = orders_interchange([order], sender=NORD, recipient=US, control_ref="8101")
    assert validate(data).verdict == "accepted", validate(data).to_dict()
    assert b"ALC+A+++1+TD'MOA+204:12.5'ALC+C+++1+FC'MOA+23:7'" in data.replace(b"\n", b"")
    partner = hub.partners["kaufhaus-nord"]
    drop(hub.mailbox(partner).inbox, "orders-8101.edi", data)  # type: ignore[attr-defined]
    report = edi_orders_inbound(hub)
    assert report["orders_created"] == 1, (report, [d.reason for d in hub.ledger.dead_letters()])
    (sale,) = erp.sales.values()
    assert sale.untaxed_amount == Decimal("128.50")  # 134.00 - 12.50 + 7.00
    outbox: Path = hub.mailbox(partner).outbox  # type: ignore[attr-defined]
    (ordrsp,) = [p.read_text() for p in outbox.iterdir() if p.name.startswith("ORDRSP")]
    assert "BGM+231+RSP0000001+29'" in ordrsp and "CNT+2:2'" in ordrsp  # the goods, accepted
    # a change's answer lists the goods lines only (the allowance is no order line)
    more = SalesOrderLineChange(line_no=1, action="change", gtin=GTINS[0], quantity=Decimal(12))
    change = SalesOrderChange(
        order_number="OA-2", change_number="1", buyer=PartyRef(gln=NORD), lines=(more,)
    )
    drop(hub.mailbox(partner).inbox, "ordchg-8102.edi",  # type: ignore[attr-defined]
         ordchg_for(change, partner_gln=NORD, our_gln=US, control_ref="8102"))  # fmt: skip
    assert edi_orders_inbound(hub)["changes_created"] == 1
    (answer,) = [p.read_text() for p in outbox.iterdir() if p.name.startswith("ORDRSP")
                 and "RSP0000001" not in p.read_text()]  # fmt: skip
    assert "LIN+1+3+" in answer and "LIN+3" not in answer and "CNT+2:2'" in answer
    sale = erp.get_sales([sale.erp_id])[0]
    assert sale.untaxed_amount == Decimal("150.50")  # 12 x 11.00 + 24.00 - 12.50 + 7.00
    erp.ship(sale.erp_id)
    erp.tick()
    invoice = erp.post_invoice(sale.erp_id)
    erp.tick()
    edi_documents_outbound(hub, documents="INVOIC")
    (path,) = [p for p in outbox.iterdir() if p.name.startswith("INVOIC")]
    assert validate(path).verdict == "accepted", validate(path).to_dict()
    text = path.read_text().replace("\n", "")
    total = f"MOA+125:{invoice.untaxed_amount}'"
    for segment in ("ALC+A+++1+TD'MOA+204:12.50'", "ALC+C+++1+FC'MOA+23:7.00'", "CNT+2:2'",
                    "MOA+79:156.00'", "MOA+131:-5.50'", total):  # fmt: skip
        assert segment in text, segment
    assert invoice.untaxed_amount == Decimal("150.50")
