"""The inbound ORDERS flow against the FakeErp port: exactly once, acks, dead letters."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.edi import validate
from connectors.erp.fake import FakeErp
from connectors.erp.port import SaleResult, TargetState
from hub import edi_out
from hub.bootstrap import Hub
from hub.flows.edi_in import acks as ack_docs
from hub.flows.edi_in.parsing import CompactResults, scan_file
from hub.flows.edi_inbound import edi_orders_inbound
from sandbox.partner import drop, make_orders, orders_interchange
from schemas.errors import OutcomeUnknownError, TransientError
from schemas.model import Party, SalesOrder
from tests.fixtures.hub import fake_catalogue_erp, hub_on
from tests.fixtures.ids import NORD
from transforms import edifact_acks as acks
from transforms.keys import SaleKey

US = "4006389999993"
GTINS = ["4006380000018", "4006380000025", "4006380000032", "4006380000049"]


def _inbox(hub: Hub) -> Path:
    return hub.mailbox(hub.partners["kaufhaus-nord"]).inbox  # type: ignore[attr-defined]


def _outbox(hub: Hub) -> Path:
    return hub.mailbox(hub.partners["kaufhaus-nord"]).outbox  # type: ignore[attr-defined]


def _interchange(erp: FakeErp, ref: str, count: int = 2, seed: int = 1, **kw: object) -> bytes:
    orders = make_orders(NORD, US, list(erp.products.values()), count=count, seed=seed, **kw)  # type: ignore[arg-type]
    return orders_interchange(orders, sender=NORD, recipient=US, control_ref=ref)


def test_orders_become_sales_with_contrl_and_ordrsp(hub: Hub, erp: FakeErp) -> None:
    drop(_inbox(hub), "orders1.edi", _interchange(erp, "1001"))
    report = edi_orders_inbound(hub)
    assert (report["files"], report["accepted"], report["orders_created"]) == (1, 1, 2)
    assert len(erp.sales) == 2
    assert {s.reference for s in erp.sales.values()} == {"PO00100000", "PO00100001"}
    names = sorted(p.name for p in _outbox(hub).iterdir())
    assert [n.split("_")[0] for n in names] == ["CONTRL", "ORDRSP", "ORDRSP"]
    for path in _outbox(hub).iterdir():  # every acknowledgement passes our own validator
        assert validate(path).verdict == "accepted", validate(path).to_dict()
    contrl = next(p for p in _outbox(hub).iterdir() if p.name.startswith("CONTRL")).read_text()
    assert "UCI+1001+4300000000014:14+4006389999993:14+7'" in contrl
    assert not list(_inbox(hub).iterdir())  # the file left the inbox after the commit


def test_repeated_interchange_is_not_processed_again(hub: Hub, erp: FakeErp) -> None:
    data = _interchange(erp, "1002")
    drop(_inbox(hub), "a.edi", data)
    edi_orders_inbound(hub)
    first = {p.name: p.read_bytes() for p in _outbox(hub).iterdir()}
    for path in _outbox(hub).iterdir():
        path.unlink()  # the partner fetched its acknowledgements
    drop(_inbox(hub), "a-resent.edi", data)
    report = edi_orders_inbound(hub)
    assert report["duplicates"] == 1 and report["orders_created"] == 0
    assert len(erp.sales) == 2
    again = {p.name: p.read_bytes() for p in _outbox(hub).iterdir()}
    assert again == first  # the same acknowledgements, byte for byte
    letters = hub.ledger.dead_letters(flow="edi_orders_inbound")
    assert [d.error_class for d in letters] == ["DuplicateInterchange"]


def test_same_order_in_new_interchange_makes_no_second_sale(hub: Hub, erp: FakeErp) -> None:
    drop(_inbox(hub), "a.edi", _interchange(erp, "2001"))
    edi_orders_inbound(hub)
    drop(_inbox(hub), "b.edi", _interchange(erp, "2002"))
    report = edi_orders_inbound(hub)
    assert report["orders_created"] == 0 and report["orders_existing"] == 2
    assert len(erp.sales) == 2


def test_same_order_number_different_content_is_a_conflict(hub: Hub, erp: FakeErp) -> None:
    drop(_inbox(hub), "a.edi", _interchange(erp, "3001", count=1, seed=1))
    edi_orders_inbound(hub)
    changed = _interchange(erp, "3002", count=1, seed=1, lines=2)
    drop(_inbox(hub), "b.edi", changed)
    report = edi_orders_inbound(hub)
    assert report["orders_refused"] == 1 and len(erp.sales) == 1
    aperak = [p for p in _outbox(hub).iterdir() if p.name.startswith("APERAK")]
    assert len(aperak) == 1 and "ERC+DUP'" in aperak[0].read_text()
    letters = hub.ledger.dead_letters(flow="edi_orders_inbound")
    assert [d.error_class for d in letters] == ["ConflictError"]


def test_unknown_gtin_and_price_outside_tolerance_get_aperak(hub: Hub, erp: FakeErp) -> None:
    orders = make_orders(NORD, US, list(erp.products.values()), count=2, seed=5, lines=1)
    bad_gtin = orders[0].model_copy(
        update={"lines": (orders[0].lines[0].model_copy(update={"gtin": "4006381333931"}),)}
    )
    bad_price = orders[1].model_copy(
        update={"lines": (orders[1].lines[0].model_copy(update={"unit_price": Decimal("99.00")}),)}
    )
    drop(
        _inbox(hub),
        "c.edi",
        orders_interchange([bad_gtin, bad_price], sender=NORD, recipient=US, control_ref="4001"),
    )
    report = edi_orders_inbound(hub)
    assert report["orders_refused"] == 2 and report["rejected"] == 1 and not erp.sales
    texts = [p.read_text() for p in _outbox(hub).iterdir() if p.name.startswith("APERAK")]
    assert any("ERC+GTIN'" in t and "4006381333931" in t for t in texts)
    assert any("ERC+PRICE'" in t for t in texts)
    reasons = " ".join(d.reason for d in hub.ledger.dead_letters())
    assert "4006381333931 is not a known product" in reasons and "tolerance" in reasons


def test_syntax_error_rejects_message_with_contrl_pointing_at_it(hub: Hub, erp: FakeErp) -> None:
    data = _interchange(erp, "5001", count=1).replace(b"UNT+", b"UNT+99", 1)
    drop(_inbox(hub), "d.edi", data)
    report = edi_orders_inbound(hub)
    assert report["rejected"] == 1 and not erp.sales
    contrl = next(p for p in _outbox(hub).iterdir() if p.name.startswith("CONTRL")).read_text()
    assert "UCM+1+ORDERS:D:96A:UN:EAN008+4" in contrl


def test_unknown_sender_and_garbage_are_quarantined_with_a_dead_letter(
    hub: Hub, erp: FakeErp
) -> None:
    other = orders_interchange(
        make_orders("4300000000038", US, list(erp.products.values()), count=1),
        sender="4300000000038",
        recipient=US,
        control_ref="6001",
    )
    drop(_inbox(hub), "other.edi", other)
    drop(_inbox(hub), "junk.txt", b"this is not EDIFACT at all")
    report = edi_orders_inbound(hub)
    assert report["quarantined"] == 2 and report["files"] == 2
    reasons = sorted(d.reason for d in hub.ledger.dead_letters())
    assert any("unknown sender" in r for r in reasons)
    assert any("junk.txt" in r for r in reasons)
    assert len(list(hub.quarantine_dir.rglob("*"))) >= 2


def test_transient_erp_failure_keeps_the_file_and_rerun_finishes(hub: Hub, erp: FakeErp) -> None:
    drop(_inbox(hub), "e.edi", _interchange(erp, "7001"))
    erp.fail_next(TransientError("ERP down", system="erp"))
    with pytest.raises(TransientError):
        edi_orders_inbound(hub)
    assert [p.name for p in _inbox(hub).iterdir()] == ["e.edi"]
    report = edi_orders_inbound(hub)
    assert report["orders_created"] == 2 and len(erp.sales) == 2
    assert not list(_inbox(hub).iterdir())


def test_reused_control_reference_with_other_content_is_rejected_not_merged(
    hub: Hub, erp: FakeErp
) -> None:
    drop(_inbox(hub), "a.edi", _interchange(erp, "8001", count=1, seed=1))
    edi_orders_inbound(hub)
    drop(_inbox(hub), "b.edi", _interchange(erp, "8001", count=1, seed=2))
    report = edi_orders_inbound(hub)
    assert report["rejected"] == 1 and report["orders_created"] == 0 and len(erp.sales) == 1
    contrls = [p.read_text() for p in _outbox(hub).iterdir() if p.name.startswith("CONTRL")]
    assert any("UCI+8001+4300000000014:14+4006389999993:14+4+26+UNB'" in t for t in contrls)
    letters = hub.ledger.dead_letters(flow="edi_orders_inbound")
    assert any("already used" in d.reason and d.error_class == "ConflictError" for d in letters)


class FakeErpLosingAnswers(FakeErp):
    """Creates the sales, then loses the answer once (a read timeout after the request)."""

    lose_next = False

    def create_sales(
        self, orders: Sequence[SalesOrder], *, state: TargetState = "confirmed"
    ) -> list[SaleResult]:
        results = super().create_sales(orders, state=state)
        if self.lose_next:
            self.lose_next = False
            raise OutcomeUnknownError("read timeout after the request was sent", system="erp")
        return results


def test_unknown_erp_outcome_keeps_the_file_and_the_rerun_repeats_safely(tmp_path: Path) -> None:
    erp = FakeErpLosingAnswers()
    for product in fake_catalogue_erp().products.values():
        erp.add_product(product, stock=100)
    erp.create_parties([Party(name="Kaufhaus Nord GmbH", gln=NORD, code="CUST-001")])
    hub = hub_on(tmp_path, erp)
    drop(_inbox(hub), "u.edi", _interchange(erp, "7101"))
    erp.lose_next = True
    with pytest.raises(TransientError, match="the next run repeats it safely"):
        edi_orders_inbound(hub)
    assert len(erp.sales) == 2  # created, but the hub does not know
    entry = hub.ledger.journal_entry(SaleKey(NORD, "PO00100000"))
    assert entry is not None and entry["state"] == "unknown"
    assert [p.name for p in _inbox(hub).iterdir()] == ["u.edi"]
    # create_sales dedups by (party, reference), so the journal's policy is "repeat"
    report = edi_orders_inbound(hub)
    assert (report["orders_created"], report["orders_existing"]) == (0, 2)
    assert len(erp.sales) == 2 and hub.ledger.dead_letters() == []
    assert not list(_inbox(hub).iterdir())


# -- large files: batches, progress marks, resume, concurrency (issue 17) --------------------


class FakeErpFailingCreate(FakeErp):
    """Fails the n-th ``create_sales`` call once with a transient error (nothing created)."""

    fail_on = 0
    created_calls = 0

    def create_sales(
        self, orders: Sequence[SalesOrder], *, state: TargetState = "confirmed"
    ) -> list[SaleResult]:
        self.created_calls += 1
        if self.created_calls == self.fail_on:
            raise TransientError("ERP down in the middle of a file", system="erp")
        return super().create_sales(orders, state=state)


def _catalogue(erp: FakeErp) -> FakeErp:
    for product in fake_catalogue_erp().products.values():
        erp.add_product(product, stock=1000)
    erp.create_parties([Party(name="Kaufhaus Nord GmbH", gln=NORD, code="CUST-001")])
    return erp


def test_a_file_goes_in_batches_and_a_failed_run_resumes_after_the_last_batch(
    tmp_path: Path,
) -> None:
    erp = _catalogue(FakeErpFailingCreate())
    erp.fail_on = 3  # batches 1 and 2 are committed, the third fails
    hub = hub_on(tmp_path, erp)
    drop(_inbox(hub), "big.edi", _interchange(erp, "9001", count=11))
    with pytest.raises(TransientError, match="middle of a file"):
        edi_orders_inbound(hub, batch_size=3)
    assert len(erp.sales) == 6 and [p.name for p in _inbox(hub).iterdir()] == ["big.edi"]
    row = hub.ledger.interchange("kaufhaus-nord", "in", "9001")
    assert row is not None and row["state"] == "received"
    assert json.loads(row["detail"])["progress"] == 6

    report = edi_orders_inbound(hub, batch_size=3)

    [detail] = report["details"]
    assert detail["resumed_at"] == 6 and erp.created_calls == 5  # batches 1-2 not redone
    assert (report["orders_created"], report["accepted"]) == (11, 1)
    assert len(erp.sales) == 11
    names = [p.name.split("_")[0] for p in _outbox(hub).iterdir()]
    assert (names.count("CONTRL"), names.count("ORDRSP")) == (1, 11)
    assert report["messages_in"] == report["messages_created"] == 11


class FakeErpWatchingBatches(FakeErp):
    """Records the orders each concurrent ``create_sales`` holds; two at once on one order
    would be a defect."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.holding: set[str] = set()
        self.overlaps: list[str] = []
        self.most_at_once = 0
        self.active = 0

    def create_sales(
        self, orders: Sequence[SalesOrder], *, state: TargetState = "confirmed"
    ) -> list[SaleResult]:
        refs = {o.order_number for o in orders}
        with self.lock:
            self.overlaps += sorted(refs & self.holding)
            self.holding |= refs
            self.active += 1
            self.most_at_once = max(self.most_at_once, self.active)
        try:
            with self.lock:  # the fake's dicts are not meant for threads
                return super().create_sales(orders, state=state)
        finally:
            with self.lock:
                self.holding -= refs
                self.active -= 1


