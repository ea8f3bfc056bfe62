"""Flow einvoice_outbound on FakeErp: validated, delivered exactly once, crash-safe, dead letters.

Needs ../shared/contracts/einvoicing for the official rules; skips cleanly without it.
"""

from __future__ import annotations

from datetime import date
from email.message import EmailMessage
from pathlib import Path

import pytest

from connectors.einvoice.mail import FakeMailer, InvoiceMail
from connectors.erp.fake import FakeErp
from hub.flows.einvoice import einvoice_outbound
from hub.flows.einvoice_send import key_of
from schemas.einvoice_config import CustomerEInvoice
from schemas.errors import PermanentError
from schemas.model import Address, Party
from tests.fixtures.channels import CrashAfterWrite, PowerCut
from tests.fixtures.einvoice import (
    PDF,
    XR,
    einvoice_erp,
    make_hub,
    official_validator,
    outbox,
    post,
    write_config,
)
from tests.fixtures.ids import NORD


class FakeMailerThatDies(FakeMailer):
    """The SMTP server took the mail, then the worker died before the ledger commit."""

    def send(self, mail: InvoiceMail) -> str:
        super().send(mail)
        raise PowerCut(mail.file_name)


@pytest.fixture
def erp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeErp:
    return einvoice_erp(tmp_path, monkeypatch)


def attachment(msg: EmailMessage) -> bytes:
    (part,) = list(msg.iter_attachments())
    return bytes(part.get_content())


def test_each_customer_gets_its_format_once_and_valid(tmp_path: Path, erp: FakeErp) -> None:
    xr, pdf, credit = (
        post(erp, 3, "C-KN"),
        post(erp, 5, "C-MS"),
        post(erp, 8, "C-KN", credit_note=True),
    )
    mailer = FakeMailer()
    hub = make_hub(tmp_path, erp)
    report = einvoice_outbound(hub, mailer=mailer)
    assert (report["status"], report["sent"], report["dead_letters"]) == ("ok", 3, 0)
    files = outbox(tmp_path)
    assert sorted(files) == [
        f"CreditNote_{credit.number}_xrechnung-ubl.xml",
        f"Invoice_{xr.number}_xrechnung-ubl.xml",
    ]
    (mail,) = mailer.sent
    assert mail["To"] == "ap@markt-sued.example" and pdf.number in mail["Subject"]
    validator = official_validator()
    for data in [*files.values(), attachment(mail)]:
        report_ = validator.validate(data)
        assert report_.valid, [f.line() for f in report_.errors]
    entry = hub.ledger.journal_entry(key_of(CustomerEInvoice(party="C-KN", **XR), xr))
    assert entry is not None and entry["state"] == "done"
    # hub trace finds the sent document under the invoice and its order, with the archive path
    (event,) = [e for e in hub.ledger.events_for([xr.number]) if e.kind == "einvoice.sent"]
    assert (
        event.document
        and Path(event.document).read_bytes() == files[f"Invoice_{xr.number}_xrechnung-ubl.xml"]
    )
    (by_order,) = [
        e for e in hub.ledger.events_for([xr.order_numbers[0]]) if e.kind == "einvoice.sent"
    ]
    assert by_order.document == event.document
    # nothing new: nothing sent; an invoice of a customer not listed is never sent
    post(erp, 9, "C-MS")
    write_config(tmp_path, pytest.MonkeyPatch(), {"C-KN": XR})
    again = einvoice_outbound(make_hub(tmp_path, erp), mailer=mailer)
    assert (again["sent"], len(mailer.sent), len(outbox(tmp_path))) == (0, 1, 2)


def test_a_replay_from_since_sends_nothing_twice(tmp_path: Path, erp: FakeErp) -> None:
    post(erp, 3, "C-KN")
    mailer = FakeMailer()
    einvoice_outbound(make_hub(tmp_path, erp), mailer=mailer)
    replay = einvoice_outbound(make_hub(tmp_path, erp), mailer=mailer, since="2000-01-01T00:00:00")
    assert (replay["sent"], replay["already_sent"], len(outbox(tmp_path))) == (0, 1, 1)


def test_crash_after_the_mail_left_resends_the_same_bytes_and_number(
    tmp_path: Path, erp: FakeErp
) -> None:
    invoice = post(erp, 5, "C-MS")
    dying = FakeMailerThatDies()
    with pytest.raises(PowerCut):
        einvoice_outbound(make_hub(tmp_path, erp), mailer=dying)
    key = key_of(CustomerEInvoice(party="C-MS", **PDF), invoice)  # type: ignore[arg-type]
    entry = make_hub(tmp_path, erp).ledger.journal_entry(key)
    assert entry is not None and entry["state"] == "unknown"
    mailer = FakeMailer()
    report = einvoice_outbound(make_hub(tmp_path, erp), mailer=mailer)
    assert report["sent"] == 1
    (first,), (second,) = dying.sent, mailer.sent
    # the PDF's metadata carries the time it was made: a rebuild would differ; the pinned
    # document does not
    assert attachment(first) == attachment(second)
    assert first["Message-ID"] == second["Message-ID"] and invoice.number in second["Subject"]
    assert einvoice_outbound(make_hub(tmp_path, erp), mailer=mailer)["sent"] == 0
    assert len(mailer.sent) == 1


def test_crash_after_the_outbox_write_completes_the_same_file(tmp_path: Path, erp: FakeErp) -> None:
    post(erp, 3, "C-KN")
    home = tmp_path / "home" / "partners" / "kaufhaus-nord"
    with pytest.raises(PowerCut):
        einvoice_outbound(
            make_hub(
                tmp_path, erp, **{"kaufhaus-nord": CrashAfterWrite(home / "in", home / "out")}
            ),
            mailer=FakeMailer(),
        )
    first = outbox(tmp_path)
    report = einvoice_outbound(make_hub(tmp_path, erp), mailer=FakeMailer())
    assert report["sent"] == 1 and outbox(tmp_path) == first


