"""The einvoice_outbound DAG, run with dag.test() against the sandbox Tryton ERP and a real
SMTP server on loopback, with the project's config/einvoice.yaml."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.erp.tryton import TrytonErp
from sandbox.demo_einvoice import smtp_server
from sandbox.erp_seed import customers
from tests.fixtures.einvoice import invoiced_in_tryton, official_rules, official_validator

pytestmark = pytest.mark.e2e

DAG_ID = "einvoice_outbound"
TASK_ID = "send_einvoices"


def _invoiced_sale(erp: TrytonErp, operator: Any, unique: str) -> str:
    """A sale for Rheinhandel KG (CUST-003: XRechnung by e-mail), shipped and invoiced."""
    gln = customers()[2].gln
    order, _items = invoiced_in_tryton(erp, operator, gln, f"PO-{unique}-DAG", 1, lambda k: 2)
    return order.order_number


def test_dag_mails_each_configured_customer_a_valid_einvoice_once(
    erp_conn: Any,
    erp: TrytonErp,
    erp_operator: Any,
    unique: str,
    run_dag: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HUB_EINVOICE_RULES", str(official_rules()))
    order = _invoiced_sale(erp, erp_operator, unique)
    with smtp_server() as inbox:
        result = run_dag(DAG_ID)
        assert result.state == "success", result.tasks
        report = result.returned(TASK_ID)
        assert report["dead_letters"] == 0 and report["sent"] >= 1
        again = run_dag(DAG_ID)
        assert again.returned(TASK_ID)["sent"] == 0  # nothing new: nothing sent twice
    assert len(inbox.messages) == report["sent"]
    validator = official_validator()
    mine = []
    for message in inbox.messages:
        (part,) = list(message.iter_attachments())
        data = bytes(part.get_content())
        checked = validator.validate(data, str(part.get_filename()))
        assert checked.valid, [f.line() for f in checked.errors]
        if order.encode() in data:
            mine.append(message)
    assert len(mine) == 1 and mine[0]["To"] == "rechnungseingang@rheinhandel.example"


def test_without_the_rules_the_task_fails_at_once(
    erp_conn: Any, hub_state: Path, monkeypatch: pytest.MonkeyPatch, run_dag: Any
) -> None:
    monkeypatch.delenv("HUB_EINVOICE_RULES", raising=False)
    result = run_dag(DAG_ID, retry_delay=timedelta(0))
    assert result.state == "failed"
    assert result.tasks[TASK_ID].try_number == 1  # PermanentError: no retry
