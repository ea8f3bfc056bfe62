"""ORDCHG and cancellations: applied to the sale once per change message while the ERP
allows it; too late or unknown orders answered with APERAK and ORDRSP 27 (issue 14.2)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from connectors.edi import EdifactReader, Message, validate
from connectors.erp.fake import FakeErp
from hub.bootstrap import Hub
from hub.edi_out import to_segments
from hub.flows.edi_inbound import edi_orders_inbound
from hub.ops.trace import trace
from sandbox.demo_partner import ordchg_for
from sandbox.partner import drop, make_orders, orders_interchange
from schemas.model import ErpSale, PartyRef, SalesOrder, SalesOrderChange, SalesOrderLineChange
from tests.fixtures.ids import GTINS, NORD, US
from transforms.edifact_ordchg import change_response, change_to_ordchg, ordchg_to_change
from transforms.keys import KeyKind


def _box(hub: Hub) -> tuple[Path, Path]:
    box = hub.mailbox(hub.partners["kaufhaus-nord"])
    return box.inbox, box.outbox  # type: ignore[attr-defined]


def _order(erp: FakeErp) -> SalesOrder:
    (order,) = make_orders(NORD, US, list(erp.products.values()), count=1, seed=7, lines=2)
    return order


def _ordered(hub: Hub, erp: FakeErp) -> ErpSale:
    """One order of two lines made a confirmed sale."""
    inbox, outbox = _box(hub)
    order = _order(erp)
    drop(inbox, "orders.edi", orders_interchange([order], sender=NORD, recipient=US,
                                                 control_ref="6001"))  # fmt: skip
    edi_orders_inbound(hub)
    for path in outbox.iterdir():
        path.unlink()
    (sale,) = erp.sales.values()
    return sale


def _change(sale: ErpSale, number: str, *lines: SalesOrderLineChange, cancel: bool = False
            ) -> SalesOrderChange:  # fmt: skip
    return SalesOrderChange(order_number=sale.reference, change_number=number,
                            buyer=PartyRef(gln=NORD), cancel=cancel, lines=lines)  # fmt: skip


def _send(hub: Hub, change: SalesOrderChange, ref: str, **kw: Any) -> dict[str, object]:
    inbox, _ = _box(hub)
    data = ordchg_for(change, partner_gln=NORD, our_gln=US, control_ref=ref, **kw)
    assert validate(data).verdict == "accepted", validate(data).to_dict()
    drop(inbox, f"change-{ref}.edi", data)
    return edi_orders_inbound(hub)


def _answers(hub: Hub) -> dict[str, list[Message]]:
    _, outbox = _box(hub)
    found: dict[str, list[Message]] = {}
    for path in sorted(outbox.iterdir()):
        assert validate(path).verdict == "accepted", validate(path).to_dict()
        for event in EdifactReader(path.read_bytes()):
            if isinstance(event, Message):
                found.setdefault(event.type.split(":")[0], []).append(event)
        path.unlink()
    return found


def _bgm(msg: Message) -> str:
    return next(s for s in msg.segments if s.tag == "BGM").element(3)


def test_an_ordchg_d01b_is_handled_like_d96a(hub: Hub, erp: FakeErp) -> None:
    sale = _ordered(hub, erp)
    line = SalesOrderLineChange(
        line_no=1, action="change", gtin=sale.lines[0].gtin, quantity=Decimal(2)
    )
    change = _change(sale, "CH-B", line)
    report = _send(hub, change, "6050", message_type="ORDCHG:D:01B:UN:EAN010")
    assert report["changes_created"] == 1 and erp.sales[sale.erp_id].lines[0].quantity == 2


def _quoting(hub: Hub) -> Hub:
    """The same hub with Kaufhaus Nord's orders made quotations (open to every change)."""
    nord = hub.partners["kaufhaus-nord"].model_copy(update={"order_state": "quotation"})
    return Hub(hub.ledger, erp=hub.erp, home=hub.home,
               partners={**hub.partners, "kaufhaus-nord": nord})  # fmt: skip