def test_concurrent_batches_keep_order_and_never_share_an_order(tmp_path: Path) -> None:
    erp = _catalogue(FakeErpWatchingBatches())
    hub = hub_on(tmp_path, erp)
    orders = make_orders(NORD, US, list(erp.products.values()), count=12, seed=3)
    repeated = [*orders[:7], orders[2], orders[5], *orders[7:], orders[2]]  # re-sent inside
    data = orders_interchange(repeated, sender=NORD, recipient=US, control_ref="9101")
    drop(_inbox(hub), "many.edi", data)

    report = edi_orders_inbound(hub, batch_size=2, concurrency=3)

    assert erp.overlaps == []
    assert (report["orders_created"], report["orders_existing"]) == (12, 3)
    assert sorted(s.reference for s in erp.sales.values()) == sorted(o.order_number for o in orders)
    assert report["messages_in"] == report["messages_created"] == 15
    row = hub.ledger.interchange("kaufhaus-nord", "in", "9101")
    assert row is not None and row["state"] == "done"
    ordrsp = [p for p in _outbox(hub).iterdir() if p.name.startswith("ORDRSP")]
    assert len(ordrsp) == 12


# -- every file and message counted into one outcome (issue 13, points 1 and 2) ----------------


def _redelimited(data: bytes) -> bytes:
    """The same interchange under other delimiters (its own UNA): ^ * ~ instead of : + '."""
    assert data.startswith(b"UNA:+.? '")
    return b"UNA^*.? ~" + data[9:].translate(bytes.maketrans(b":+'", b"^*~"))


