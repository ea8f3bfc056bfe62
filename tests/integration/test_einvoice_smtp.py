"""E-invoices by e-mail through the hub_smtp connection to a real SMTP server on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.einvoice.mail import InvoiceMail, SmtpMailer
from connectors.erp.fake import FakeErp
from hub.bootstrap import Hub
from hub.flows.einvoice import einvoice_outbound
from hub.ledger import Ledger
from sandbox.demo_einvoice import smtp_server
from sandbox.einvoice_data import BUYERS
from schemas.errors import TransientError
from tests.fixtures.einvoice import PDF, official_rules, official_validator, post, write_config

pytestmark = pytest.mark.integration


def test_flow_mails_a_valid_zugferd_pdf_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_EINVOICE_RULES", str(official_rules()))
    write_config(tmp_path, monkeypatch, {"C-MS": PDF})
    erp = FakeErp()
    erp.create_parties(list(BUYERS))
    invoice = post(erp, 5, "C-MS")
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    ledger.upgrade()
    hub = Hub(ledger, erp=erp, home=tmp_path / "home", partners={})
    with smtp_server() as inbox:
        assert einvoice_outbound(hub)["sent"] == 1
        assert einvoice_outbound(hub, since="2000-01-01T00:00:00")["sent"] == 0
    (message,) = inbox.messages
    assert message["To"] == PDF["email"] and invoice.number in message["Subject"]
    assert message["From"] == "invoices@sandbox-sales.example"
    (part,) = list(message.iter_attachments())
    assert part.get_content_type() == "application/pdf"
    report = official_validator().validate(bytes(part.get_content()))
    assert report.valid and report.container == "pdf"


def test_an_unreachable_server_is_transient(closed_port: int) -> None:
    mailer = SmtpMailer(host="127.0.0.1", port=closed_port, timeout=30)
    mail = InvoiceMail("a@b.example", "s", "b", b"<x/>", "x.xml", "application/xml", "0" * 64)
    with pytest.raises(TransientError, match=f"SMTP 127.0.0.1:{closed_port} unreachable"):
        mailer.send(mail)
