"""Secrets never reach logs or files: the demo flows run with recognisable secrets, then a scan.

The ERP password, the CRM token and the SMTP password are set only through
``AIRFLOW_CONN_*`` variables; the EDI inbound DAG (with a bad file, so a dead letter and an
alert mail follow), the ERP reference check and the CRM sync run for real; then every file
under the hub's home (ledger, archives, outboxes, quarantine) and Airflow's home (metadata
DB, task logs) and everything logged is searched for the three secrets.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.settings import connection_json
from tests.integration.test_notify_smtp import SMTP_PASSWORD, Mailbox, smtp_server

pytestmark = pytest.mark.integration

__all__ = ["smtp_server"]  # the fixture, reused

ERP_SECRET = f"ERP-secret-{uuid.uuid4().hex[:12]}"
CRM_SECRET = f"CRM-token-{uuid.uuid4().hex[:12]}"
SECRETS = {"erp password": ERP_SECRET, "crm token": CRM_SECRET, "smtp password": SMTP_PASSWORD}


@pytest.fixture
def secret_erp(erp_template: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A sandbox ERP whose admin password is ERP_SECRET, outside the hub's home."""
    from sandbox.erp import SandboxErp

    with SandboxErp(workdir=tmp_path / "erp-server", password=ERP_SECRET) as erp:
        monkeypatch.setenv(
            "AIRFLOW_CONN_HUB_ERP",
            connection_json(
                conn_type="tryton",
                host=erp.host,
                port=erp.port,
                login=erp.login,
                password=ERP_SECRET,
                schema=erp.database,
            ),
        )
        yield erp


@pytest.fixture
def secret_crm(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The sandbox CRM accepting only CRM_SECRET as its bearer token."""
    from sandbox.crm import SandboxCrm

    with SandboxCrm(token=CRM_SECRET, rate_limit=190) as crm:
        host, _, port = crm.url.split("//", 1)[1].rstrip("/").partition(":")
        monkeypatch.setenv(
            "AIRFLOW_CONN_HUB_CRM",
            connection_json(
                conn_type="http",
                host=host,
                port=int(port),
                password=CRM_SECRET,
                extra={"account": "demo-portal"},
            ),
        )
        yield crm


def _files(*roots: Path) -> list[Path]:
    return [p for root in roots if root.exists() for p in root.rglob("*") if p.is_file()]


def test_demo_flows_leave_no_secret_in_any_log_or_file(
    airflow_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    secret_erp: Any,
    secret_crm: Any,
    smtp_server: Mailbox,
    run_dag: Any,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    hub_home = tmp_path / "hub"
    monkeypatch.setenv("HUB_HOME", str(hub_home))
    monkeypatch.delenv("HUB_DATABASE_URL", raising=False)
    caplog.set_level("DEBUG")

    from sandbox.demo import _drop_orders
    from sandbox.partner import drop

    dropped = _drop_orders(hub_home)
    assert len(dropped) == 2
    drop(hub_home / "partners" / "kaufhaus-nord" / "in", "broken.edi", b"this is no EDIFACT\n")

    results = {
        dag_id: run_dag(dag_id)
        for dag_id in ("erp_reference_check", "edi_orders_inbound", "crm_sync")
    }
    states = {dag_id: r.state for dag_id, r in results.items()}
    assert states == dict.fromkeys(results, "success"), {
        d: r.task_states for d, r in results.items()
    }

    # The flows really used the secrets: sales in the ERP, a dead letter, a mail sent by login.
    sales = secret_erp.operator().search_read("sale.sale", [["reference", "!=", None]], ["id"])
    assert len(sales) >= 6
    from hub.ledger import Ledger

    ledger = Ledger(f"sqlite:///{hub_home / 'ledger.sqlite'}")
    assert ledger.dead_letters(flow="edi_orders_inbound"), "the broken file filed no dead letter"
    ledger.dispose()
    mails = smtp_server.wait(1)
    assert mails and smtp_server.logins, "no alert mail went out through the SMTP login"

    written = _files(hub_home, airflow_home)
    assert any(p.suffix in (".sqlite", ".db") for p in written)
    assert any("archive" in p.parts for p in written)
    assert any("out" in p.parts for p in written)
    leaks = []
    for path in written:
        data = path.read_bytes()
        leaks += [f"{name} in {path}" for name, s in SECRETS.items() if s.encode() in data]
    out, err = capfd.readouterr()
    logged = "\n".join([caplog.text, out, err, *(m.as_string() for m in mails)])
    leaks += [f"{name} in captured logs/output" for name, s in SECRETS.items() if s in logged]
    results_json = json.dumps({d: r.xcom for d, r in results.items()}, default=str)
    leaks += [f"{name} in task results" for name, s in SECRETS.items() if s in results_json]
    assert leaks == []
    assert len(written) > 10  # the scan really covered the hub's and Airflow's files