def _run_counted(hub: Hub) -> tuple[dict[str, Any], list[str]]:
    """One run, every file and message counted once; (report, the CONTRLs written)."""
    report = edi_orders_inbound(hub)
    _assert_counted(report)
    contrls = [p.read_text() for p in _outbox(hub).iterdir() if p.name.startswith("CONTRL")]
    return report, contrls


def _assert_counted(report: dict[str, object]) -> None:
    assert report["files"] == report["accepted"] + report["rejected"] + report["quarantined"]  # type: ignore[operator]
    assert report["messages_in"] == (
        report["messages_created"] + report["messages_refused"] + report["messages_acknowledged"]  # type: ignore[operator]
    )


def test_a_second_interchange_under_the_same_reference_in_one_file_is_never_skipped(
    hub: Hub, erp: FakeErp
) -> None:
    first = _interchange(erp, "9201", count=2, seed=1)
    second = _interchange(erp, "9201", count=2, seed=2)
    drop(_inbox(hub), "twice.edi", first + second)

    report, contrls = _run_counted(hub)

    assert (report["files"], report["rejected"], report["messages_in"]) == (1, 1, 4)
    assert (report["messages_created"], report["messages_refused"]) == (2, 2)
    assert len(erp.sales) == 2
    assert len(contrls) == 2 and sum("+4+26+UNB'" in t for t in contrls) == 1
    [letter] = hub.ledger.dead_letters(flow="edi_orders_inbound")
    assert letter.error_class == "ConflictError" and "same file" in letter.reason


