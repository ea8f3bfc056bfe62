"""The logistics_sync DAG, run with dag.test() against the sandbox Tryton ERP and DHL carrier."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from hub.settings import connection_json
from sandbox.carrier import SandboxCarrier
from tests.integration.test_erp_connector import order

pytestmark = pytest.mark.e2e

DAG_ID = "logistics_sync"


def _carrier_connections(monkeypatch: pytest.MonkeyPatch, carrier: SandboxCarrier) -> None:
    creds = carrier.credentials
    where = urlsplit(carrier.url)
    monkeypatch.setenv(
        "AIRFLOW_CONN_HUB_CARRIER_BCS",
        connection_json(
            conn_type="http", host=where.hostname or "", port=where.port,
            login=creds.bcs_app_id, password=creds.bcs_app_token, schema="bcs",
            extra={"user": creds.bcs_user, "signature": creds.bcs_signature},
        ),
    )  # fmt: skip
    monkeypatch.setenv(
        "AIRFLOW_CONN_HUB_CARRIER_EXPRESS",
        connection_json(
            conn_type="http", host=where.hostname or "", port=where.port,
            login=creds.express_username, password=creds.express_password,
        ),
    )  # fmt: skip


def test_dag_is_pooled_retried_and_bounded(dag_bag: Any) -> None:
    dag = dag_bag.get_dag(DAG_ID)
    assert dag is not None and dag_bag.import_errors == {}
    assert dag.max_active_runs == 1 and "carrier" in dag.tags and dag.doc_md
    assert {t.task_id for t in dag.tasks} == {"ship_shipments", "track_shipments"}
    for t in dag.tasks:
        assert t.pool == "carrier" and t.owner == "hub-ops"
        assert t.retries >= 1 and t.retry_exponential_backoff == 2.0


def test_dag_books_packed_erp_shipments_and_tracks_them(
    hub_state: Path,
    monkeypatch: pytest.MonkeyPatch,
    erp_conn: Any,
    erp: Any,
    erp_operator: Any,
    carrier_server: SandboxCarrier,
    unique: str,
    run_dag: Any,
    capfd: pytest.CaptureFixture[str],
) -> None:
    _carrier_connections(monkeypatch, carrier_server)
    (result,) = erp.create_sales([order(f"PO-{unique}-DAG", buyer=3, lines=1)])
    assert result.sale is not None
    (sale,) = erp_operator.call("sale.sale", "read", [int(result.sale.erp_id)], ["shipments"])
    ids = sale["shipments"]
    for action in ("assign_force", "pick", "pack"):
        erp_operator.call("stock.shipment.out", action, ids)
    (shipment,) = erp_operator.call("stock.shipment.out", "read", ids, ["number"])

    first = run_dag(DAG_ID)

    assert first.state == "success", first.tasks
    shipped = first.returned("ship_shipments")
    assert shipped["booked"] >= 1 and shipped["carrier"] == "dhl_bcs"
    counts = carrier_server.stats()["created_by_reference"]
    assert counts[shipment["number"]] == 1
    tracking = {s["reference"]: s["number"] for s in carrier_server.state.shipments_json()}
    (row,) = erp_operator.call("stock.shipment.out", "read", ids, ["reference"])
    assert row["reference"] == tracking[shipment["number"]]
    label = hub_state / "labels" / f"{shipment['number']}.pdf"
    assert label.read_bytes().startswith(b"%PDF-")

    carrier_server.advance(tracking[shipment["number"]], steps=10)  # ... delivered
    second = run_dag(DAG_ID)

    assert second.state == "success", second.tasks
    assert second.returned("ship_shipments")["booked"] == 0
    assert carrier_server.stats()["created_by_reference"][shipment["number"]] == 1
    tracked = second.returned("track_shipments")
    assert tracked["statuses"].get("delivered", 0) >= 1 and tracked["delivered_total"] >= 1
    output = capfd.readouterr().out
    for secret in (carrier_server.credentials.bcs_app_token, erp_conn.password):
        assert secret not in output
