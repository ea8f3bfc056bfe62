"""The crm_sync DAG run with dag.test() against the sandbox Tryton ERP and the sandbox CRM."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from sandbox.crm import SandboxCrm
from tests.fixtures.crm import crm_connection

pytestmark = pytest.mark.e2e

DAG_ID = "crm_sync"


def test_dag_pushes_erp_parties_as_companies_and_pulls_back_no_echo(
    erp_conn: Any, hub_state: Path, crm_server: SandboxCrm, erp: Any,
    monkeypatch: pytest.MonkeyPatch, run_dag: Any,
) -> None:  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_HUB_CRM", crm_connection(crm_server.url, crm_server.token))

    result = run_dag(DAG_ID)

    assert result.state == "success", result.tasks
    push, pull = result.returned("push"), result.returned("pull")
    parties = erp.parties_changed_since(None, limit=100_000)
    assert push["parties_read"] == len(parties) > 0
    companies = {r["properties"]["hub_erp_id"]: r["properties"]["name"]
                 for r in crm_server.records("companies")}  # fmt: skip
    assert companies == {p.erp_id: p.name for p in parties}
    assert pull["companies_echo_skipped"] == len(parties)
    assert "erp_parties_updated" not in pull and "erp_parties_created" not in pull

    company = crm_server.user_create("companies", {"name": "Webhook Kunde AG",
                                                   "lifecyclestage": "customer"})  # fmt: skip
    again = run_dag(DAG_ID, {"changes": [f"companies:{company['id']}"]})
    assert again.state == "success", again.tasks
    assert "companies_sent" not in again.returned("push")
    pulled = again.returned("pull")
    assert pulled["companies_named"] == 1  # read by id, as the webhook named it
    assert pulled["companies_linked"] == 1  # the named company reached the ERP

    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match="changes"):  # refused before any task
        run_dag(DAG_ID, {"changes": ["company 7"]})


def test_crm_down_fails_after_retries_naming_the_crm(
    erp_conn: Any, hub_state: Path, closed_port: int, monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str], dag_bag: Any, run_dag: Any,
) -> None:  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_HUB_CRM", crm_connection(
        f"http://127.0.0.1:{closed_port}", "secret-token-xyz", attempts=2,
    ))  # fmt: skip
    retries = dag_bag.get_dag(DAG_ID).get_task("push").retries
    assert retries >= 1

    result = run_dag(DAG_ID, retry_delay=timedelta(0))

    assert result.state == "failed"
    assert result.tasks["push"].state == "failed"
    assert result.tasks["push"].try_number == retries + 1
    output = capfd.readouterr().out
    assert "[crm]" in output and f"127.0.0.1:{closed_port}" in output
    assert "secret-token-xyz" not in output
    from hub.ledger import Ledger

    ledger = Ledger(f"sqlite:///{hub_state / 'ledger.sqlite'}")
    assert ledger.cursor("crm.push.parties") == (None, [])
    ledger.dispose()