def test_concatenated_junk_separated_and_redelimited_interchanges_are_all_answered(
    hub: Hub, erp: FakeErp
) -> None:
    a = _interchange(erp, "9301", count=2, seed=1)
    b = _interchange(erp, "9302", count=1, seed=2)
    c = _redelimited(_interchange(erp, "9303", count=2, seed=3))
    d = _interchange(erp, "9304", count=1, seed=4)
    drop(_inbox(hub), "concat.edi", a + b)
    drop(_inbox(hub), "junk.edi", c + b"GARBAGE\r\n" + d)
    drop(_inbox(hub), "noise.txt", b"this is no EDIFACT at all")

    report, contrls = _run_counted(hub)

    assert (report["files"], report["accepted"], report["quarantined"]) == (3, 2, 1)
    assert (report["messages_in"], report["messages_created"]) == (6, 6)
    assert len(erp.sales) == 6
    assert sorted(t.split("UCI+")[1][:4] for t in contrls) == ["9301", "9302", "9303", "9304"]
    letters = {d.error_class: d for d in hub.ledger.dead_letters(flow="edi_orders_inbound")}
    assert set(letters) == {"JunkInFile", "QuarantinedFile"}
    assert "junk.edi" in letters["JunkInFile"].reason and "GARBAGE" in letters["JunkInFile"].reason
    assert not list(_inbox(hub).iterdir())