def test_an_invalid_document_is_never_sent_and_names_the_rule(tmp_path: Path, erp: FakeErp) -> None:
    nowhere = Party(name="Amt ohne Adresse", code="C-AMT", addresses=(Address(country="DE"),))
    erp.create_parties([nowhere])
    write_config(tmp_path, pytest.MonkeyPatch(), {"C-KN": XR, "C-AMT": XR})
    post(erp, 3, "C-AMT")
    good = post(erp, 4, "C-KN")
    hub = make_hub(tmp_path, erp)
    report = einvoice_outbound(hub, mailer=FakeMailer())
    assert (report["status"], report["sent"], report["dead_letters"]) == ("partial", 1, 1)
    assert list(outbox(tmp_path)) == [f"Invoice_{good.number}_xrechnung-ubl.xml"]
    (letter,) = hub.ledger.dead_letters(flow="einvoice_outbound")
    rules = {e["rule"] for e in letter.payload["errors"]}
    assert {"BR-DE-8", "BR-DE-9"} <= rules, letter.reason
    assert all(e["location"] and e["text"] for e in letter.payload["errors"])
    assert "BR-DE-8 at /ubl:Invoice[1]" in letter.reason


def test_a_customer_invoiced_by_edi_never_gets_a_second_invoice(
    tmp_path: Path, erp: FakeErp
) -> None:
    edi = Party(
        name="Kaufhaus Nord GmbH",
        code="C-EDI",
        gln=NORD,
        addresses=(
            Address(street="Hafenstrasse 12", postal_code="20457", city="Hamburg", country="DE"),
        ),
    )
    erp.create_parties([edi])
    write_config(tmp_path, pytest.MonkeyPatch(), {"C-EDI": PDF})
    invoice = post(erp, 3, "C-EDI")
    invoice = invoice.model_copy(
        update={"customer": invoice.customer.model_copy(update={"gln": NORD})}
    )
    erp.invoices[invoice.erp_id] = invoice
    hub = make_hub(tmp_path, erp)
    mailer = FakeMailer()
    report = einvoice_outbound(hub, mailer=mailer)
    assert (report["sent"], report["dead_letters"], mailer.sent) == (0, 1, [])
    (letter,) = hub.ledger.dead_letters(flow="einvoice_outbound")
    assert "kaufhaus-nord" in letter.reason and "twice" in letter.reason


def test_dry_run_validates_and_sends_nothing(tmp_path: Path, erp: FakeErp) -> None:
    post(erp, 3, "C-KN")
    mailer = FakeMailer()
    report = einvoice_outbound(make_hub(tmp_path, erp), mailer=mailer, dry_run=True)
    assert (report["status"], report["would_send"], report["sent"]) == ("dry_run", 1, 0)
    assert outbox(tmp_path) == {} and mailer.sent == []
    assert einvoice_outbound(make_hub(tmp_path, erp), mailer=mailer)["sent"] == 1


def test_without_rules_nothing_is_sent(
    tmp_path: Path, erp: FakeErp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HUB_EINVOICE_RULES")
    post(erp, 3, "C-KN")
    with pytest.raises(PermanentError, match="HUB_EINVOICE_RULES"):
        einvoice_outbound(make_hub(tmp_path, erp), mailer=FakeMailer())
    assert outbox(tmp_path) == {}


def test_not_configured_is_a_quiet_no_op(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_EINVOICE_CONFIG", str(tmp_path / "missing.yaml"))
    report = einvoice_outbound(make_hub(tmp_path, FakeErp()))
    assert report["status"] == "not_configured"


def test_due_date_and_terms_reach_the_document(tmp_path: Path, erp: FakeErp) -> None:
    invoice = post(erp, 3, "C-KN")
    einvoice_outbound(make_hub(tmp_path, erp), mailer=FakeMailer())
    (data,) = outbox(tmp_path).values()
    assert f"<cbc:DueDate>{invoice.due_date}</cbc:DueDate>".encode() in data
    assert b"<cbc:Note>30 days net</cbc:Note>" in data
    assert invoice.due_date is not None and invoice.due_date > date(2026, 11, 1)


def test_a_dead_letter_replays_once_the_data_is_fixed(tmp_path: Path, erp: FakeErp) -> None:
    from hub.ops.replay import replay

    nowhere = Party(name="Amt ohne Adresse", code="C-AMT", addresses=(Address(country="DE"),))
    (party,) = erp.create_parties([nowhere])
    write_config(tmp_path, pytest.MonkeyPatch(), {"C-AMT": XR})
    invoice = post(erp, 3, "C-AMT")
    hub = make_hub(tmp_path, erp)
    assert einvoice_outbound(hub)["dead_letters"] == 1
    (letter,) = hub.ledger.dead_letters(flow="einvoice_outbound")
    again = replay(hub, letter.id, by="tester")
    assert again["outcome"] == "failed" and again["attempts"] == 2  # still no city: still refused
    assert outbox(tmp_path) == {}
    erp.parties[party.erp_id or ""] = party.model_copy(
        update={
            "addresses": (
                Address(street="Amtsweg 1", postal_code="10115", city="Berlin", country="DE"),
            )
        }
    )
    done = replay(hub, letter.id, by="tester")
    assert (done["outcome"], done["state"]) == ("replayed", "replayed")
    assert list(outbox(tmp_path)) == [f"Invoice_{invoice.number}_xrechnung-ubl.xml"]
    assert replay(hub, letter.id, by="tester")["outcome"] == "skipped"