def _nine_and_delete(sale: ErpSale, number: str, *more: SalesOrderLineChange) -> SalesOrderChange:
    """Line 1 to quantity 9, line 2 deleted, and ``more``."""
    first, second = sale.lines
    return _change(
        sale, number,
        SalesOrderLineChange(line_no=1, action="change", gtin=first.gtin, quantity=Decimal(9)),
        SalesOrderLineChange(line_no=2, action="delete", gtin=second.gtin), *more,
    )  # fmt: skip


def test_a_change_adds_deletes_and_changes_lines_once(hub: Hub, erp: FakeErp) -> None:
    hub = _quoting(hub)
    sale = _ordered(hub, erp)
    assert sale.state == "quotation"
    first = sale.lines[0]
    change = _nine_and_delete(
        sale,
        "CH-1",
        SalesOrderLineChange(
            line_no=3, action="add", gtin=GTINS[3], quantity=Decimal(4), unit_price=Decimal("14.00")
        ),
    )
    report = _send(hub, change, "6002")
    assert report["changes_created"] == 1
    changed = erp.sales[sale.erp_id]
    assert [(ln.line_no, ln.quantity) for ln in changed.lines] == [(1, Decimal(9)), (3, Decimal(4))]
    assert changed.lines[0].unit_price == first.unit_price  # unchanged price kept
    answers = _answers(hub)
    (ordrsp,) = answers["ORDRSP"]
    assert _bgm(ordrsp) == "29" and "APERAK" not in answers
    lins = [(s.element(1), s.element(2)) for s in ordrsp.segments if s.tag == "LIN"]
    assert lins == [("1", "3"), ("3", "1"), ("2", "2")]
    # the same change again, in a new interchange: applied once, answered the same way
    again = _send(hub, change, "6003")
    assert again.get("changes_created", 0) == 0 and again["changes_existing"] == 1
    assert erp.sales[sale.erp_id] == changed
    assert len(hub.ledger.journal_find(KeyKind.SALE_CHANGE, subjects=[sale.reference])) == 1
    versions = [i for i in trace(hub, sale.reference)["timeline"] if i["kind"] == "sale.changed"]
    assert len(versions) == 1 and "version 1 (change CH-1)" in versions[0]["summary"]


def test_a_confirmed_sale_is_amended_once_and_no_line_is_added(hub: Hub, erp: FakeErp) -> None:
    """Confirmed (Tryton: processed, nothing shipped): changed and deleted by amendment (the
    deleted line kept at 0, answered as deleted); an added line is refused with the rest."""
    sale = _ordered(hub, erp)
    assert sale.state == "confirmed"
    change = _nine_and_delete(sale, "AM-1")
    assert _send(hub, change, "6060")["changes_created"] == 1
    changed = erp.sales[sale.erp_id]
    assert [(ln.line_no, ln.quantity) for ln in changed.lines] == [(1, Decimal(9)), (2, Decimal(0))]
    (ordrsp,) = _answers(hub)["ORDRSP"]
    lins = [(s.element(1), s.element(2)) for s in ordrsp.segments if s.tag == "LIN"]
    assert _bgm(ordrsp) == "29" and lins == [("1", "3"), ("2", "2")]
    assert _send(hub, change, "6061")["changes_existing"] == 1 and erp.sales[sale.erp_id] == changed
    _answers(hub)

    add = _change(sale, "AM-2", SalesOrderLineChange(
        line_no=3, action="add", gtin=GTINS[3], quantity=Decimal(4)))  # fmt: skip
    assert _send(hub, add, "6062").get("changes_created", 0) == 0
    answers = _answers(hub)
    assert _bgm(answers["ORDRSP"][0]) == "27" and len(answers["APERAK"]) == 1
    assert erp.sales[sale.erp_id] == changed
    _send(hub, _change(sale, "AM-3", cancel=True), "6063")
    assert erp.sales[sale.erp_id].state == "cancelled"


