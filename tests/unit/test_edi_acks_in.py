"""Partners' CONTRL and APERAK about our documents: matched, recorded, never CONTRL'd back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.edi import validate
from connectors.erp.fake import FakeErp
from hub.bootstrap import Hub
from hub.cli import app
from hub.flows.edi_inbound import edi_orders_inbound
from hub.ops import acks as ack_ops
from hub.ops.trace import trace
from sandbox.demo_partner import aperak_for, contrl_for
from sandbox.erp_seed import gtin13
from sandbox.partner import drop, make_orders, orders_interchange
from schemas.config import AckExpectation
from tests.fixtures.hub import hub_on
from tests.fixtures.ids import NORD, US
from transforms import edifact_acks as acks

ORDRSP = "ORDRSP:D:96A:UN:EAN005"


@pytest.fixture
def hub(tmp_path: Path, erp: FakeErp) -> Iterator[Hub]:
    """The shipped profiles, Kaufhaus Nord also expecting a CONTRL for every ORDRSP in 4 h."""
    base = hub_on(tmp_path, erp)
    shipped = base.partners["kaufhaus-nord"]
    expect = {**shipped.expect_acks, "ORDRSP": AckExpectation(contrl_hours=4)}
    partners = {
        **base.partners,
        "kaufhaus-nord": shipped.model_copy(update={"expect_acks": expect}),
    }
    wired = Hub(base.ledger, erp=erp, home=base.home, partners=partners)
    yield wired
    wired.close()


def _box(hub: Hub) -> tuple[Path, Path]:
    box = hub.mailbox(hub.partners["kaufhaus-nord"])
    return box.inbox, box.outbox  # type: ignore[attr-defined]


def _orders_answered(hub: Hub, erp: FakeErp, count: int = 2) -> list[dict[str, object]]:
    """Two orders in; their ORDRSPs out and registered as awaiting a CONTRL."""
    inbox, outbox = _box(hub)
    orders = make_orders(NORD, US, list(erp.products.values()), count=count, seed=3)
    drop(inbox, "orders.edi", orders_interchange(orders, sender=NORD, recipient=US,
                                                  control_ref="7001"))  # fmt: skip
    edi_orders_inbound(hub)
    for path in outbox.iterdir():
        path.unlink()  # the partner fetched them
    return [d for d in ack_ops.listing(hub.ledger, partner="kaufhaus-nord")
            if d["doc_type"] == "ORDRSP"]  # fmt: skip


def _contrl(**kw: object) -> bytes:
    return contrl_for(partner_gln=NORD, our_gln=US, **kw)  # type: ignore[arg-type]


def test_ordrsp_sent_is_registered_with_its_contrl_deadline(hub: Hub, erp: FakeErp) -> None:
    docs = _orders_answered(hub, erp)
    assert [d["doc_type"] for d in docs] == ["ORDRSP", "ORDRSP"]
    assert {d["state"] for d in docs} == {"sent"}
    assert all(d["expects"] == ["CONTRL"] for d in docs)  # the profile of this module
    sent = datetime.fromisoformat(str(docs[0]["sent_at"]))
    due = datetime.fromisoformat(str(docs[0]["contrl_due"]))
    assert due - sent == timedelta(hours=4)
    assert str(docs[0]["document_number"]).startswith("RSP")


def test_contrl_v3_accepts_and_v4_rejects_with_positions_and_no_contrl_back(
    hub: Hub, erp: FakeErp
) -> None:
    first, second = _orders_answered(hub, erp)
    inbox, outbox = _box(hub)
    drop(inbox, "contrl1.edi", _contrl(our_ref=first["control_ref"], our_type=ORDRSP,
                                       control_ref="C1"))  # fmt: skip
    finding = acks.SyntaxFinding(12, "segment", 7, "QTY", 1, 2)
    drop(inbox, "contrl2.edi", _contrl(our_ref=second["control_ref"], our_type=ORDRSP,
                                       control_ref="C2", accepted=False, errors=[finding],
                                       syntax_version="4"))  # fmt: skip
    report = edi_orders_inbound(hub)
    assert report["accepted"] == 2 and report["acks_created"] == 2
    states = {d["control_ref"]: d for d in ack_ops.listing(hub.ledger)}
    assert states[first["control_ref"]]["state"] == "accepted"
    rejected = states[second["control_ref"]]
    assert rejected["state"] == "rejected"
    assert {"code": "12", "position": "segment 7 element 2:2", "text": "", "source": "CONTRL"} in (
        rejected["errors"]
    )
    assert not list(outbox.iterdir())  # a CONTRL is never answered with a CONTRL
    letters = hub.ledger.dead_letters(flow="edi_orders_inbound")
    assert [d.error_class for d in letters] == ["DocumentRejected"]
    assert f"hub edi resend kaufhaus-nord {second['control_ref']}" in letters[0].reason


def test_aperak_rejection_and_acceptance_by_document_number(hub: Hub, erp: FakeErp) -> None:
    first, second = _orders_answered(hub, erp)
    inbox, outbox = _box(hub)
    drop(inbox, "aperak1.edi", aperak_for(str(first["document_number"]), "ORDRSP",
                                          partner_gln=NORD, our_gln=US, control_ref="A1",
                                          errors=[("PRICE", "price 9.00 not agreed")]))  # fmt: skip
    drop(inbox, "aperak2.edi", aperak_for(str(second["document_number"]), "ORDRSP",
                                          partner_gln=NORD, our_gln=US, control_ref="A2",
                                          number="APK-2"))  # fmt: skip
    for path in inbox.iterdir():
        assert validate(path).verdict == "accepted", validate(path).to_dict()
    edi_orders_inbound(hub)
    states = {d["control_ref"]: d for d in ack_ops.listing(hub.ledger)}
    assert states[first["control_ref"]]["state"] == "rejected"
    assert states[first["control_ref"]]["aperak"] == "rejected"
    assert states[first["control_ref"]]["errors"][0]["text"] == "price 9.00 not agreed"
    # APERAK arrived but the CONTRL the profile asks for did not: still waiting
    assert states[second["control_ref"]]["aperak"] == "accepted"
    assert states[second["control_ref"]]["state"] == "sent"
    names = sorted(p.name.split("_")[0] for p in outbox.iterdir())
    assert names == ["CONTRL", "CONTRL"]  # an APERAK gets its CONTRL like any message
    assert all(validate(p).verdict == "accepted" for p in outbox.iterdir())


def test_aperak_naming_the_order_finds_its_ordrsp(hub: Hub, erp: FakeErp) -> None:
    first, _ = _orders_answered(hub, erp)
    order = hub.ledger.find_outbound("kaufhaus-nord", control_refs=[str(first["control_ref"])])
    inbox, _ = _box(hub)
    drop(inbox, "a.edi", aperak_for(order[0]["refs"][0], "ORDERS", partner_gln=NORD, our_gln=US,
                                    control_ref="A9", errors=[("12", "late")]))  # fmt: skip
    edi_orders_inbound(hub)
    states = {d["control_ref"]: d["state"] for d in ack_ops.listing(hub.ledger)}
    assert states[first["control_ref"]] == "rejected"


def test_unknown_interchange_is_a_dead_letter_and_gets_no_answer(hub: Hub, erp: FakeErp) -> None:
    _orders_answered(hub, erp)
    inbox, outbox = _box(hub)
    drop(inbox, "c.edi", _contrl(our_ref="999999999", our_type=ORDRSP, control_ref="C9"))
    report = edi_orders_inbound(hub)
    assert report["acks_existing"] == 1 and report.get("acks_created", 0) == 0
    letters = hub.ledger.dead_letters(flow="edi_orders_inbound")
    assert [d.error_class for d in letters] == ["UnmatchedAcknowledgement"]
    assert "999999999" in letters[0].reason
    assert not list(outbox.iterdir())  # neither a CONTRL nor an APERAK


def test_same_acknowledgement_twice_changes_nothing(hub: Hub, erp: FakeErp) -> None:
    first, _ = _orders_answered(hub, erp)
    inbox, _ = _box(hub)
    data = _contrl(our_ref=first["control_ref"], our_type=ORDRSP, control_ref="C5")
    drop(inbox, "c.edi", data)
    edi_orders_inbound(hub)
    drop(inbox, "c-again.edi", data)
    report = edi_orders_inbound(hub)
    assert report["duplicates"] == 1
    row = hub.ledger.find_outbound("kaufhaus-nord", control_refs=[str(first["control_ref"])])[0]
    assert len(row["acks"]) == 1 and row["state"] == "accepted"


def test_overdue_documents_alert_once_and_show_in_status_and_reconcile(
    hub: Hub, erp: FakeErp
) -> None:
    first, second = _orders_answered(hub, erp)
    inbox, _ = _box(hub)
    drop(inbox, "c.edi", _contrl(our_ref=first["control_ref"], our_type=ORDRSP, control_ref="C3"))
    edi_orders_inbound(hub)
    later = datetime.now(UTC) + timedelta(hours=5)
    assert [d["control_ref"] for d in ack_ops.listing(hub.ledger, state="overdue", now=later)] == [
        second["control_ref"]
    ]
    moved = ack_ops.sweep_overdue(hub.ledger, now=later)
    assert [r["control_ref"] for r in moved] == [second["control_ref"]]
    assert ack_ops.sweep_overdue(hub.ledger, now=later + timedelta(hours=1)) == []
    letters = hub.ledger.dead_letters(flow="edi_documents_outbound")
    assert [d.error_class for d in letters] == ["AcknowledgementOverdue"]
    assert "has no CONTRL" in letters[0].reason
    status = ack_ops.status_section(hub.ledger)
    assert status["counts"] == {"accepted": 1, "overdue": 1}
    assert any("past their deadline" in p for p in status["problems"])
    diffs = ack_ops.reconcile_section(hub.ledger)["differences"]
    assert [d["kind"] for d in diffs] == ["ack_overdue"]
    # a late CONTRL still settles it
    drop(inbox, "late.edi", _contrl(our_ref=second["control_ref"], our_type=ORDRSP,
                                    control_ref="C4"))  # fmt: skip
    edi_orders_inbound(hub)
    assert ack_ops.status_section(hub.ledger)["counts"] == {"accepted": 2}


def test_trace_shows_the_contrl_received_and_an_overdue_document(hub: Hub, erp: FakeErp) -> None:
    first, second = _orders_answered(hub, erp)
    inbox, _ = _box(hub)
    drop(inbox, "c.edi", _contrl(our_ref=first["control_ref"], our_type=ORDRSP, control_ref="C6"))
    edi_orders_inbound(hub)
    ack_ops.sweep_overdue(hub.ledger, now=datetime.now(UTC) + timedelta(hours=5))
    rows = {r["control_ref"]: r for r in hub.ledger.outbound_acks()}
    answered = trace(hub, rows[str(first["control_ref"])]["refs"][0])["timeline"]
    assert [(i["kind"], i["state"]) for i in answered if i["kind"].endswith("l.received")] == [
        ("contrl.received", "accepted")
    ]
    late = trace(hub, rows[str(second["control_ref"])]["refs"][0])["timeline"]
    assert [i["state"] for i in late if i["kind"] == "ack.state"] == ["overdue"]


def test_the_outbound_flow_sweeps_overdue_documents_into_alerts(hub: Hub, erp: FakeErp) -> None:
    from hub.flows.edi_outbound import edi_documents_outbound

    long_ago = datetime.now(UTC) - timedelta(hours=30)
    ack_ops.expect(
        hub.ledger, hub.partners["kaufhaus-nord"], doc_type="INVOIC",
        doc_key="INVOIC:kaufhaus-nord:77", control_ref="000000077", document_number="INV-77",
        file_name="INVOIC_x.edi", sent_at=long_ago,
    )  # fmt: skip
    report = edi_documents_outbound(hub, documents="DESADV,INVOIC")
    assert report["acks_overdue"] == 1 and report["status"] == "partial"
    (letter,) = hub.ledger.dead_letters(flow="edi_documents_outbound")
    assert letter.error_class == "AcknowledgementOverdue" and "INV-77" in letter.reason
    assert "hub edi resend kaufhaus-nord 000000077" in letter.reason
    again = edi_documents_outbound(hub, documents="DESADV,INVOIC")
    assert again["acks_overdue"] == 0  # one alert per document


def test_our_own_answers_are_listed_as_expecting_nothing(
    hub: Hub, erp: FakeErp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CONTRL, APERAK and ORDRSP the inbound flow sent: every outbound document is listed
    (``hub edi acks``); a CONTRL is never acknowledged: ``not_expected``."""
    _orders_answered(hub, erp)
    inbox, _ = _box(hub)
    (order,) = make_orders(NORD, US, list(erp.products.values()), count=1, seed=5)
    line = order.lines[0].model_copy(update={"gtin": gtin13("400638777777")})  # unknown
    bad = order.model_copy(update={"lines": (line,)})
    drop(inbox, "bad.edi", orders_interchange([bad], sender=NORD, recipient=US, control_ref="7002"))
    edi_orders_inbound(hub)
    docs = ack_ops.listing(hub.ledger, partner="kaufhaus-nord")
    kinds = {(d["doc_type"], d["state"]) for d in docs}
    assert {("ORDRSP", "sent"), ("CONTRL", "not_expected"), ("APERAK", "not_expected")} <= kinds
    contrls = [d for d in docs if d["doc_type"] == "CONTRL"]
    assert sorted(d["answers"] for d in contrls) == ["7001", "7002"]
    assert all(d["control_ref"] and d["file"] and d["document_number"] for d in docs)
    assert all(d["control_ref"] in str(d["file"]) for d in docs)  # read from its own UNB
    assert len({d["control_ref"] for d in docs}) == len(docs)  # each document once
    only = ack_ops.listing(hub.ledger, state="not_expected")
    assert only and {d["state"] for d in only} == {"not_expected"}
    monkeypatch.setenv("HUB_HOME", str(hub.home))
    monkeypatch.setenv("HUB_DATABASE_URL", hub.ledger.url)
    listed = CliRunner().invoke(app, ["edi", "acks", "--state", "not_expected", "--json"])
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout) == json.loads(json.dumps(only))
    table = CliRunner().invoke(app, ["edi", "acks"], env={"COLUMNS": "160"})
    assert "our answer to interchange 7002" in table.output