def test_a_large_file_reports_its_refused_messages_only() -> None:
    from connectors.edi import Issue, MessageResult
    from connectors.edi.result import FileResult, InterchangeResult
    from hub.flows.edi_in.loop import validation_detail

    ich = InterchangeResult(NORD, "14", US, "14", "1", "UNOC", "3")
    ich.messages = [MessageResult(str(n), "ORDERS:D:96A:UN:EAN008", n) for n in range(5)]
    ich.messages[3].errors = [Issue(12, "message", "bad value", 4, "QTY", 1)]
    detail = validation_detail(FileResult("big.edi", [ich]), limit=2)
    [summary] = detail["interchanges"]
    assert (detail["messages"], summary["messages"]) == (5, 5)
    assert [m["ref"] for m in summary["refused_messages"]] == ["3"]
    assert (
        validation_detail(FileResult("small.edi", [ich]), limit=10)["interchanges"][0]["messages"][
            0
        ]["ref"]
        == "0"
    )  # a small file keeps the full shape


def _century_unb(data: bytes) -> bytes:
    """The interchange with its UNB date written CCYYMMDD (a deviation syntax 3 forbids)."""
    head, sep, rest = data.partition(b"UNB+")
    elements = rest.split(b"'", 1)[0].split(b"+")
    elements[3] = b"20" + elements[3]
    return head + sep + b"+".join(elements) + b"'" + rest.split(b"'", 1)[1]