def test_cancellation_by_ordchg_and_by_orders(hub: Hub, erp: FakeErp) -> None:
    sale = _ordered(hub, erp)
    _send(hub, _change(sale, "CX-1", cancel=True), "6010", cancelling=_order(erp))
    assert erp.sales[sale.erp_id].state == "cancelled"
    (ordrsp,) = _answers(hub)["ORDRSP"]
    assert _bgm(ordrsp) == "29"
    versions = [i for i in trace(hub, sale.reference)["timeline"] if i["kind"] == "sale.changed"]
    assert "cancelled" in versions[0]["summary"]


def test_too_late_change_is_refused_with_aperak_and_ordrsp(hub: Hub, erp: FakeErp) -> None:
    sale = _ordered(hub, erp)
    erp.ship(sale.erp_id)  # processing: goods on their way
    report = _send(hub, _change(sale, "CH-9", cancel=True), "6020")
    assert report.get("changes_created", 0) == 0
    assert erp.sales[sale.erp_id].state == "processing"
    answers = _answers(hub)
    (ordrsp,) = answers["ORDRSP"]
    assert _bgm(ordrsp) == "27"
    text = " ".join(s.element(4, 1) for s in ordrsp.segments if s.tag == "FTX")
    assert "too late" in text
    assert len(answers["APERAK"]) == 1
    (letter,) = hub.ledger.dead_letters(flow="edi_orders_inbound")
    assert letter.error_class == "ChangeRefused" and "too late" in letter.reason


def test_change_of_an_unknown_order_is_refused(hub: Hub, erp: FakeErp) -> None:
    _ordered(hub, erp)
    ghost = SalesOrderChange(order_number="PO-NEVER", change_number="CH-1",
                             buyer=PartyRef(gln=NORD), cancel=True)  # fmt: skip
    _send(hub, ghost, "6030")
    answers = _answers(hub)
    assert _bgm(answers["ORDRSP"][0]) == "27" and len(answers["APERAK"]) == 1
    (letter,) = hub.ledger.dead_letters(flow="edi_orders_inbound")
    assert "PO-NEVER" in letter.reason and "not known" in letter.reason


def test_ordchg_mapping_round_trip_and_errors() -> None:
    change = SalesOrderChange(
        order_number="PO-1", change_number="CH-1", buyer=PartyRef(gln=NORD),
        lines=(SalesOrderLineChange(line_no=2, action="delete", gtin=GTINS[1]),
               SalesOrderLineChange(line_no=5, action="add", gtin=GTINS[2], quantity=Decimal(3),
                                    unit_price=Decimal("2.5"))),
    )  # fmt: skip
    body = change_to_ordchg(change, order_date="20261103")
    assert ordchg_to_change(to_segments(body)) == (change, [])
    no_ref = [s for s in body if s[0] != "RFF"]
    _, errors = ordchg_to_change(to_segments(no_ref))
    assert [e.tag for e in errors] == ["RFF"]
    bad_action = [("LIN", "5", "9", [GTINS[2], "EN"]) if s[0] == "LIN" and s[1] == "5" else s
                  for s in body]  # fmt: skip
    _, errors = ordchg_to_change(to_segments(bad_action))
    assert any("action code '9'" in e.message for e in errors)


def test_a_change_refused_for_an_unknown_order_is_applied_by_replay_once_the_order_exists(
    hub: Hub, erp: FakeErp
) -> None:
    from hub.ops.replay import replay

    early = _order(erp)  # the same order _ordered sends below (seeded)
    _send(hub, SalesOrderChange(order_number=early.order_number, change_number="CH-2",
                                buyer=PartyRef(gln=NORD), cancel=True), "6040")  # fmt: skip
    _answers(hub)
    (letter,) = hub.ledger.dead_letters(flow="edi_orders_inbound")
    assert letter.error_class == "ChangeRefused"
    sale = _ordered(hub, erp)
    assert sale.reference == early.order_number and sale.state != "cancelled"

    done = replay(hub, letter.id, by="gus")
    assert done["outcome"] == "replayed", done
    assert erp.sales[sale.erp_id].state == "cancelled"
    assert replay(hub, letter.id, by="gus")["outcome"] == "skipped"


