"""A large inbound file is processed in committed batches: a worker killed (SIGKILL) mid-file
is resumed by the next run after its last committed batch, no order lost or doubled, counted
in the sandbox Tryton (issue 17, item 1)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from connectors.erp.tryton import TrytonErp
from hub.bootstrap import Hub
from hub.config import load_partners
from hub.ledger import Ledger
from hub.settings import PROJECT_ROOT
from sandbox.partner import drop, make_orders, orders_interchange
from tests.fixtures.connections import erp_connection
from tests.fixtures.ids import NORD, US

pytestmark = pytest.mark.integration

PARTNER = "kaufhaus-nord"
ORDERS = 60
BATCH = 5
WAIT = 180.0  # generous: the machine is shared


def _hub_run(env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "hub.cli", "run", "edi_orders_inbound", "--json"]
    params = ["-p", f"partner={PARTNER}", "-p", f"batch_size={BATCH}", *extra]
    return subprocess.Popen(
        [*command, *params], cwd=PROJECT_ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def _progress(ledger: Ledger, ref: str) -> tuple[str, int]:
    row = ledger.interchange(PARTNER, "in", ref)
    if row is None:
        return "none", 0
    detail = json.loads(row["detail"] or "{}")
    return row["state"], int(detail.get("progress", 0))


def _sales(erp: TrytonErp, references: list[str]) -> dict[str, int]:
    rows = erp.rpc.model(
        "sale.sale", "search_read", [("reference", "in", references)], 0, None, None,
        ["reference", "state"], idempotent=True,
    )  # fmt: skip
    counted: dict[str, int] = {}
    for row in rows:
        assert row["state"] in ("confirmed", "processing", "done"), row
        counted[row["reference"]] = counted.get(row["reference"], 0) + 1
    return counted


def test_a_worker_killed_mid_file_is_resumed_after_its_last_batch(
    erp_server: Any, erp: TrytonErp, unique: str, tmp_path: Path
) -> None:
    ledger_url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = Ledger(ledger_url)
    ledger.upgrade()
    hub = Hub(ledger, erp=erp, home=tmp_path / "home", partners=load_partners())
    orders = make_orders(NORD, US, erp.list_products(), count=ORDERS, lines=3, prefix=unique)
    ref = unique[:8]
    data = orders_interchange(orders, sender=NORD, recipient=US, control_ref=ref)
    drop(hub.mailbox(hub.partners[PARTNER]).inbox, "big.edi", data)  # type: ignore[attr-defined]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "HUB_"))}
    env.update(
        HUB_HOME=str(hub.home),
        HUB_DATABASE_URL=ledger_url,
        AIRFLOW_CONN_HUB_ERP=erp_connection(
            erp_server.url, erp_server.database, erp_server.login, erp_server.password
        ),
    )

    worker = _hub_run(env)
    deadline = time.monotonic() + WAIT
    while _progress(ledger, ref)[1] < BATCH:  # wait for the first committed batch
        assert worker.poll() is None, worker.communicate()
        assert time.monotonic() < deadline, "no batch was committed in time"
        time.sleep(0.05)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=WAIT)
    state, mark = _progress(ledger, ref)
    assert state == "received" and BATCH <= mark < ORDERS, (state, mark)
    assert mark % BATCH == 0  # the mark sits at a batch boundary
    references = [o.order_number for o in orders]
    before = _sales(erp, references)
    assert mark <= sum(before.values()) < ORDERS  # every committed batch is in the ERP

    rerun = _hub_run(env)
    out, err = rerun.communicate(timeout=WAIT * 2)
    assert rerun.returncode == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    [detail] = report["details"]
    assert detail["resumed_at"] == mark  # the committed batches were not redone
    assert detail["verdict"] == "accepted" and detail["orders_refused"] == 0
    assert detail["orders_created"] + detail["orders_existing"] == ORDERS
    assert _progress(ledger, ref)[0] == "done"
    after = _sales(erp, references)
    assert after == dict.fromkeys(references, 1)  # none lost, none doubled
    ordrsp = list(hub.mailbox(hub.partners[PARTNER]).outbox.glob("ORDRSP_*"))  # type: ignore[attr-defined]
    assert len(ordrsp) == ORDERS
    assert not list(hub.mailbox(hub.partners[PARTNER]).inbox.iterdir())  # type: ignore[attr-defined]
