"""A line's own amount allowances and charges (ALC+A/C with MOA 204/23 in a LIN group): the
line's net price, exact to the cent or refused; checked against the customer's price; the
sale and its INVOIC carry the net price, their totals the ERP's (issue 14 item 3)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from connectors.edi import (
    EdifactReader,
    Message,
    validate,
)
from connectors.erp.fake import FakeErp
from hub.bootstrap import Hub
from hub.edi_out import to_segments
from hub.flows.edi_inbound import edi_orders_inbound
from sandbox.partner import drop
from schemas.model import PartyRef, SalesOrder, SalesOrderLine
from tests.fixtures.edi_orders_body import fake_invoic, orders_of_body
from tests.fixtures.ids import GTINS, NORD, US
from transforms.edifact_orders import AppError, orders_to_sales_order, sales_order_to_orders

Segments = list[tuple[object, ...]]


def _body(quantity: int = 5, price: str = "11") -> Segments:
    """ORDERS of one line: ``quantity`` x ``price`` (PRI+AAB, gross) of the first GTIN."""
    order = SalesOrder(order_number="LA-1", order_date=dt.date(2026, 11, 2),
                       buyer=PartyRef(gln=NORD), supplier=PartyRef(gln=US), currency="EUR",
                       lines=(SalesOrderLine(line_no=1, gtin=GTINS[0], quantity=Decimal(quantity),
                                             unit_price=Decimal(price)),))  # fmt: skip
    return [s if s[0] != "PRI" else ("PRI", ["AAB", price]) for s in sales_order_to_orders(order)]


def _with(body: Segments, *alc: tuple[object, ...], header: bool = False) -> Segments:
    """``alc`` after the line's PRI (or before the first LIN with ``header``)."""
    at = next(i for i, s in enumerate(body) if s[0] == ("LIN" if header else "PRI"))
    at += 0 if header else 1
    return [*body[:at], *alc, *body[at:]]


def _mapped(segments: Segments) -> tuple[SalesOrder | None, list[AppError]]:
    return orders_to_sales_order(to_segments(segments))


def _price(segments: Segments) -> Decimal:
    order, errors = _mapped(segments)
    assert errors == [] and order is not None, errors
    assert order.lines[0].discount_percent == 0  # the price is net: nothing left to take off
    price = order.lines[0].unit_price
    assert price is not None
    return price


def test_amounts_and_charges_become_the_net_price() -> None:
    allowance, charge = ("ALC", "A", "", "", "1", ["TD"]), ("ALC", "C", "", "", "1", ["FC"])
    # 5 x 11.00 = 55.00: less 4.00 is 51.00 (10.20 each), plus 4.00 is 59.00 (11.80 each)
    assert _price(_with(_body(), allowance, ("MOA", ["204", "4"]))) == Decimal("10.2")
    assert _price(_with(_body(), charge, ("MOA", ["23", "4"]))) == Decimal("11.8")
    # both, and a percentage charge: 55.00 + 10% = 60.50, less 4.00, plus 1.00 = 57.50
    assert _price(_with(_body(), charge, ("PCD", ["1", "10"]), allowance, ("MOA", ["204", "4"]),
                        charge, ("MOA", ["8", "1"]))) == Decimal("11.5")  # fmt: skip
    # the order's percentage allowance first: 55.00 less 10% = 49.50, less 4.00 = 45.50
    header = _with(_body(), ("ALC", "A"), ("PCD", ["1", "10"]), header=True)
    assert _price(_with(header, allowance, ("MOA", ["204", "4"]))) == Decimal("9.1")
    # 3 x 10.00 less 1.00 = 29.00: 9.6667 x 3 = 29.0001 gives the ERP's line total again
    assert _price(_with(_body(3, "10"), allowance, ("MOA", ["204", "1"]))) == Decimal("9.6667")