def test_a_new_delivery_date_moves_the_sale_once_and_is_answered(hub: Hub, erp: FakeErp) -> None:
    """An ORDCHG with only DTM+2: the sale's date moves (confirmed: processed, not shipped),
    the ORDRSP accepts with the new date; the same change again changes nothing."""
    sale = _ordered(hub, erp)
    when = _order(erp).order_date + timedelta(days=20)
    change = _change(sale, "CH-D").model_copy(update={"requested_delivery_date": when})
    body = change_to_ordchg(change, order_date="20261103")
    assert ordchg_to_change(to_segments(body)) == (change, [])
    report = _send(hub, change, "6060")
    assert report["changes_created"] == 1
    assert erp.sales[sale.erp_id].delivery_date == when
    assert erp.sales[sale.erp_id].lines == sale.lines
    (ordrsp,) = _answers(hub)["ORDRSP"]
    dates = [s.element(1, 2) for s in ordrsp.segments if s.tag == "DTM" and s.element(1) == "2"]
    assert _bgm(ordrsp) == "29" and dates == [when.strftime("%Y%m%d")]
    versions = [i for i in trace(hub, sale.reference)["timeline"] if i["kind"] == "sale.changed"]
    assert f"delivery {when}" in versions[0]["summary"]
    again = _send(hub, change, "6061")
    assert again.get("changes_created", 0) == 0 and again["changes_existing"] == 1


def test_the_answer_to_a_change_lists_no_allowance_or_charge_line() -> None:
    """The sale's order-level allowance/charge service lines (ALLOWANCE, CHARGE-7) are no
    order lines: ``change_response`` itself leaves them out, whoever calls it (issue 14.2)."""
    from schemas.model import ErpSaleLine

    goods = ErpSaleLine(line_no=1, product_code="P1", gtin=GTINS[0], quantity=Decimal(4),
                        unit_price=Decimal("2.5"))  # fmt: skip
    services = tuple(ErpSaleLine(line_no=n, product_code=code, quantity=Decimal(1),
                                 unit_price=price) for n, code, price in (
        (2, "ALLOWANCE", Decimal(-1)), (3, "CHARGE-7", Decimal("0.5"))))  # fmt: skip
    sale = ErpSale(erp_id="9", number="S9", reference="PO-1", party_erp_id="1",
                   state="processing", currency="EUR", lines=(goods, *services))  # fmt: skip
    change = SalesOrderChange(order_number="PO-1", change_number="2", buyer=PartyRef(gln=NORD),
                              lines=(SalesOrderLineChange(line_no=1, action="change",
                                                          quantity=Decimal(4)),))  # fmt: skip
    body = change_response(document_number="RSP1", issued="20261201", change=change,
                           supplier_gln=US, currency="EUR", sale=sale)  # fmt: skip
    assert [s[1:3] for s in body if s[0] == "LIN"] == [("1", "3")]
    assert ("CNT", ["2", "1"]) in body


def test_a_restated_order_level_allowance_round_trips() -> None:
    """ALC+A MOA+204 / ALC+C MOA+23 before the first LIN: the change's allowance_charges
    (0: none any more); a percentage charge there must be restated as an amount."""
    from schemas.model import AllowanceCharge

    change = SalesOrderChange(
        order_number="PO-1", change_number="CH-2", buyer=PartyRef(gln=NORD),
        allowance_charges=(AllowanceCharge(amount=Decimal("6.5"), reason_code="TD"),
                           AllowanceCharge(charge=True, amount=Decimal(0), reason_code="FC")),
    )  # fmt: skip
    body = change_to_ordchg(change, order_date="20261103")
    assert ordchg_to_change(to_segments(body)) == (change, [])
    percent = [s for s in body if s != ("MOA", ["23", "0"])]
    at = next(i for i, s in enumerate(percent) if s[0] == "ALC" and s[1] == "C")
    percent.insert(at + 1, ("PCD", ["1", "2"]))
    _, errors = ordchg_to_change(to_segments(percent))
    assert [(e.tag, "as an amount" in e.message) for e in errors] == [("ALC", True)]


