"""`hub trace` finds one order's steps from any of its numbers; `hub reconcile` its gaps."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.carrier.fake import FakeCarrier
from connectors.erp.fake import FakeErp
from hub.bootstrap import Hub
from hub.flows import run_flow
from hub.ops.events import record_event
from hub.ops.reconcile import reconcile
from hub.ops.reconcile_carrier import SECTION
from hub.ops.trace import trace
from sandbox.partner import drop, make_orders, orders_interchange
from tests.fixtures.carrier import make_shipment
from tests.fixtures.hub import NORD, US, hub_on


@pytest.fixture
def hub(tmp_path: Path, erp: FakeErp) -> Hub:
    h = hub_on(tmp_path, erp)
    orders = make_orders(NORD, US, list(erp.products.values()), count=2, seed=1)
    inbox = h.mailbox(h.partners["kaufhaus-nord"]).inbox  # type: ignore[attr-defined]
    drop(inbox, "o.edi", orders_interchange(orders, sender=NORD, recipient=US, control_ref="1001"))
    run_flow("edi_orders_inbound", hub=h)
    return h


def test_trace_by_order_number_shows_interchange_acks_and_sale(hub: Hub, erp: FakeErp) -> None:
    data = trace(hub, "PO00100000")
    kinds = [i["kind"] for i in data["timeline"]]
    assert kinds[0] == "interchange.received"
    assert {"contrl.sent", "sale.created", "ordrsp.sent"} <= set(kinds)
    sale = next(s for s in erp.sales.values() if s.reference == "PO00100000")
    assert data["sales"] == [sale.number] and data["partners"] == ["kaufhaus-nord"]
    received = data["timeline"][0]
    assert Path(received["document"]["path"]).is_file()  # the raw file in the archive
    ordrsp = next(i for i in data["timeline"] if i["kind"] == "ordrsp.sent")
    assert "PO00100000" in ordrsp["document"]["text"]  # the ack bytes kept on the interchange
    other = next(i for i in data["timeline"] if i["kind"] == "sale.created")
    assert "PO00100000" in other["source"]


def test_trace_by_sale_number_and_recorded_events(hub: Hub, erp: FakeErp) -> None:
    sale = next(s for s in erp.sales.values() if s.reference == "PO00100001")
    assert sale.number is not None
    for _ in range(2):  # the second time is a retry: it records the event once
        record_event(
            hub.ledger,
            ref="PO00100001",
            kind="invoic.sent",
            system="edi",
            state="sent",
            document="/archive/x.edi",
            refs=(sale.number,),
        )
    data = trace(hub, sale.number)
    assert data["orders"] == ["PO00100001"]
    kinds = [i["kind"] for i in data["timeline"]]
    assert kinds.count("invoic.sent") == 1 and "sale.created" in kinds
    assert "PO00100000" not in str(data["timeline"][1:])  # the other order stays out


def test_trace_of_an_unknown_reference_finds_nothing(hub: Hub) -> None:
    assert trace(hub, "NO-SUCH-ORDER") == {
        "ref": "NO-SUCH-ORDER",
        "found": False,
        "orders": [],
        "sales": [],
        "shipments": [],
        "tracking_numbers": [],
        "partners": [],
        "timeline": [],
    }


def test_reconcile_is_clean_then_names_each_difference(hub: Hub, erp: FakeErp) -> None:
    clean = reconcile(hub)
    assert clean["differences"] == 0 and clean["clean"]
    sales = next(s for s in clean["sections"] if s["section"] == "erp.sales")
    assert sales["counts"] == {"hub": 2, "erp": 2}
    assert sales["hashes"]["hub"] == sales["hashes"]["erp"]
    assert all(not s["active"] for s in clean["sections"][1:])  # flows that never ran

    first, second = sorted(erp.sales)
    del erp.sales[first]
    changed = erp.sales[second]
    line = changed.lines[0].model_copy(update={"quantity": changed.lines[0].quantity + 1})
    erp.sales[second] = changed.model_copy(update={"lines": (line, *changed.lines[1:])})
    dirty = reconcile(hub)
    kinds = sorted(d["kind"] for s in dirty["sections"] for d in s["differences"])
    assert kinds == ["changed_in_erp", "missing_in_erp"] and not dirty["clean"]


def test_reconcile_asks_the_carrier_itself(hub: Hub, erp: FakeErp) -> None:
    carrier = FakeCarrier(can_look_up=True)  # lists the shipments under our account
    asked = Hub(hub.ledger, erp=erp, carrier=carrier, home=hub.home, partners=hub.partners)
    assert not next(s for s in reconcile(asked)["sections"] if s["section"] == SECTION)["active"]
    carrier.book(make_shipment("CS0099"))  # booked by hand in the carrier's portal
    section = next(s for s in reconcile(asked)["sections"] if s["section"] == SECTION)
    assert section["active"] and section["systems"] == ["erp", "carrier"]
    assert [d["kind"] for d in section["differences"]] == ["unknown_to_erp"]
