"""edi_documents_outbound follows the ops conventions: dry run, backfill, trace events."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from connectors.erp.fake import FakeErp
from hub.flows import run_flow
from hub.flows.edi_outbound import stream_name
from hub.ledger import Ledger
from hub.ops.backfill import backfill
from hub.ops.trace import trace
from tests.unit.test_edifact_outbound_flow import NORD, erp, make_hub, outbox, sell

__all__ = ["erp"]  # the FakeErp fixture of the outbound flow's own tests


def rows(ledger: Ledger) -> dict[str, int]:
    return ledger.row_counts()


def shipped_and_invoiced(erp: FakeErp, number: str, codes: list[int]) -> tuple[str, str, str]:
    sale = sell(erp, number, NORD, codes)
    shipment = erp.ship(sale)
    erp.tick()
    invoice = erp.post_invoice(sale)
    erp.tick()
    return sale, shipment.erp_id, invoice.number


def test_dry_run_checks_every_document_and_writes_nothing(tmp_path: Path, erp: FakeErp) -> None:
    shipped_and_invoiced(erp, "PO-1", [1, 2])
    shipped_and_invoiced(erp, "PO-2", [1, 4])  # HUB-4 has no GTIN: would be dead letters
    hub = make_hub(tmp_path, erp)
    before = rows(hub.ledger)
    report = run_flow("edi_documents_outbound", hub=hub, dry_run=True, documents="DESADV,INVOIC")
    assert report["status"] == "dry_run" and report["would_send"] == 2
    sends = report["would"]["edi"]["send"]
    assert sorted(s.split()[0] for s in sends) == ["DESADV", "INVOIC"]
    assert len(report["would"]["ledger"]["dead_letters"]) == 2
    assert rows(hub.ledger) == before  # no reference allocated, no cursor, no run row
    assert outbox(tmp_path, "kaufhaus-nord") == {} and not (tmp_path / "home" / "archive").exists()


def test_backfill_keeps_live_cursors_skips_sent_documents_and_resends_a_lost_one(
    tmp_path: Path, erp: FakeErp
) -> None:
    shipped_and_invoiced(erp, "PO-1", [1])
    _, shipment_id, _ = shipped_and_invoiced(erp, "PO-2", [2])
    hub = make_hub(tmp_path, erp)
    first = run_flow("edi_documents_outbound", hub=hub, documents="DESADV,INVOIC")
    assert first["documents_sent"] == 4
    streams = [stream_name(d, "kaufhaus-nord") for d in ("DESADV", "INVOIC")]
    live = {s: hub.ledger.cursor(s) for s in streams}
    since = erp.now - timedelta(days=1)

    again = backfill(hub, "edi_documents_outbound", since=since)
    assert again["documents_sent"] == 0 and again["already_sent"] == 4
    assert len(outbox(tmp_path, "kaufhaus-nord")) == 4 and again["files"] == []
    assert {s: hub.ledger.cursor(s) for s in streams} == live

    # the partner fetched PO-2's DESADV, then the hub's record of sending it was lost
    key = f"edi.out:DESADV:kaufhaus-nord:{shipment_id}"
    name = hub.ledger.journal_entry(key)["result"]["file"]  # type: ignore[index]
    (tmp_path / "home" / "partners" / "kaufhaus-nord" / "out" / name).unlink()
    assert hub.ledger.forget_journal_entry(key) == 1
    repaired = backfill(hub, "edi_documents_outbound", since=since, until=erp.now)
    assert repaired["documents_sent"] == 1 and repaired["files"] == [name]  # same pinned file
    assert {s: hub.ledger.cursor(s) for s in streams} == live


def test_sent_documents_are_traced_under_order_shipment_and_invoice_numbers(
    tmp_path: Path, erp: FakeErp
) -> None:
    _, _, invoice_number = shipped_and_invoiced(erp, "PO-7", [1])
    hub = make_hub(tmp_path, erp)
    run_flow("edi_documents_outbound", hub=hub, documents="DESADV,INVOIC")
    data = trace(hub, "PO-7")
    sent = {i["kind"]: i for i in data["timeline"]}
    assert set(sent) == {"desadv.sent", "invoic.sent"}
    assert Path(sent["invoic.sent"]["document"]["path"]).is_file()
    assert sent["invoic.sent"]["document"]["outbox_file"].startswith("INVOIC_kaufhaus-nord_")
    assert data["orders"] == ["PO-7"]
    by_invoice = trace(hub, invoice_number)
    assert by_invoice["orders"] == ["PO-7"] and len(by_invoice["timeline"]) == 2