def test_a_change_splits_the_order_level_allowance_again_once(hub: Hub, erp: FakeErp) -> None:
    """A confirmed sale of a 19% and a 7% line with 4.00 off the order (ALLOWANCE and
    ALLOWANCE-7): the 7% line deleted, sent twice, moves all 4.00 to ALLOWANCE once; a later
    change restating the allowance as 3.00 (header ALC only) sets it; the ORDRSP lists goods
    only (issue 14 item 2)."""
    from schemas.model import AllowanceCharge

    inbox, _ = _box(hub)
    order = _order(erp)
    codes = {p.gtin: p.code for p in erp.products.values()}
    first, second = order.lines
    erp.tax_rates[codes[second.gtin]] = Decimal(7)
    off = AllowanceCharge(amount=Decimal("4.00"), reason_code="TD")
    order = order.model_copy(update={"allowance_charges": (off,)})
    drop(inbox, "orders.edi", orders_interchange([order], sender=NORD, recipient=US,
                                                 control_ref="6101"))  # fmt: skip
    assert edi_orders_inbound(hub)["orders_created"] == 1
    _answers(hub)
    (sale,) = erp.sales.values()

    def services() -> list[tuple[str, Decimal]]:
        return [(ln.product_code, ln.unit_price) for ln in erp.sales[sale.erp_id].lines
                if ln.product_code.startswith("ALLOWANCE") and ln.quantity]  # fmt: skip

    assert sorted(p for p, _ in services()) == ["ALLOWANCE", "ALLOWANCE-7"]
    deleted = _change(sale, "C-1", SalesOrderLineChange(line_no=2, action="delete",
                                                         gtin=second.gtin))  # fmt: skip
    assert _send(hub, deleted, "6102")["changes_created"] == 1
    once = erp.sales[sale.erp_id]
    assert _send(hub, deleted, "6103")["changes_existing"] == 1 and erp.sales[sale.erp_id] == once
    assert services() == [("ALLOWANCE", Decimal("-4.00"))]
    goods = erp.sales[sale.erp_id].lines[0]
    assert erp.sales[sale.erp_id].untaxed_amount == (
        goods.quantity * goods.unit_price).quantize(Decimal("0.01")) - 4  # fmt: skip
    (ordrsp,) = _answers(hub)["ORDRSP"]
    assert [s.element(2) for s in ordrsp.segments if s.tag == "LIN"] == ["5", "2"]
    restated = _change(sale, "C-2").model_copy(update={"allowance_charges": (
        off.model_copy(update={"amount": Decimal(3)}),)})  # fmt: skip
    assert _send(hub, restated, "6104")["changes_created"] == 1
    assert services() == [("ALLOWANCE", Decimal("-3.00"))]
    versions = [i for i in trace(hub, sale.reference)["timeline"] if i["kind"] == "sale.changed"]
    assert "allowances restated (1)" in versions[-1]["summary"]


def test_a_changed_line_keeps_its_own_allowance_as_in_orders() -> None:
    """A changed line's ALC+A MOA+204 (gross PRI+AAB): its net price, and the allowance on
    the change line (the INVOIC states it again), as the ORDERS mapping reads it."""
    change = SalesOrderChange(
        order_number="PO-1", change_number="CH-3", buyer=PartyRef(gln=NORD),
        lines=(SalesOrderLineChange(line_no=1, action="change", gtin=GTINS[0],
                                    quantity=Decimal(4), unit_price=Decimal("2.5")),),
    )  # fmt: skip
    body = [("PRI", ["AAB", "2.5"]) if s[0] == "PRI" else s
            for s in change_to_ordchg(change, order_date="20261103")]  # fmt: skip
    at = next(i for i, s in enumerate(body) if s[0] == "PRI") + 1
    body[at:at] = [("ALC", "A", "", "", "1", ["DI"]), ("MOA", ["204", "1.00"])]
    mapped, errors = ordchg_to_change(to_segments(body))
    assert errors == [] and mapped is not None
    (line,) = mapped.lines
    assert line.unit_price == Decimal("2.25")
    assert [(a.charge, a.amount, a.reason_code) for a in line.allowance_charges] == [
        (False, Decimal("1.00"), "DI")]  # fmt: skip