def test_what_cannot_be_exact_or_complete_is_refused_naming_segment_and_reason() -> None:
    allowance = ("ALC", "A", "", "", "1", ["TD"])
    # 300 x 10.00 less 1.00 = 2999.00: 9.9967 x 300 = 2999.01, 9.9966 x 300 = 2998.98
    body = _with(_body(300, "10"), allowance, ("MOA", ["204", "1"]))
    _, errors = _mapped(body)
    moa = next(i for i, s in enumerate(body) if s[0] == "MOA") + 2  # UNH is position 1
    (error,) = errors
    assert (error.tag, error.line_no) == ("MOA", 1) and error.segment_position is not None
    assert "line 1: the line total after its allowances and charges is 2999.00" in error.message
    assert "9.9967 gives 2999.01" in error.message and "PCD+1" in error.message
    assert error.segment_position == moa
    (error,) = _mapped(_with(_body(), allowance, ("MOA", ["204", "56"])))[1]
    assert "exceed the line's amount: its total would be -1.00" in error.message
    (error,) = _mapped(_with(_body(), ("ALC", "C")))[1]
    assert "ALC+C has neither PCD+1" in error.message and error.tag == "ALC"
    (error,) = _mapped(_with(_body(), ("ALC", "C"), ("MOA", ["23", "0"])))[1]
    assert "MOA amount 0 must be more than 0" in error.message
    no_price = [s for s in _with(_body(), allowance, ("MOA", ["204", "4"])) if s[0] != "PRI"]
    (error,) = _mapped(no_price)[1]
    assert "needs the line's price (PRI) and quantity (QTY+21)" in error.message


def _run(hub: Hub, body: Segments, ref: str) -> dict[str, object]:
    """The partner sends one ORDERS of ``body``; the hub reads its inbox."""
    data = orders_of_body(body, sender=NORD, recipient=US, control_ref=ref)
    assert validate(data).verdict == "accepted", validate(data).to_dict()
    inbox: Path = hub.mailbox(hub.partners["kaufhaus-nord"]).inbox  # type: ignore[attr-defined]
    drop(inbox, f"o-{ref}.edi", data)
    return edi_orders_inbound(hub)


def test_line_allowance_and_charge_flow_to_the_sale_and_the_invoic(hub: Hub, erp: FakeErp) -> None:
    """HUB-1001 lists at 11.00: 5 x 11.00 less 1.00 plus a 0.50 charge = 54.50 (10.90 each,
    within the partner's 2% tolerance)."""
    body = _with(_body(), ("ALC", "A", "", "", "1", ["DI"]), ("MOA", ["204", "1"]),
                 ("ALC", "C", "", "", "1", ["ABK"]), ("MOA", ["23", "0.5"]))  # fmt: skip
    report = _run(hub, body, "8101")
    assert report["orders_created"] == 1, [d.reason for d in hub.ledger.dead_letters()]
    (sale,) = erp.sales.values()
    assert [(ln.unit_price, ln.quantity) for ln in sale.lines] == [(Decimal("10.9"), Decimal(5))]
    assert sale.untaxed_amount == Decimal("54.50")
    outbox: Path = hub.mailbox(hub.partners["kaufhaus-nord"]).outbox  # type: ignore[attr-defined]
    (ordrsp,) = [p.read_text() for p in outbox.iterdir() if p.name.startswith("ORDRSP")]
    assert "LIN+1+5+" in ordrsp  # accepted as ordered: the ERP's net price is the order's
    path = fake_invoic(hub, erp, sale.erp_id, outbox)
    (msg,) = [e for e in EdifactReader(path.read_bytes()) if isinstance(e, Message)]
    moa = {s.element(1, 1): Decimal(s.element(1, 2)) for s in msg.segments if s.tag == "MOA"}
    assert moa["203"] == moa["79"] == moa["125"] == sale.untaxed_amount  # the ERP's, to the cent
    # net price, gross price, then the order's allowance and charge with its reason codes
    line = [s for s in msg.segments if s.tag in ("PRI", "ALC", "PCD", "MOA")][1:7]
    assert [(s.tag, s.element(1), s.element(1, 2), s.element(5)) for s in line] == [
        ("PRI", "AAA", "10.9", ""), ("PRI", "AAB", "11", ""),
        ("ALC", "A", "", "DI"), ("MOA", "204", "1.00", ""),
        ("ALC", "C", "", "ABK"), ("MOA", "23", "0.50", ""),
    ]  # fmt: skip


def test_line_amount_is_checked_against_the_customers_price(hub: Hub, erp: FakeErp) -> None:
    # 5 x 11.00 less 10.00 = 45.00: 9.00 each is 18.18% under the agreed 11.00
    body = _with(_body(), ("ALC", "A", "", "", "1", ["TD"]), ("MOA", ["204", "10"]))
    report = _run(hub, body, "8102")
    assert report["orders_refused"] == 1 and not erp.sales
    (letter,) = hub.ledger.dead_letters()
    assert "line 1: price 9 differs from the agreed 11 by 18.18%" in letter.reason