def test_the_partners_strictness_decides_the_flows_verdict(tmp_path: Path) -> None:
    erp = fake_catalogue_erp()
    hub = hub_on(tmp_path, erp)
    data = _century_unb(_interchange(erp, "1501", count=1))
    drop(_inbox(hub), "century.edi", data)
    assert edi_orders_inbound(hub)["rejected"] == 1  # strict (the shipped profile)
    assert not erp.sales

    lenient = hub.partners["kaufhaus-nord"].model_copy(update={"strictness": "lenient"})
    relaxed = Hub(hub.ledger, erp=erp, home=tmp_path / "home2",
                  partners={**hub.partners, "kaufhaus-nord": lenient})  # fmt: skip
    drop(_inbox(relaxed), "century.edi", _century_unb(_interchange(erp, "1502", count=1)))
    report = edi_orders_inbound(relaxed)
    assert (report["accepted"], report["orders_created"]) == (1, 1), report


def test_a_message_type_not_agreed_gets_contrl_code_17(hub: Hub, erp: FakeErp) -> None:
    orders = make_orders(NORD, US, list(erp.products.values()), count=1, seed=3)
    data = orders_interchange(orders, sender=NORD, recipient=US, control_ref="1503",
                              message_type="ORDERS:D:93A:UN:EAN007")  # fmt: skip
    drop(_inbox(hub), "old.edi", data)
    edi_orders_inbound(hub)
    assert not erp.sales
    contrl = next(p for p in _outbox(hub).iterdir() if p.name.startswith("CONTRL")).read_text()
    assert "UCM+" in contrl and "+17'" in contrl.replace("\n", ""), contrl


def test_the_scan_keeps_every_message_result_compactly_and_exactly(erp: FakeErp) -> None:
    good = _interchange(erp, "9401", count=30, seed=1)
    bad = good.replace(b"UNH+2+", b"UNH+1+", 1)  # message 2 reuses reference 1: an error
    for data in (good, bad):
        scan = scan_file(data, "big.edi", "strict")
        [ich] = scan.interchanges
        assert isinstance(ich.result.messages, CompactResults)
        plain = validate(data, file="big.edi")  # the codec's own result, a full object a message
        assert scan.result.to_dict() == plain.to_dict()
        assert list(ich.result.messages) == plain.interchanges[0].messages
        assert len(ich.result.messages) == scan.result.message_count == 30
    assert scan.result.verdict == "rejected" and ich.result.messages[1].errors


def test_a_contrl_rendered_a_chunk_at_a_time_is_the_whole_rendering_byte_for_byte(
    hub: Hub, erp: FakeErp
) -> None:
    [ich] = scan_file(_interchange(erp, "9501", count=1), "x.edi", "strict").interchanges
    label = ["ORDERS", "D", "96A", "UN", "EAN008"]
    bad = [acks.SyntaxFinding(12, "segment", 4, "DTM", 1, 2), acks.SyntaxFinding(35, "message")]
    verdicts = [
        acks.MessageVerdict(str(n), label, n % 7 != 0, bad if n % 7 == 0 else [])
        for n in range(1, 2 * ack_docs.CHUNK + 3)  # more than two chunks
    ]
    when = datetime(2026, 11, 2, 8, 30)
    streamed = ack_docs.contrl(hub.ledger, hub.partners["kaufhaus-nord"], ich, digest="ab" * 32,
                               prepared=when, verdicts=iter(verdicts))  # fmt: skip
    body = acks.contrl(
        interchange_ref="9501", sender=(NORD, "14"), recipient=(US, "14"),
        interchange_findings=[], messages=verdicts,
    )  # fmt: skip
    key = ack_docs.contrl_key("9501", "ab" * 32)
    whole = edi_out.render_keyed(
        hub.ledger, hub.partners["kaufhaus-nord"], key, acks.CONTRL_TYPE, body, when
    )
    assert streamed == whole
    assert streamed.data.count(b"UCM+") == len(verdicts)
