"""Concurrent ERP batches against Tryton on PostgreSQL with several trytond workers: every
order once, the same order never in two batches at once (issue 17, item 2)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.erp.tryton import TrytonErp
from hub.bootstrap import Hub
from hub.config import load_partners
from hub.flows.edi_inbound import edi_orders_inbound
from hub.ledger import Ledger
from sandbox.partner import drop, make_orders, orders_interchange
from tests.fixtures.ids import NORD, US

pytestmark = pytest.mark.integration

PARTNER = "kaufhaus-nord"
WORKERS = 2


@pytest.fixture(scope="module")
def pg_erp(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A sandbox Tryton on a PostgreSQL copy of the template, served by two workers."""
    pytest.importorskip("trytond")
    from sandbox.erp import SandboxErp

    server_root = pg_server.rsplit("/", 1)[0] + "/"
    workdir = tmp_path_factory.mktemp("pg-erp")
    with SandboxErp(server_root, workdir=workdir, workers=WORKERS) as server:
        yield server


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def test_parallel_batches_make_every_order_once_on_tryton_with_workers(
    pg_erp: Any, unique: str, tmp_path: Path
) -> None:
    assert len(_children(pg_erp._proc.pid)) == WORKERS  # real processes, real parallelism
    erp = TrytonErp.connect(pg_erp.url, pg_erp.database, pg_erp.login, pg_erp.password)
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    ledger.upgrade()
    hub = Hub(ledger, erp=erp, home=tmp_path / "home", partners=load_partners())
    orders = make_orders(NORD, US, erp.list_products(), count=13, lines=2, prefix=unique)
    resent = [*orders[:6], orders[1], *orders[6:], orders[4]]  # the same order again inside
    data = orders_interchange(resent, sender=NORD, recipient=US, control_ref=unique[:8])
    drop(hub.mailbox(hub.partners[PARTNER]).inbox, "par.edi", data)  # type: ignore[attr-defined]

    report = edi_orders_inbound(hub, partner=PARTNER, batch_size=3, concurrency=WORKERS)

    assert (report["orders_created"], report["orders_existing"]) == (13, 2)
    assert report["messages_in"] == report["messages_created"] == 15
    references = [o.order_number for o in orders]
    rows = erp.rpc.model(
        "sale.sale", "search_read", [("reference", "in", references)], 0, None, None,
        ["reference", "state"], idempotent=True,
    )  # fmt: skip
    assert sorted(r["reference"] for r in rows) == sorted(references)  # each exactly once
    assert {r["state"] for r in rows} <= {"confirmed", "processing"}  # processing: shipped
    outbox = hub.mailbox(hub.partners[PARTNER]).outbox  # type: ignore[attr-defined]
    assert len(list(outbox.glob("ORDRSP_*"))) == 13
