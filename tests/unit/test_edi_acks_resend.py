"""A rejected document corrected and re-sent under a new control number; `hub edi acks`."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.edi import EdifactReader, Message, validate
from connectors.erp.fake import FakeErp
from hub.bootstrap import Hub
from hub.cli import app
from hub.flows.edi_inbound import edi_orders_inbound
from hub.flows.edi_outbound import edi_documents_outbound
from hub.flows.edi_outbound_resend import resend
from hub.ops import acks as ack_ops
from hub.ops import deadletters
from hub.ops.reconcile import reconcile
from hub.ops.status import collect
from hub.ops.trace import trace
from sandbox.demo_partner import aperak_for, contrl_for
from sandbox.partner import drop
from schemas.errors import PermanentError
from schemas.model import PartyRef, SalesOrder, SalesOrderLine
from tests.fixtures.ids import NORD, US

AS_OF = "2024-01-01T12:00:00+00:00"


def _box(hub: Hub) -> tuple[Path, Path]:
    box = hub.mailbox(hub.partners["kaufhaus-nord"])
    return box.inbox, box.outbox  # type: ignore[attr-defined]


def _invoiced(hub: Hub, erp: FakeErp) -> dict[str, dict[str, object]]:
    """One sale shipped and invoiced; the DESADV and INVOIC sent, by type."""
    party = next(p for p in erp.parties.values() if p.gln == NORD)
    order = SalesOrder(
        order_number="PO-77", order_date=dt.date(2024, 1, 1),
        buyer=PartyRef(erp_id=party.erp_id), currency="EUR",
        lines=(SalesOrderLine(line_no=1, product_code="HUB-1001", quantity=Decimal(2)),),
    )  # fmt: skip
    (result,) = erp.create_sales([order])
    assert result.sale is not None
    erp.tick()
    erp.ship(result.sale.erp_id)
    erp.tick()
    erp.post_invoice(result.sale.erp_id)
    erp.tick()
    edi_documents_outbound(hub, as_of=AS_OF, documents="DESADV,INVOIC")
    _, outbox = _box(hub)
    for path in outbox.iterdir():
        path.unlink()
    return {d["doc_type"]: d for d in ack_ops.listing(hub.ledger)}  # type: ignore[misc]


def _reject(hub: Hub, doc: dict[str, object], ref: str) -> None:
    inbox, outbox = _box(hub)
    data = aperak_for(str(doc["document_number"]), str(doc["doc_type"]), partner_gln=NORD,
                      our_gln=US, control_ref=ref,
                      errors=[("12", "buyer VAT id does not match our records")])  # fmt: skip
    drop(inbox, f"aperak-{ref}.edi", data)
    edi_orders_inbound(hub)
    for path in outbox.iterdir():
        path.unlink()


def test_invoic_and_desadv_sent_are_registered_with_their_deadlines(hub: Hub, erp: FakeErp) -> None:
    docs = _invoiced(hub, erp)
    assert docs["INVOIC"]["expects"] == ["APERAK", "CONTRL"]  # config/partners
    assert docs["DESADV"]["expects"] == ["CONTRL"]
    assert {d["state"] for d in docs.values()} == {"sent"}
    invoice = next(iter(erp.invoices.values()))
    assert docs["INVOIC"]["document_number"] == invoice.number


def test_rejected_invoic_is_corrected_and_resent_under_a_new_control_number(
    hub: Hub, erp: FakeErp
) -> None:
    docs = _invoiced(hub, erp)
    invoic = docs["INVOIC"]
    _reject(hub, invoic, "A7")
    assert ack_ops.listing(hub.ledger, state="rejected")[0]["control_ref"] == invoic["control_ref"]
    assert collect(hub)["acknowledgements"]["rejected"] == 1
    assert any("rejected by partners" in p for p in collect(hub)["problems"])
    party = next(p for p in erp.parties.values() if p.gln == NORD)
    erp.update_party(party.model_copy(update={"vat": "DE136695976"}))  # the correction

    done = resend(hub, "kaufhaus-nord", str(invoic["control_ref"]), by="dora", reason="VAT id")
    assert done["control_ref"] != invoic["control_ref"] and done["was"] == invoic["control_ref"]
    _, outbox = _box(hub)
    (sent,) = list(outbox.iterdir())
    assert validate(sent).verdict == "accepted"
    assert b"DE136695976" in sent.read_bytes()  # built again from the corrected ERP data
    (msg,) = [e for e in EdifactReader(sent.read_bytes()) if isinstance(e, Message)]
    assert next(s for s in msg.segments if s.tag == "BGM").element(2) == invoic["document_number"]
    states = {d["control_ref"]: d for d in ack_ops.listing(hub.ledger)}
    assert states[invoic["control_ref"]]["state"] == "resent"
    assert states[done["control_ref"]]["state"] == "sent"
    assert states[done["control_ref"]]["resent_from"] == invoic["control_ref"]
    (letter,) = hub.ledger.dead_letters(state="replayed")
    assert letter.error_class == "DocumentRejected"
    assert deadletters.audit_trail(hub.ledger, letter.id)[-1]["by"] == "dora"
    assert reconcile(hub)["sections"][-1]["differences"] == []
    timeline = trace(hub, "PO-77")["timeline"]
    assert {"aperak.received", "invoic.resent"} <= {i["kind"] for i in timeline}

    with pytest.raises(PermanentError, match="re-sent already"):
        resend(hub, "kaufhaus-nord", str(invoic["control_ref"]), reason="again")
    # the partner's APERAK on the number now settles the copy, not the superseded one
    inbox, _ = _box(hub)
    drop(inbox, "ok.edi", aperak_for(str(invoic["document_number"]), "INVOIC", partner_gln=NORD,
                                     our_gln=US, control_ref="A8", number="APK-8"))  # fmt: skip
    edi_orders_inbound(hub)
    copy = hub.ledger.find_outbound("kaufhaus-nord", control_refs=[done["control_ref"]])[0]
    assert copy["aperak"] == "accepted"


def test_a_document_not_rejected_is_not_resent_without_force(hub: Hub, erp: FakeErp) -> None:
    docs = _invoiced(hub, erp)
    with pytest.raises(PermanentError, match="only a rejected or overdue"):
        resend(hub, "kaufhaus-nord", str(docs["DESADV"]["control_ref"]), reason="x")
    with pytest.raises(PermanentError, match="no document was sent"):
        resend(hub, "kaufhaus-nord", "000000999", reason="x")


def test_cli_lists_states_and_resends_a_rejected_desadv(
    hub: Hub, erp: FakeErp, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = _invoiced(hub, erp)
    desadv = docs["DESADV"]
    inbox, outbox = _box(hub)
    finding_contrl = contrl_for(str(desadv["control_ref"]), "DESADV:D:96A:UN:EAN007",
                                partner_gln=NORD, our_gln=US, control_ref="C77",
                                accepted=False)  # fmt: skip
    drop(inbox, "contrl.edi", finding_contrl)
    edi_orders_inbound(hub)
    monkeypatch.setenv("HUB_HOME", str(hub.home))
    monkeypatch.setenv("HUB_DATABASE_URL", hub.ledger.url)
    runner = CliRunner()
    listed = runner.invoke(app, ["edi", "acks", "--partner", "kaufhaus-nord", "--json"])
    assert listed.exit_code == 0, listed.output
    states = {d["doc_type"]: d["state"] for d in json.loads(listed.stdout)}
    assert states == {"DESADV": "rejected", "INVOIC": "sent"}
    rejected = runner.invoke(app, ["edi", "acks", "--state", "rejected", "--json"])
    assert [d["doc_type"] for d in json.loads(rejected.stdout)] == ["DESADV"]
    table = runner.invoke(app, ["edi", "acks"])
    assert table.exit_code == 0 and "rejected" in table.output
    bad = runner.invoke(app, ["edi", "acks", "--state", "lost"])
    assert bad.exit_code == 2
    args = ["edi", "resend", "kaufhaus-nord", str(desadv["control_ref"]), "--reason", "fixed"]
    done = runner.invoke(app, [*args, "--by", "erin", "--json"])
    assert done.exit_code == 0, done.output
    new_ref = json.loads(done.stdout)["control_ref"]
    (copy,) = [p for p in outbox.iterdir() if p.name.startswith("DESADV")]
    assert new_ref in copy.name and validate(copy).verdict == "accepted"
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "re-sent already" in again.output


def test_replaying_a_rejection_letter_resends_the_document_once(hub: Hub, erp: FakeErp) -> None:
    from hub.ops.replay import replay

    docs = _invoiced(hub, erp)
    invoic = docs["INVOIC"]
    _reject(hub, invoic, "A9")
    (letter,) = hub.ledger.dead_letters(state="open")
    assert letter.error_class == "DocumentRejected"

    done = replay(hub, letter.id, by="frank")
    assert done["outcome"] == "replayed" and done["state"] == "replayed", done
    states = {d["control_ref"]: d["state"] for d in ack_ops.listing(hub.ledger)}
    assert states[invoic["control_ref"]] == "resent"
    _, outbox = _box(hub)
    assert [p.name[:6] for p in outbox.iterdir()] == ["INVOIC"]  # one corrected copy
    again = replay(hub, letter.id, by="frank")
    assert again["outcome"] == "skipped"  # closed: nothing is sent twice
    assert len(list(outbox.iterdir())) == 1
