"""The erp_reference_check DAG, run with dag.test() against the sandbox Tryton ERP."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.connections import erp_connection

pytestmark = pytest.mark.e2e

DAG_ID = "erp_reference_check"
TASK_ID = "check_reference_data"


def test_dag_reports_the_erp_reference_data(erp_conn: Any, run_dag: Any) -> None:
    result = run_dag(DAG_ID)

    assert result.state == "success", result.tasks
    assert result.tasks[TASK_ID].state == "success"
    assert result.tasks[TASK_ID].try_number == 1
    report = result.returned(TASK_ID)
    assert isinstance(report, dict) and report
    json.dumps(report)  # XCom-safe and printable by `hub run`
    # The sandbox's seeded catalogue and customers are all seen (other tests may add more).
    from sandbox.erp_seed import catalogue, customers

    assert report["products"] >= len(catalogue())
    assert report["products_with_gtin"] >= len(catalogue())
    assert report["parties"] >= len(customers())
    # the allowance/charge services are counted, never reported as missing a GTIN or stock
    from transforms.edifact_orders_allowances import ADJUSTMENT_PRODUCTS

    assert report["adjustment_services"] == len(ADJUSTMENT_PRODUCTS)
    gaps = set(report["products_missing_gtin"]) | set(report["products_out_of_stock"])
    assert not gaps & ADJUSTMENT_PRODUCTS

    # The DAG is a thin shell: it reports exactly what the flow reports outside Airflow.
    from hub.flows import run_flow

    assert report == json.loads(json.dumps(run_flow(DAG_ID)))


def test_wrong_password_fails_at_once_without_retrying(
    erp_server: Any,
    hub_state: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    run_dag: Any,
) -> None:
    wrong = "not-the-" + erp_server.password
    monkeypatch.setenv(
        "AIRFLOW_CONN_HUB_ERP",
        erp_connection(erp_server.url, erp_server.database, erp_server.login, wrong),
    )

    result = run_dag(DAG_ID, retry_delay=timedelta(0))

    assert result.state == "failed"
    assert result.tasks[TASK_ID].state == "failed"
    # PermanentError: the DAG's retry policy fails the task on the first try.
    assert result.tasks[TASK_ID].try_number == 1
    assert TASK_ID not in result.xcom
    task_output = capfd.readouterr().out
    assert "permanent error" in task_output  # the retry policy's reason, logged by Airflow
    assert wrong not in task_output


def test_erp_down_retries_then_fails(
    closed_port: int,
    hub_state: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    dag_bag: Any,
    run_dag: Any,
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_HUB_ERP",
        erp_connection(f"http://127.0.0.1:{closed_port}", "hub", "admin", "unused-secret"),
    )
    retries = dag_bag.get_dag(DAG_ID).get_task(TASK_ID).retries
    assert retries >= 1

    result = run_dag(DAG_ID, retry_delay=timedelta(0))

    assert result.state == "failed"
    assert result.tasks[TASK_ID].state == "failed"
    # TransientError: every retry was used before the task failed.
    assert result.tasks[TASK_ID].try_number == retries + 1
    task_output = capfd.readouterr().out
    assert task_output.count("transient error: retrying") >= retries  # the retry policy's reason
    assert f"127.0.0.1:{closed_port}" in task_output  # the error names where the ERP was
    assert "unused-secret" not in task_output
