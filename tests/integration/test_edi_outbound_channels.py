"""Outbound documents over a real SFTP server on 127.0.0.1: a refused channel marks nothing sent."""

from __future__ import annotations

import datetime as dt
import json
import socket
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.edi import validate
from connectors.erp.fake import FakeErp
from hub.bootstrap import Hub
from hub.config import load_partners
from hub.flows.edi_outbound import edi_documents_outbound
from hub.ledger import Ledger
from hub.settings import PROJECT_ROOT
from schemas.config import Channel, SftpChannel
from schemas.errors import TransientError
from schemas.model import Party, PartyRef, Product, SalesOrder, SalesOrderLine
from tests.fixtures.ids import NORD
from transforms.keys import DocumentKey

pytestmark = pytest.mark.integration

CONN = "edi_outbound_test_sftp"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _hub(tmp_path: Path, erp: FakeErp) -> Hub:
    partners = load_partners(PROJECT_ROOT / "config" / "partners")
    nord = partners["kaufhaus-nord"]
    channel = Channel(type="sftp", sftp=SftpChannel(conn_id=CONN, remote_outbox="/in"))
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", owner="worker-1")
    ledger.upgrade()
    profile = nord.model_copy(update={"channel": channel})
    return Hub(ledger, erp=erp, home=tmp_path / "home", partners={"kaufhaus-nord": profile})


def test_refused_sftp_fails_the_run_marks_nothing_sent_and_the_retry_uploads_once(
    tmp_path: Path,
    sftp_server,
    monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
) -> None:
    erp = FakeErp()
    erp.add_product(Product(code="HUB-1", name="P1", gtin="4006380000018",
                            list_price=Decimal("9.99"), currency="EUR"), stock=10)  # fmt: skip
    erp.create_parties([Party(name="Kaufhaus Nord", gln=NORD, vat="DE135735793")])
    line = SalesOrderLine(line_no=1, gtin="4006380000018", quantity=Decimal(2))
    (res,) = erp.create_sales([SalesOrder(
        order_number="PO-S1", order_date=dt.date(2024, 1, 1), buyer=PartyRef(gln=NORD),
        currency="EUR", lines=(line,))])  # fmt: skip
    assert res.sale is not None
    erp.tick()
    erp.ship(res.sale.erp_id)
    erp.tick()
    erp.post_invoice(res.sale.erp_id)
    conn = {"conn_type": "sftp", "host": "127.0.0.1", "login": sftp_server.username,
            "password": sftp_server.password,
            "extra": {"host_key": sftp_server.host_key}}  # fmt: skip

    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN.upper()}", json.dumps({**conn, "port": _free_port()}))
    down = _hub(tmp_path, erp)
    with pytest.raises(TransientError, match="cannot reach"):
        edi_documents_outbound(down, documents="DESADV,INVOIC")
    (shipment,), (invoice,) = erp.shipments.values(), erp.invoices.values()
    keys = [DocumentKey("DESADV", "kaufhaus-nord", shipment.erp_id),
            DocumentKey("INVOIC", "kaufhaus-nord", invoice.erp_id)]  # fmt: skip
    entries = [down.ledger.journal_entry(key) for key in keys]
    assert [e["state"] for e in entries if e] == ["failed", "failed"]  # lease released, not sent
    assert down.ledger.cursor("edi.out:DESADV:kaufhaus-nord")[0] is None  # cursor not moved
    assert list((sftp_server.root / "in").iterdir()) == []
    down.close()

    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN.upper()}", json.dumps({**conn, "port": sftp_server.port})
    )
    up = _hub(tmp_path, erp)
    report = edi_documents_outbound(up, documents="DESADV,INVOIC")
    uploaded = sorted(p.name for p in (sftp_server.root / "in").iterdir())
    assert [n.split("_")[0] for n in uploaded] == ["DESADV", "INVOIC"]
    assert report["documents_sent"] == 2
    for name in uploaded:
        assert validate(sftp_server.root / "in" / name).verdict == "accepted"
    assert edi_documents_outbound(up, documents="DESADV,INVOIC")["files"] == []
    assert sorted(p.name for p in (sftp_server.root / "in").iterdir()) == uploaded
    up.close()
