"""The EDI DAGs for real: partner ORDERS into Tryton sales and back out as EDIFACT documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connectors.edi import validate
from hub.config import load_partners
from sandbox.partner import ORDERS_D01B, drop, make_orders, orders_interchange

pytestmark = pytest.mark.e2e


def test_orders_in_sales_created_documents_out(
    erp_conn: Any, hub_state: Path, erp: Any, erp_operator: Any, unique: str, run_dag: Any
) -> None:
    profile = load_partners()["kaufhaus-nord"]
    orders = make_orders(
        profile.unb.partner_id, profile.unb.our_id, erp.list_products(), count=2, lines=3,
        seed=7, prefix=f"E2E{unique}-",
    )  # fmt: skip
    data = orders_interchange(
        orders, sender=profile.unb.partner_id, recipient=profile.unb.our_id,
        control_ref=unique[:8], message_type=ORDERS_D01B,
    )  # fmt: skip
    inbox = hub_state / "partners" / "kaufhaus-nord" / "in"
    outbox = hub_state / "partners" / "kaufhaus-nord" / "out"
    drop(inbox, f"orders-{unique}.edi", data)

    first = run_dag("edi_orders_inbound")

    assert first.state == "success", first.task_states
    reports = [v for k, v in first.xcom.items() if k.startswith("process_partner")]
    assert sum(r["orders_created"] for r in reports) == 2
    sale_ids = [erp_operator.sale_id(o.order_number) for o in orders]
    assert not list(inbox.iterdir())
    acks = sorted(p.name.split("_")[0] for p in outbox.iterdir())
    assert acks == ["CONTRL", "ORDRSP", "ORDRSP"]

    drop(inbox, f"orders-{unique}-again.edi", data)  # the partner sends the same file again
    again = run_dag("edi_orders_inbound")
    assert again.state == "success"
    reports = [v for k, v in again.xcom.items() if k.startswith("process_partner")]
    assert sum(r["duplicates"] for r in reports) == 1
    assert sum(r["orders_created"] for r in reports) == 0
    assert [erp_operator.sale_id(o.order_number) for o in orders] == sale_ids  # still one each

    for sale_id in sale_ids:
        erp_operator.ship_sale(sale_id)
        erp_operator.post_invoices(sale_id)
    out = run_dag("edi_documents_outbound")
    assert out.state == "success", out.task_states
    ours: dict[str, int] = {}
    for path in outbox.iterdir():
        text = path.read_bytes().decode("latin-1")
        if any(o.order_number in text for o in orders):
            kind = path.name.split("_")[0]
            ours[kind] = ours.get(kind, 0) + 1
            assert validate(path).verdict == "accepted", path.name
    assert ours.get("DESADV", 0) >= 2 and ours.get("INVOIC", 0) >= 2
    before = sorted(p.name for p in outbox.iterdir())
    rerun = run_dag("edi_documents_outbound")
    assert rerun.state == "success"
    assert sorted(p.name for p in outbox.iterdir()) == before  # nothing new: nothing written
