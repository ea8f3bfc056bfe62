"""The outbound flow on the FakeErp port: exactly once, crash safety, routing, dead letters."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.edi import EdifactReader, Message, validate
from connectors.edi.channels import LocalMailbox, Mailbox
from connectors.erp.fake import FakeErp
from hub.config import load_partners
from hub.flows.edi_outbound import edi_documents_outbound, stream_name
from hub.ledger import Ledger
from hub.settings import PROJECT_ROOT
from schemas.model import Party, PartyRef, Product, SalesOrder, SalesOrderLine
from tests.fixtures.channels import BoxHub, CrashAfterWrite, PowerCut
from tests.fixtures.ids import GTINS as ALL_GTINS
from tests.fixtures.ids import NORD, SUED
from transforms.keys import DocumentKey

GTINS = ALL_GTINS[:3]

AS_OF = "2024-01-01T12:00:00+00:00"


class CrashOnSecondWrite(LocalMailbox):
    """A mailbox whose host dies as the second file is written (the first one went through)."""

    def send(self, name: str, data: bytes) -> bool:
        if self.list_outbox():
            raise PowerCut(name)
        return super().send(name, data)


class KilledAfterWrite(LocalMailbox):
    """A mailbox whose worker is killed (no handler runs) right after the file landed."""

    def send(self, name: str, data: bytes) -> bool:
        super().send(name, data)
        os._exit(9)


@pytest.fixture
def erp() -> FakeErp:
    fake = FakeErp()
    for i, gtin in enumerate([*GTINS, None], start=1):
        price = Decimal("10.10") * i
        fake.add_product(
            Product(code=f"HUB-{i}", name=f"P{i}", gtin=gtin, list_price=price, currency="EUR"),
            stock=50,
        )
    fake.create_parties([
        Party(name="Kaufhaus Nord GmbH", gln=NORD, vat="DE135735793"),
        Party(name="Markt Sued AG", gln=SUED),  # no VAT id: markt-sued requires one
        Party(name="Walk-in customer"),  # no GLN, no partner: never gets EDI
    ])  # fmt: skip
    return fake


def ledger_at(tmp_path: Path) -> Ledger:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", owner="worker-1")
    ledger.upgrade()
    return ledger


def make_hub(tmp_path: Path, erp: FakeErp, **boxes: Mailbox) -> BoxHub:
    return BoxHub(ledger_at(tmp_path), erp=erp, home=tmp_path / "home", boxes=boxes,
                   partners=load_partners(PROJECT_ROOT / "config" / "partners"))  # fmt: skip


def sell(erp: FakeErp, number: str, party_gln: str | None, codes: list[int]) -> str:
    party = next(p for p in erp.parties.values() if p.gln == party_gln)
    order = SalesOrder(
        order_number=number, order_date=dt.date(2024, 1, 1),
        buyer=PartyRef(erp_id=party.erp_id), currency="EUR",
        lines=tuple(SalesOrderLine(line_no=k, product_code=f"HUB-{c}", quantity=Decimal(k + 1))
                    for k, c in enumerate(codes, start=1)),
    )  # fmt: skip
    (result,) = erp.create_sales([order])
    assert result.sale is not None
    erp.tick()
    return result.sale.erp_id


def outbox(tmp_path: Path, partner: str) -> dict[str, bytes]:
    folder = tmp_path / "home" / "partners" / partner / "out"
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.edi"))} if folder.exists() else {}


def message(data: bytes) -> Message:
    (msg,) = [e for e in EdifactReader(data) if isinstance(e, Message)]
    return msg


def test_each_document_goes_once_to_its_partner_and_a_rerun_writes_nothing(
    tmp_path: Path, erp: FakeErp
) -> None:
    sale = sell(erp, "PO-1", NORD, [1, 2])
    walk_in = next(p for p in erp.parties.values() if p.gln is None)
    erp.ship(sale)
    erp.tick()
    erp.post_invoice(sale)
    erp.tick()
    other = sell(erp, "PO-2", NORD, [3])
    erp.sales[other] = erp.sales[other].model_copy(update={"party_erp_id": walk_in.erp_id})
    erp.ship(other)  # a customer without EDI: nobody gets a document
    hub = make_hub(tmp_path, erp)

    report = edi_documents_outbound(hub, as_of=AS_OF)
    files = outbox(tmp_path, "kaufhaus-nord")
    assert sorted(n.split("_")[0] for n in files) == ["DESADV", "INVOIC", "INVRPT"]
    assert outbox(tmp_path, "markt-sued") == {}
    assert report["documents_sent"] == 3 and report["dead_letters"] == 0
    for name, data in files.items():
        assert validate(data).verdict == "accepted", name
    invoic = message(next(d for n, d in files.items() if n.startswith("INVOIC")))
    moa = {s.element(1, 1): Decimal(s.element(1, 2)) for s in invoic.segments if s.tag == "MOA"}
    (posted,) = erp.invoices.values()
    assert (moa["77"], moa["125"], moa["176"]) == (
        posted.total_amount, posted.untaxed_amount, posted.tax_amount)  # fmt: skip
    desadv_no = next(s for s in message(files[min(files)]).segments if s.tag == "BGM").element(2)
    assert [s.element(1, 2) for s in invoic.segments if s.tag == "RFF" and
            s.element(1, 1) == "DQ"] == [desadv_no]  # fmt: skip
    # both partners' cursors moved, each its own
    assert hub.ledger.cursor(stream_name("DESADV", "kaufhaus-nord"))[0] is not None
    assert hub.ledger.cursor(stream_name("DESADV", "markt-sued"))[0] is not None

    again = edi_documents_outbound(make_hub(tmp_path, erp), as_of=AS_OF)
    assert again["documents_sent"] == 0 and again["files"] == []
    assert outbox(tmp_path, "kaufhaus-nord") == files


def test_crash_after_the_write_resends_the_same_file_even_if_the_data_changed(
    tmp_path: Path, erp: FakeErp
) -> None:
    sale = sell(erp, "PO-9", NORD, [1])
    shipment = erp.ship(sale)
    erp.tick()
    profile = load_partners(PROJECT_ROOT / "config" / "partners")["kaufhaus-nord"]
    home = tmp_path / "home" / "partners" / "kaufhaus-nord"
    crashing = CrashAfterWrite(home / "in", home / "out")
    with pytest.raises(PowerCut):
        edi_documents_outbound(make_hub(tmp_path, erp, **{profile.id: crashing}),
                               documents="DESADV")  # fmt: skip
    (first,) = outbox(tmp_path, "kaufhaus-nord").items()
    journal = make_hub(tmp_path, erp).ledger.journal_entry(
        DocumentKey("DESADV", "kaufhaus-nord", shipment.erp_id)
    )
    # not marked sent: the ledger saw the call interrupted, its outcome is unknown (a kill -9
    # leaves it "pending"); the send's policy is to repeat the same bytes
    assert journal is not None and journal["state"] == "unknown"

    erp.set_shipment_tracking(shipment.erp_id, "JD014600000001")  # data changes meanwhile
    erp.tick()
    hub = make_hub(tmp_path, erp)
    report = edi_documents_outbound(hub, documents="DESADV")
    files = outbox(tmp_path, "kaufhaus-nord")
    assert files[first[0]] == first[1]  # the pinned original: same name, same bytes
    entry = hub.ledger.journal_entry(DocumentKey("DESADV", "kaufhaus-nord", shipment.erp_id))
    assert entry is not None and entry["state"] == "done"
    # the tracking number came after the original: a replacement (BGM 5) with RFF+CN follows
    assert len(files) == 2 and report["by_type"]["DESADV"]["documents_sent"] == 1
    original, replacement = (message(files[n]) for n in sorted(files))
    bgm = next(s for s in replacement.segments if s.tag == "BGM")
    assert bgm.element(3) == "5"
    assert any(s.tag == "RFF" and s.element(1, 2) == "JD014600000001" for s in replacement.segments)
    assert not any(s.tag == "RFF" and s.element(1, 1) == "CN" for s in original.segments)
    ssccs = [[s.element(2) for s in m.segments if s.tag == "GIN"] for m in (original, replacement)]
    assert ssccs[0] == ssccs[1] and len(ssccs[0][0]) == 18  # allocated once, reused

    assert edi_documents_outbound(make_hub(tmp_path, erp), documents="DESADV")["files"] == []


def test_bad_data_is_dead_lettered_with_document_record_and_field_and_others_go_on(
    tmp_path: Path, erp: FakeErp
) -> None:
    no_gtin = sell(erp, "PO-3", NORD, [1, 4])  # HUB-4 has no GTIN
    good = sell(erp, "PO-4", NORD, [2])
    sued = sell(erp, "PO-5", SUED, [3])  # markt-sued requires VAT ids; the party has none
    for sale in (no_gtin, good, sued):
        erp.ship(sale)
        erp.tick()
        erp.post_invoice(sale)
        erp.tick()
    hub = make_hub(tmp_path, erp)
    report = edi_documents_outbound(hub, documents="DESADV,INVOIC")
    assert report["status"] == "partial"
    letters = {d.record_key: d for d in hub.ledger.dead_letters(flow="edi_documents_outbound")}
    gtin_letters = [d for d in letters.values() if d.payload["missing"] == ["gtin"]]
    assert {d.payload["document"] for d in gtin_letters} == {"DESADV", "INVOIC"}
    for letter in gtin_letters:
        assert "line 2 (product HUB-4)" in letter.reason and "missing field gtin" in letter.reason
    (vat,) = [d for d in letters.values() if "customer.vat" in d.payload["missing"]]
    assert vat.partner == "markt-sued" and vat.reason.startswith("INVOIC: invoice INV")
    assert "customer Markt Sued AG" in vat.reason
    nord = outbox(tmp_path, "kaufhaus-nord")
    assert sorted(n.split("_")[0] for n in nord) == ["DESADV", "INVOIC"]  # the good sale's
    sued_files = outbox(tmp_path, "markt-sued")
    assert [n.split("_")[0] for n in sued_files] == ["DESADV"]  # DESADV needs no VAT id
    data = next(iter(sued_files.values()))
    assert data.count(b"\n") <= 1 and validate(data).verdict == "accepted"
    assert report["documents_sent"] == 3 and report["dead_letters"] == 3


def test_invrpt_goes_once_per_schedule_period(tmp_path: Path, erp: FakeErp) -> None:
    hub = make_hub(tmp_path, erp)
    first = edi_documents_outbound(hub, documents="INVRPT", as_of="2024-01-01T08:00:00+00:00")
    same_day = edi_documents_outbound(hub, documents="INVRPT", as_of="2024-01-01T23:59:00+00:00")
    erp.stock[("HUB-1", "WH")] = Decimal(7)
    next_day = edi_documents_outbound(hub, documents="INVRPT", as_of="2024-01-02T00:00:00+00:00")
    assert (first["documents_sent"], same_day["documents_sent"], next_day["documents_sent"]) == (
        1, 0, 1)  # fmt: skip
    files = outbox(tmp_path, "kaufhaus-nord")
    assert len(files) == 2 and outbox(tmp_path, "markt-sued") == {}  # only nord asks for INVRPT
    latest = message(files[max(files)])
    qty = [s.element(1, 2) for s in latest.segments if s.tag == "QTY"]
    assert qty[0] == "7" and all(s.element(1, 1) == "145" for s in latest.segments
                                 if s.tag == "QTY")  # fmt: skip
    assert next_day["invrpt_products_without_gtin"] == {"kaufhaus-nord": ["HUB-4"]}


def test_the_cursor_moves_with_each_document_sent_so_a_crash_keeps_the_records_before(
    tmp_path: Path, erp: FakeErp
) -> None:
    first = erp.ship(sell(erp, "PO-11", NORD, [1]))
    erp.tick()
    second = erp.ship(sell(erp, "PO-12", NORD, [2]))
    erp.tick()
    home = tmp_path / "home" / "partners" / "kaufhaus-nord"
    crashing = CrashOnSecondWrite(home / "in", home / "out")
    with pytest.raises(PowerCut):
        edi_documents_outbound(make_hub(tmp_path, erp, **{"kaufhaus-nord": crashing}),
                               documents="DESADV")  # fmt: skip
    hub = make_hub(tmp_path, erp)
    cursor = hub.ledger.load_cursor(stream_name("DESADV", "kaufhaus-nord"))
    assert (cursor.value, cursor.ties) == (first.updated_at, {first.erp_id})  # not the second
    report = edi_documents_outbound(hub, documents="DESADV")
    # the first shipment is behind the cursor (not even looked up in the journal)
    assert (report["documents_sent"], report["already_sent"]) == (1, 0)
    key = DocumentKey("DESADV", "kaufhaus-nord", second.erp_id)
    assert hub.ledger.journal_entry(key)["state"] == "done"  # type: ignore[index]
    assert len(outbox(tmp_path, "kaufhaus-nord")) == 2


def test_a_killed_worker_s_send_is_taken_over_at_once_and_repeats_the_same_file(
    tmp_path: Path, erp: FakeErp
) -> None:
    shipment = erp.ship(sell(erp, "PO-13", NORD, [1]))
    erp.tick()
    home = tmp_path / "home" / "partners" / "kaufhaus-nord"

    def worker() -> None:  # its own ledger owner (host:pid:nonce), killed mid-send
        ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
        ledger.upgrade()
        hub = BoxHub(ledger, erp=erp, home=tmp_path / "home",
                         boxes={"kaufhaus-nord": KilledAfterWrite(home / "in", home / "out")},
                         partners=load_partners(PROJECT_ROOT / "config" / "partners"))  # fmt: skip
        edi_documents_outbound(hub, documents="DESADV")

    child = multiprocessing.get_context("fork").Process(target=worker)
    child.start()
    child.join(timeout=120)
    assert child.exitcode == 9
    (written,) = outbox(tmp_path, "kaufhaus-nord").items()
    hub = make_hub(tmp_path, erp)
    key = DocumentKey("DESADV", "kaufhaus-nord", shipment.erp_id)
    entry = hub.ledger.journal_entry(key)
    assert entry is not None and entry["state"] == "pending"  # the dead worker's lease

    report = edi_documents_outbound(hub, documents="DESADV")  # no wait for the lease to expire
    assert report["already_sent"] == 1 and report["files"] == [written[0]]
    assert outbox(tmp_path, "kaufhaus-nord") == dict([written])  # the same file, once
    assert hub.ledger.journal_entry(key)["state"] == "done"  # type: ignore[index]
