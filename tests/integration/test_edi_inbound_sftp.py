"""The inbound flow over a partner's real SFTP mailbox: files in, acknowledgements out."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from hub.bootstrap import Hub
from hub.config import load_partners
from hub.flows.edi_inbound import edi_orders_inbound
from hub.settings import PROJECT_ROOT, connection_json
from sandbox.partner import make_orders, orders_interchange
from schemas.config import PartnerProfile
from tests.fixtures.hub import NORD, US, fake_catalogue_erp, hub_on
from tests.fixtures.sftp import SftpServer

pytestmark = pytest.mark.integration


def test_orders_from_sftp_are_acknowledged_on_sftp(
    sftp_server: SftpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_HUB_SFTP_NORD",
        connection_json(
            conn_type="sftp", host=sftp_server.host, port=sftp_server.port,
            login=sftp_server.username, password=sftp_server.password,
            extra={"host_key": sftp_server.host_key},
        ),
    )  # fmt: skip
    shipped = load_partners(PROJECT_ROOT / "config" / "partners")["kaufhaus-nord"]
    profile = PartnerProfile.model_validate(
        {
            **shipped.model_dump(mode="json"),
            "channel": {
                "type": "sftp",
                "sftp": {
                    "conn_id": "hub_sftp_nord",
                    "remote_inbox": "/out",
                    "remote_outbox": "/in",
                },
                "min_age_seconds": 5,
            },
        }
    )
    erp = fake_catalogue_erp()
    base = hub_on(tmp_path, erp)
    hub = Hub(base.ledger, erp=erp, home=base.home, partners={profile.id: profile})
    orders = make_orders(NORD, US, list(erp.products.values()), count=2, seed=3)
    data = orders_interchange(orders, sender=NORD, recipient=US, control_ref="5501")
    upload = sftp_server.root / "out" / "orders.edi"
    upload.write_bytes(data)
    young = sftp_server.root / "out" / "still-uploading.edi"
    young.write_bytes(data[:100])  # written just now: may still be growing
    past = time.time() - 60
    os.utime(upload, (past, past))
    try:
        report = edi_orders_inbound(hub)
    finally:
        hub.close()
    assert report["files"] == 1 and report["orders_created"] == 2 and len(erp.sales) == 2
    assert not upload.exists() and young.exists()  # taken after the commit; the young one waits
    sent = sorted(p.name.split("_")[0] for p in (sftp_server.root / "in").iterdir())
    assert sent == ["CONTRL", "ORDRSP", "ORDRSP"]
    assert not [p for p in (sftp_server.root / "in").iterdir() if p.name.startswith(".")]
    assert any((tmp_path / "home" / "archive" / profile.id).rglob("*.edi"))
