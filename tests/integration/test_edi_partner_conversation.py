"""The partner conversation against the real Tryton: a price-list customer's order with an
allowance accepted at its price, a backorder line answered from Tryton's stock, the sale
changed by ORDCHG while a quotation and cancelled; a processed sale amended (sale_amendment)
and cancelled, refused once its goods left (issue 14)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.edi import EdifactReader, Message, validate
from connectors.erp.tryton import TrytonErp
from hub.bootstrap import Hub
from hub.config import load_partners
from hub.flows.edi_inbound import edi_orders_inbound
from hub.flows.edi_outbound import edi_documents_outbound
from hub.ledger import Ledger
from hub.settings import PROJECT_ROOT
from sandbox.demo_partner import ordchg_for
from sandbox.erp_seed import FOREIGN_RATES, catalogue, customers
from sandbox.partner import drop, orders_interchange
from schemas.model import AllowanceCharge, PartyRef, SalesOrder, SalesOrderChange, SalesOrderLine
from schemas.model import SalesOrderLineChange as LineChange

pytestmark = pytest.mark.integration

NORD = customers()[0]  # Kaufhaus Nord buys from the "Retail partners" price list
US = "4006389999993"
ITEMS = catalogue()


@pytest.fixture
def hub(tmp_path: Path, erp: TrytonErp) -> Iterator[Hub]:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    ledger.upgrade()
    shipped = load_partners(PROJECT_ROOT / "config" / "partners")["kaufhaus-nord"]
    nord = shipped.model_copy(update={"ordrsp_mode": "availability", "backorder_days": 7,
                                      "order_state": "quotation"})  # fmt: skip
    wired = Hub(ledger, erp=erp, home=tmp_path / "home", partners={nord.id: nord})
    yield wired
    wired.close()


def _boxes(hub: Hub) -> tuple[Path, Path]:
    box = hub.mailbox(hub.partners["kaufhaus-nord"])
    return box.inbox, box.outbox  # type: ignore[attr-defined]


def _answers(hub: Hub) -> list[Message]:
    _, outbox = _boxes(hub)
    found = []
    for path in sorted(outbox.iterdir()):
        assert validate(path).verdict == "accepted", validate(path).to_dict()
        found += [e for e in EdifactReader(path.read_bytes()) if isinstance(e, Message)]
        path.unlink()
    return found


def test_conversation_on_tryton(hub: Hub, erp: TrytonErp, unique: str) -> None:
    first, second = ITEMS[0], ITEMS[1]
    number = f"PL-{unique}"[:35]
    order = SalesOrder(
        order_number=number, order_date=dt.date.today(), buyer=PartyRef(gln=NORD.gln),
        supplier=PartyRef(gln=US), currency="EUR",
        lines=(
            # 100 at the list price less 10% (ALC/PCD) = the price list's price from 100
            SalesOrderLine(line_no=1, gtin=first.gtin, quantity=Decimal(100),
                           unit_price=first.list_price, discount_percent=Decimal(10)),
            # far more than the warehouse holds: a backorder
            SalesOrderLine(line_no=2, gtin=second.gtin, quantity=Decimal(100_000),
                           unit_price=(second.list_price * Decimal("0.9")).quantize(
                               Decimal("0.01"))),
        ),
    )  # fmt: skip
    inbox, _ = _boxes(hub)
    drop(inbox, "o.edi", orders_interchange([order], sender=NORD.gln, recipient=US,
                                            control_ref=f"9{unique[-8:]}"))  # fmt: skip
    report = edi_orders_inbound(hub)
    assert report["orders_created"] == 1, report
    party = erp.find_parties_by_gln([NORD.gln])[NORD.gln]
    sale = erp.find_sale(str(party.erp_id), number)
    assert sale is not None and sale.state == "quotation"
    assert sale.lines[0].unit_price == (first.list_price * Decimal("0.9")).quantize(
        Decimal("0.0001"))  # fmt: skip
    (ordrsp,) = [m for m in _answers(hub) if m.type.startswith("ORDRSP")]
    qty = [(s.element(1, 1), s.element(1, 2)) for s in ordrsp.segments if s.tag == "QTY"]
    assert qty[0] == ("21", "100") and qty[2][0] == "83"  # line 2: part now, the rest later
    assert any(s.tag == "DTM" and s.element(1, 1) == "69" for s in ordrsp.segments)

    change = SalesOrderChange(order_number=number, change_number="1", buyer=PartyRef(gln=NORD.gln),
                              lines=(LineChange(line_no=1, action="change", gtin=first.gtin,
                                                quantity=Decimal(120)),))  # fmt: skip
    drop(inbox, "c.edi", ordchg_for(change, partner_gln=NORD.gln, our_gln=US,
                                    control_ref=f"8{unique[-8:]}"))  # fmt: skip
    assert edi_orders_inbound(hub)["changes_created"] == 1
    changed = erp.get_sales([sale.erp_id])[0]
    assert changed.lines[0].quantity == 120 and changed.state == "quotation"
    assert [m.type.split(":")[0] for m in _answers(hub)] == ["CONTRL", "ORDRSP"]

    cancel = change.model_copy(update={"change_number": "2", "cancel": True, "lines": ()})
    drop(inbox, "x.edi", ordchg_for(cancel, partner_gln=NORD.gln, our_gln=US,
                                    control_ref=f"7{unique[-8:]}"))  # fmt: skip
    edi_orders_inbound(hub)
    assert erp.get_sales([sale.erp_id])[0].state == "cancelled"


def test_an_order_in_usd_goes_through_sale_invoice_and_invoic_in_usd(
    hub: Hub, erp: TrytonErp, erp_operator: Any, unique: str, tmp_path: Path
) -> None:
    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)
    item = ITEMS[4]
    usd_price = (item.list_price * FOREIGN_RATES["USD"]).quantize(Decimal("0.01"))
    number = f"US-{unique}"[:35]
    order = SalesOrder(
        order_number=number, order_date=dt.date.today(), buyer=PartyRef(gln=NORD.gln),
        supplier=PartyRef(gln=US), currency="USD",
        lines=(SalesOrderLine(line_no=1, gtin=item.gtin, quantity=Decimal(3),
                              unit_price=usd_price),),
    )  # fmt: skip
    inbox, _ = _boxes(hub)
    drop(inbox, "usd.edi", orders_interchange([order], sender=NORD.gln, recipient=US,
                                              control_ref=f"6{unique[-8:]}"))  # fmt: skip
    report = edi_orders_inbound(hub)
    assert report["orders_created"] == 1, report  # checked against the USD customer price
    party = erp.find_parties_by_gln([NORD.gln])[NORD.gln]
    sale = erp.find_sale(str(party.erp_id), number)
    assert sale is not None and sale.currency == "USD" and sale.lines[0].unit_price == usd_price
    operator_sale = int(sale.erp_id)
    erp_operator.call("sale.sale", "confirm", [operator_sale])
    erp_operator.ship_sale(operator_sale)
    erp_operator.post_invoices(operator_sale)
    (invoice,) = [i for i in erp.invoices_posted_since(started) if number in i.order_numbers]
    assert (invoice.currency, invoice.company_currency) == ("USD", "EUR")
    assert invoice.currency_rate == FOREIGN_RATES["USD"]
    edi_documents_outbound(hub, partner="kaufhaus-nord", documents="INVOIC",
                           since=started.isoformat())  # fmt: skip
    _, outbox = _boxes(hub)
    (path,) = [p for p in outbox.glob("INVOIC_*") if number.encode() in p.read_bytes()]
    assert validate(path).verdict == "accepted"
    (msg,) = [e for e in EdifactReader(path.read_bytes()) if isinstance(e, Message)]
    (cux,) = [s for s in msg.segments if s.tag == "CUX"]
    assert (cux.element(1, 2), cux.element(2, 2)) == ("USD", "EUR")
    assert Decimal(cux.element(3)) == FOREIGN_RATES["USD"]
    moa = {s.element(1, 1): Decimal(s.element(1, 2)) for s in msg.segments if s.tag == "MOA"}
    assert moa["77"] == invoice.total_amount  # in USD, to the cent, as the ERP computed


def test_a_processed_sale_is_amended_then_cancelled_and_refused_once_shipped(
    hub: Hub, erp: TrytonErp, erp_operator: Any, unique: str
) -> None:
    """Tryton processes a sale on confirm: ORDCHG goes through a sale_amendment while its
    shipment waits; once the goods left, APERAK + ORDRSP 27 and nothing changes."""
    confirming = hub.partners["kaufhaus-nord"].model_copy(update={"order_state": "confirmed"})
    hub.partners["kaufhaus-nord"] = confirming
    inbox, _ = _boxes(hub)
    numbers = [f"AM-{unique}-{k}"[:35] for k in (1, 2)]
    orders = [SalesOrder(
        order_number=n, order_date=dt.date.today(), buyer=PartyRef(gln=NORD.gln),
        supplier=PartyRef(gln=US), currency="EUR",
        lines=tuple(SalesOrderLine(line_no=k, gtin=ITEMS[k].gtin, quantity=Decimal(2))
                    for k in (1, 2)),
    ) for n in numbers]  # fmt: skip
    drop(inbox, "a.edi", orders_interchange(orders, sender=NORD.gln, recipient=US,
                                            control_ref=f"5{unique[-8:]}"))  # fmt: skip
    assert edi_orders_inbound(hub)["orders_created"] == 2
    party = erp.find_parties_by_gln([NORD.gln])[NORD.gln]
    sale, shipped = (erp.find_sale(str(party.erp_id), n) for n in numbers)
    assert sale is not None and shipped is not None and sale.state == "processing"
    erp_operator.ship_sale(int(shipped.erp_id))
    _answers(hub)

    change = SalesOrderChange(order_number=numbers[0], change_number="1",
                              buyer=PartyRef(gln=NORD.gln),
                              lines=(LineChange(line_no=1, action="change", gtin=ITEMS[1].gtin,
                                                quantity=Decimal(5)),
                                     LineChange(line_no=2, action="delete",
                                                gtin=ITEMS[2].gtin)))  # fmt: skip
    for ref in ("4", "3"):  # the second copy: applied once (one amendment)
        drop(inbox, f"c{ref}.edi", ordchg_for(change, partner_gln=NORD.gln, our_gln=US,
                                              control_ref=f"{ref}{unique[-8:]}"))  # fmt: skip
        edi_orders_inbound(hub)
    amended = erp.get_sales([sale.erp_id])[0]
    assert amended.state == "processing"
    assert [(ln.line_no, ln.quantity) for ln in amended.lines] == [(1, 5), (2, 0)]
    rows = erp.records.search_read("sale.amendment", [("sale", "=", int(sale.erp_id))], ["state"])
    assert [r["state"] for r in rows] == ["validated"]
    assert sorted(m.type.split(":")[0] for m in _answers(hub)) == ["CONTRL", "CONTRL", "ORDRSP"]

    cancel = change.model_copy(update={"change_number": "2", "cancel": True, "lines": ()})
    drop(inbox, "x.edi", ordchg_for(cancel, partner_gln=NORD.gln, our_gln=US,
                                    control_ref=f"2{unique[-8:]}"))  # fmt: skip
    assert edi_orders_inbound(hub)["changes_created"] == 1
    assert erp.get_sales([sale.erp_id])[0].state == "cancelled"
    assert erp.find_sale(str(party.erp_id), numbers[0]) is None

    late = change.model_copy(update={"order_number": numbers[1]})
    drop(inbox, "l.edi", ordchg_for(late, partner_gln=NORD.gln, our_gln=US,
                                    control_ref=f"1{unique[-8:]}"))  # fmt: skip
    edi_orders_inbound(hub)
    answers = {m.type.split(":")[0]: m for m in _answers(hub)}
    bgm = next(s for s in answers["ORDRSP"].segments if s.tag == "BGM")
    assert bgm.element(3) == "27" and "APERAK" in answers
    assert [ln.quantity for ln in erp.get_sales([shipped.erp_id])[0].lines] == [2, 2]


def test_order_level_allowance_and_charge_reach_the_sale_and_the_invoic(
    hub: Hub, erp: TrytonErp, erp_operator: Any, unique: str
) -> None:
    """ORDERS header ALC (an allowance and a charge as amounts): two service lines on the
    Tryton sale, its total lines - allowance + charge; the INVOIC states them again as header
    ALC with MOA 79 + 131 = 125, the ERP invoice's untaxed total (issue 14.3)."""
    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)
    first, second = ITEMS[-1], ITEMS[-2]  # both at 19%, as the services are
    number = f"AC-{unique}"[:35]
    order = SalesOrder(
        order_number=number, order_date=dt.date.today(), buyer=PartyRef(gln=NORD.gln),
        supplier=PartyRef(gln=US), currency="EUR",
        allowance_charges=(AllowanceCharge(amount=Decimal("5.00"), reason_code="TD"),
                           AllowanceCharge(charge=True, amount=Decimal("3.50"), reason_code="FC")),
        lines=(SalesOrderLine(line_no=1, gtin=first.gtin, quantity=Decimal(2),
                              unit_price=first.list_price),
               SalesOrderLine(line_no=2, gtin=second.gtin, quantity=Decimal(3),
                              unit_price=second.list_price)),
    )  # fmt: skip
    goods = 2 * first.list_price + 3 * second.list_price
    inbox, _ = _boxes(hub)
    drop(inbox, "ac.edi", orders_interchange([order], sender=NORD.gln, recipient=US,
                                             control_ref=f"5{unique[-8:]}"))  # fmt: skip
    report = edi_orders_inbound(hub)
    assert report["orders_created"] == 1, (report, [d.reason for d in hub.ledger.dead_letters()])
    party = erp.find_parties_by_gln([NORD.gln])[NORD.gln]
    sale = erp.find_sale(str(party.erp_id), number)
    assert sale is not None and sale.untaxed_amount == goods - Decimal("1.50")
    assert [(ln.product_code, ln.unit_price) for ln in sale.lines[2:]] == [
        ("ALLOWANCE", Decimal("-5.00")), ("CHARGE", Decimal("3.50"))]  # fmt: skip
    (ordrsp,) = [m for m in _answers(hub) if m.type.startswith("ORDRSP")]
    assert [s.element(2) for s in ordrsp.segments if s.tag == "LIN"] == ["5", "5"]  # accepted
    erp_operator.call("sale.sale", "confirm", [int(sale.erp_id)])
    erp_operator.ship_sale(int(sale.erp_id))
    erp_operator.post_invoices(int(sale.erp_id))
    (invoice,) = [i for i in erp.invoices_posted_since(started) if number in i.order_numbers]
    assert invoice.untaxed_amount == sale.untaxed_amount  # one invoice: goods and adjustments
    edi_documents_outbound(hub, partner="kaufhaus-nord", documents="INVOIC",
                           since=started.isoformat())  # fmt: skip
    _, outbox = _boxes(hub)
    (path,) = [p for p in outbox.glob("INVOIC_*") if number.encode() in p.read_bytes()]
    assert validate(path).verdict == "accepted", validate(path).to_dict()
    (msg,) = [e for e in EdifactReader(path.read_bytes()) if isinstance(e, Message)]
    alc = [s.element(1) for s in msg.segments if s.tag == "ALC"]
    moa: dict[str, list[Decimal]] = {}
    for s in (s for s in msg.segments if s.tag == "MOA"):
        moa.setdefault(s.element(1, 1), []).append(Decimal(s.element(1, 2)))
    assert alc == ["A", "C"] and (moa["204"], moa["23"]) == ([Decimal(5)], [Decimal("3.5")])
    assert moa["79"] == [goods] and moa["79"][0] + moa["131"][0] == invoice.untaxed_amount
    assert moa["125"] == [invoice.untaxed_amount] * 2  # the total, and its one VAT group's base
