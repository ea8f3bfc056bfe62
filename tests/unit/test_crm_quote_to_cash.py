"""CRM quote-to-cash on FakeCrm and FakeErp: every sale from quotation on as a deal with line
items and a quote, the pipeline checked at start, delivery and tracking on the deal."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from bench.crm_sync import seed_erp
from connectors.crm.fake import FakeCrm
from connectors.erp.fake import FakeErp
from hub.bootstrap import Hub
from hub.flows.crm_sync import crm_push
from hub.ledger import Ledger
from hub.ledger.journal import Effect, OnUnknown
from schemas.crm_config import CrmConfig
from schemas.errors import PermanentError
from schemas.model import ErpSale, PartyRef, SalesOrder, SalesOrderLine
from transforms.keys import BookingKey, TrackingKey


def typed_in_the_erp(erp: FakeErp, number: str, state: Any = "quotation") -> ErpSale:
    """A sale a person keys into the ERP (not through the hub): two lines."""
    order = SalesOrder(
        order_number=number, order_date=date(2024, 1, 1), buyer=PartyRef(erp_id="4"),
        currency="EUR",
        lines=(SalesOrderLine(line_no=1, product_code="P0001", quantity=Decimal(2)),
               SalesOrderLine(line_no=2, product_code="P0002", quantity=Decimal(5))),
    )  # fmt: skip
    sale = erp.create_sales([order], state=state)[0].sale
    assert sale is not None
    erp.tick()
    return sale


def props(crm: FakeCrm, kind: str) -> dict[str, dict[str, str]]:
    return {r.erp_id or r.crm_id: r.properties for r in crm.records(kind)}


def sent(report: Mapping[str, Any]) -> list[str]:
    return sorted(k for k in report if k.endswith("_sent"))


def test_a_quotation_typed_in_the_erp_is_a_deal_with_line_items_and_a_quote(
    ledger: Ledger,
) -> None:
    crm, erp = FakeCrm(), seed_erp(3, products=3)
    hub = Hub(ledger, erp=erp, crm=crm)
    sale = typed_in_the_erp(erp, "Q-100")

    first = crm_push(hub)
    again = crm_push(hub)

    assert first["status"] == "ok", first
    deal = props(crm, "deals")[sale.erp_id]
    assert (deal["dealstage"], deal["hub_sale_state"]) == ("presentationscheduled", "quotation")
    assert deal["amount"] == str(sale.total_amount)
    quote = props(crm, "quotes")[sale.erp_id]
    assert quote["hs_status"] == "APPROVAL_NOT_NEEDED" and quote["hub_sale_number"] == sale.number
    deal_id = next(r.crm_id for r in crm.records("deals"))
    quote_id = next(r.crm_id for r in crm.records("quotes"))
    assert crm.associations("deals", "quotes", [deal_id]) == {deal_id: [quote_id]}
    lines = crm.associations("deals", "line_items", [deal_id])[deal_id]
    assert len(lines) == 2
    assert sent(again) == [], again  # nothing changed: not one write

    erp.create_sales([SalesOrder(
        order_number="Q-100", order_date=date(2024, 1, 1), buyer=PartyRef(erp_id="4"),
        currency="EUR", lines=(SalesOrderLine(line_no=1, product_code="P0001",
                                              quantity=Decimal(2)),),
    )], state="confirmed")  # fmt: skip
    erp.tick()
    moved = crm_push(hub)
    assert sent(moved) == ["deals_sent", "quotes_sent"]
    assert props(crm, "deals")[sale.erp_id]["dealstage"] == "contractsent"
    assert props(crm, "quotes")[sale.erp_id]["hs_status"] == "APPROVED"
    assert len(crm.records("quotes")) == 1 and len(crm.records("deals")) == 1


def test_an_unknown_stage_stops_the_run_before_anything_is_written(ledger: Ledger) -> None:
    crm, erp = FakeCrm(), seed_erp(2, products=1)
    config = CrmConfig(deal_stages={"confirmed": "contract_sent"})

    with pytest.raises(PermanentError) as stopped:
        crm_push(Hub(ledger, erp=erp, crm=crm), config=config)

    message = str(stopped.value)
    assert "deal_stages.confirmed" in message and "'contract_sent'" in message
    assert "contractsent" in message  # the stages there are, to pick from
    assert crm.records("companies") == [] and crm.records("products") == []
    with pytest.raises(PermanentError, match="no deal pipeline 'b2b'"):
        crm_push(Hub(ledger, erp=erp, crm=crm), config=CrmConfig(pipeline="b2b"))


def _booked(ledger: Ledger, shipment: str, tracking: str, orders: list[str]) -> None:
    """What logistics_shipments journals when the carrier booked a parcel."""
    result = {"carrier": "dhl", "tracking_number": tracking, "shipment_number": shipment,
              "order_numbers": orders}  # fmt: skip
    ledger.once(BookingKey(shipment), shipment, lambda: result, on_unknown=OnUnknown.repeat(),
                effect=Effect("logistics_shipments", "carrier", "book"))  # fmt: skip


def _tracked(ledger: Ledger, tracking: str, status: str, at: str) -> None:
    """What logistics_tracking journals when it records a changed carrier status."""
    result = {
        "status": status,
        "tracking_number": tracking,
        "last_event_at": at,
        "events": [{"code": status, "at": at, "status": status, "location": None}],
    }
    ledger.once(TrackingKey(tracking, f"{status}-{at}"), status, lambda: result,
                on_unknown=OnUnknown.repeat(),
                effect=Effect("logistics_tracking", "carrier", "record_status"))  # fmt: skip


def test_tracking_carrier_status_and_delivered_date_reach_the_deal(ledger: Ledger) -> None:
    crm, erp = FakeCrm(), seed_erp(3, products=3)
    hub = Hub(ledger, erp=erp, crm=crm)
    sale = typed_in_the_erp(erp, "PO-7", state="confirmed")
    other = typed_in_the_erp(erp, "PO-8", state="confirmed")
    crm_push(hub)
    _booked(ledger, "SH1", "TN0001", ["PO-7"])
    _tracked(ledger, "TN0001", "in_transit", "2024-01-02T08:00:00+00:00")

    shipped = crm_push(hub)
    deal = props(crm, "deals")[sale.erp_id]
    assert (deal["hub_tracking_number"], deal["hub_carrier"]) == ("TN0001", "dhl")
    assert deal["hub_carrier_status"] == "in_transit" and "hub_delivered_date" not in deal
    assert "hub_tracking_number" not in props(crm, "deals")[other.erp_id]
    assert shipped["delivery_updates_sent"] == 1

    _tracked(ledger, "TN0001", "delivered", "2024-01-03T14:30:00+00:00")
    crm_push(hub)
    again = crm_push(hub)

    deal = props(crm, "deals")[sale.erp_id]
    assert deal["hub_carrier_status"] == "delivered"
    assert deal["hub_delivered_date"] == "2024-01-03"
    assert "delivery_updates_sent" not in again
