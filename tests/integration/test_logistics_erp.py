"""Shipments flow between the sandbox Tryton ERP and the sandbox DHL carrier, both on loopback."""

from __future__ import annotations

import datetime as dt
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from connectors.erp.tryton import TrytonErp
from hub.flows.logistics import SHIPMENTS_STREAM, ship_ready_shipments
from sandbox.carrier import SandboxCarrier
from tests.integration.test_erp_connector import order
from tests.integration.test_logistics_flow import make_hub

pytestmark = pytest.mark.integration


def test_packed_tryton_shipment_gets_a_dhl_label_and_tracking_number(
    tmp_path: Path,
    erp: TrytonErp,
    erp_operator: Any,
    carrier_server: SandboxCarrier,
    unique: str,
) -> None:
    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    (result,) = erp.create_sales([order(f"PO-{unique}-LOG", buyer=1, lines=2)])
    assert result.sale is not None
    (sale,) = erp_operator.call("sale.sale", "read", [int(result.sale.erp_id)], ["shipments"])
    ids = sale["shipments"]
    erp_operator.call("stock.shipment.out", "assign_force", ids)
    erp_operator.call("stock.shipment.out", "pick", ids)
    erp_operator.call("stock.shipment.out", "pack", ids)

    with closing(make_hub(tmp_path, erp, carrier_server)) as hub:  # type: ignore[arg-type]
        hub.ledger.advance_cursor(SHIPMENTS_STREAM, started.isoformat())  # this test's window
        report = ship_ready_shipments(hub)
        again = ship_ready_shipments(hub)

    mine = [s for s in erp.shipments_changed_since(started) if s.erp_id in {str(i) for i in ids}]
    assert len(mine) == 1 and mine[0].state == "packed"
    shipment = mine[0]
    assert report["booked"] >= 1, report
    assert again["booked"] == 0
    assert carrier_server.stats()["created_by_reference"][shipment.number] == 1
    by_reference = {s["reference"]: s["number"] for s in carrier_server.state.shipments_json()}
    assert shipment.tracking_number == by_reference[shipment.number]
    assert (tmp_path / "home" / "labels" / f"{shipment.number}.pdf").read_bytes()[:5] == b"%PDF-"
