"""Shipments and tracking flows against FakeErp and fake carrier ports (no servers)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.carrier.fake import PDF, FakeCarrier
from connectors.erp.fake import FakeErp
from hub.bootstrap import Hub
from hub.flows.logistics import (
    SHIPMENTS_STREAM,
    booking_key,
    delivered_shipments,
    label_path,
    ship_ready_shipments,
    track_open_shipments,
    tracking_status,
    write_atomically,
)
from hub.flows.logistics_config import LogisticsConfig, load_logistics_config
from hub.ledger import Ledger
from sandbox.carrier_clients import make_shipment
from schemas.errors import OutcomeUnknownError, PermanentError, TransientError
from schemas.model import Shipment
from transforms.keys import BookingKey

PROFILE = {
    "carrier": "dhl_bcs",
    "account_number": "22222222220101",
    "product": "V01PAK",
    "shipper": {
        "company": "Hub Demo GmbH",
        "contact_person": "Versand",
        "street": "Hafenstrasse 5",
        "postal_code": "20457",
        "city": "Hamburg",
        "country": "DE",
        "phone": "+49 40 1234567",
    },
}


FakeBooker = FakeCarrier  # the names other tests import
FakeTracker = FakeCarrier


class FakeErpFlakyWriteback(FakeErp):
    """FakeErp whose next ``set_shipment_tracking`` calls fail transiently."""

    def __init__(self) -> None:
        super().__init__()
        self.writeback_failures = 0

    def set_shipment_tracking(self, erp_id: str, tracking_number: str) -> None:
        if self.writeback_failures:
            self.writeback_failures -= 1
            raise TransientError("ERP timeout writing the reference", system="erp")
        super().set_shipment_tracking(erp_id, tracking_number)


def add_shipment(
    erp: FakeErp, n: int, *, state: str = "packed", postal_code: str = "53113", **extra: object
) -> Shipment:
    """Shipment CS<n> (ERP id n) to ``postal_code``, changed in ``erp`` just now."""
    erp.tick()
    shipment = make_shipment(
        f"CS{n:04d}", postal_code, erp_id=str(n), state=state, updated_at=erp.now, **extra
    )
    erp.shipments[shipment.erp_id] = shipment
    return shipment


@pytest.fixture
def config() -> LogisticsConfig:
    return LogisticsConfig.model_validate(
        {"profile": PROFILE, "shipments": {"batch_size": 4, "max_consecutive_failures": 3}}
    )


@pytest.fixture
def erp() -> FakeErp:
    return FakeErpFlakyWriteback()


@pytest.fixture
def booker() -> FakeCarrier:
    """The carrier (BCS-like: it cannot be asked by our reference)."""
    return FakeCarrier("dhl_bcs")


@pytest.fixture
def tracker(booker: FakeCarrier) -> FakeCarrier:
    """The same carrier: it tracks what it booked."""
    return booker


@pytest.fixture
def hub(
    tmp_path: Path, erp: FakeErp, config: LogisticsConfig, booker: FakeCarrier
) -> Iterator[Hub]:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    ledger.upgrade()
    hub = Hub(ledger, erp=erp, home=tmp_path / "home", carrier=booker, logistics=config)
    yield hub
    hub.close()


# -- shipments ------------------------------------------------------------------------------


def test_ready_shipments_are_booked_labelled_and_written_back(
    hub: Hub, erp: FakeErp, booker: FakeCarrier, config: LogisticsConfig
) -> None:
    ready = [add_shipment(erp, n) for n in range(1, 7)]
    add_shipment(erp, 7, state="done")
    add_shipment(erp, 8, state="draft")
    add_shipment(erp, 9, tracking_number="already-there")

    report = ship_ready_shipments(hub)

    assert report["booked"] == 6 and report["written_back"] == 6
    # not ready: done, draft, already tracked (+ our own write-backs, read again)
    assert report["not_ready"] >= 3 and report["status"] == "ok"
    assert booker.created == Counter({s.number: 1 for s in ready})
    for s in ready:
        tracking = f"2222{s.erp_id:0>14}"
        assert erp.shipments[s.erp_id].tracking_number == tracking
        path = label_path(hub.home, config, s.number)
        assert path == hub.home / "labels" / f"{s.number}.pdf"
        assert path.read_bytes() == PDF + tracking.encode()
        entry = hub.ledger.journal_entry(booking_key(s.number))
        assert entry is not None and entry["state"] == "done"
        assert entry["result"]["tracking_number"] == tracking
        assert hub.ledger.lookup("carrier", "shipment", tracking).erp_id == s.erp_id
    assert not list((hub.home / "labels").glob("*.part"))
    assert erp.shipments["9"].tracking_number == "already-there"

    again = ship_ready_shipments(hub)
    assert again["booked"] == 0
    assert sum(booker.calls.values()) == 6  # nothing booked twice


def test_rejection_is_dead_lettered_with_the_carriers_message_and_others_go_on(
    hub: Hub, erp: FakeErp, booker: FakeCarrier
) -> None:
    for n in (1, 2, 3):
        add_shipment(erp, n)
    booker.errors["CS0002"] = [
        PermanentError(
            "shipment CS0002: DHL BCS rejected it (status 1101): Die Postleitzahl konnte nicht "
            "gefunden werden.", system="carrier.dhl_bcs",
        )
    ]  # fmt: skip

    report = ship_ready_shipments(hub)

    assert report["booked"] == 2 and report["rejected"] == 1
    assert report["dead_letters"] == ["CS0002"]
    [letter] = hub.ledger.dead_letters(flow="logistics_shipments")
    assert letter.record_key == booking_key("CS0002")
    assert "CS0002" in letter.reason and "Postleitzahl" in letter.reason
    assert letter.payload["reference"] == "CS0002"
    assert erp.shipments["2"].tracking_number is None
    assert erp.shipments["3"].tracking_number is not None


def test_unknown_outcome_is_dead_lettered_and_never_booked_again(
    hub: Hub, erp: FakeErp, booker: FakeCarrier
) -> None:
    for n in (1, 2):
        add_shipment(erp, n)
    booker.errors["CS0001"] = [
        OutcomeUnknownError("shipment CS0001: ReadTimeout after sending", system="carrier")
    ]

    report = ship_ready_shipments(hub)

    assert report["outcome_unknown"] == 1 and report["booked"] == 1
    [letter] = hub.ledger.dead_letters(flow="logistics_shipments")
    assert letter.error_class == "OutcomeUnknownError"
    assert "outcome of create_shipment at carrier.dhl_bcs is unknown" in letter.reason
    assert "reference CS0001" in letter.reason and "NOT be repeated" in letter.reason
    assert hub.ledger.journal_entry(booking_key("CS0001"))["state"] == "dead"

    # the ERP touches the shipment again: it is read again, and still not booked
    erp.tick()
    erp.shipments["1"] = erp.shipments["1"].model_copy(update={"updated_at": erp.now})
    rerun = ship_ready_shipments(hub)
    assert rerun["skipped_dead"] == 1 and rerun["booked"] == 0
    assert booker.calls["CS0001"] == 1


def test_transient_failure_fails_the_run_keeps_the_cursor_and_a_rerun_finishes(
    hub: Hub, erp: FakeErp, booker: FakeCarrier
) -> None:
    shipments = [add_shipment(erp, n) for n in (1, 2, 3)]
    booker.errors["CS0002"] = [TransientError("HTTP 503", system="carrier.dhl_bcs")]

    with pytest.raises(TransientError, match="CS0002"):
        ship_ready_shipments(hub)

    value, ties = hub.ledger.cursor(SHIPMENTS_STREAM)
    assert value == shipments[0].updated_at.isoformat() and ties == ["1"]
    assert booker.created["CS0003"] == 1  # the others went on
    assert hub.ledger.journal_entry(booking_key("CS0002"))["state"] == "failed"

    report = ship_ready_shipments(hub)
    assert report["booked"] == 1 and report["status"] == "ok"
    assert booker.created == Counter({"CS0001": 1, "CS0002": 1, "CS0003": 1})
    assert all(s.tracking_number for s in erp.shipments.values())


def test_carrier_down_stops_after_consecutive_failures(
    hub: Hub, erp: FakeErp, booker: FakeCarrier
) -> None:
    for n in range(1, 8):
        add_shipment(erp, n)
    booker.always = TransientError("cannot connect", system="carrier.dhl_bcs")

    with pytest.raises(TransientError, match="carrier looks unavailable"):
        ship_ready_shipments(hub)
    assert sum(booker.calls.values()) == 3
    assert hub.ledger.cursor(SHIPMENTS_STREAM) == (None, [])


def test_worker_that_died_mid_call_is_reconciled_not_rebooked(
    hub: Hub, erp: FakeErp, booker: FakeCarrier, tmp_path: Path
) -> None:
    add_shipment(erp, 1)
    other = Ledger(hub.ledger.url, owner="crashed-worker")
    other.claim(
        BookingKey("CS0001"), _hash("CS0001"),
        flow="logistics_shipments", system="carrier", action="create_shipment",
        lease=timedelta(seconds=-1),
    )  # fmt: skip
    other.dispose()

    report = ship_ready_shipments(hub)

    assert report["outcome_unknown"] == 1
    assert booker.calls["CS0001"] == 0
    [letter] = hub.ledger.dead_letters(flow="logistics_shipments")
    assert "stopped during the call" in letter.reason


def _hash(number: str) -> str:
    from hub.flows.logistics_booking import booking_hash

    return booking_hash(number)


def test_writeback_failure_retries_without_booking_again(
    hub: Hub, erp: FakeErpFlakyWriteback, booker: FakeCarrier
) -> None:
    add_shipment(erp, 1)
    erp.writeback_failures = 1

    with pytest.raises(TransientError, match="CS0001"):
        ship_ready_shipments(hub)
    assert erp.shipments["1"].tracking_number is None
    assert hub.ledger.cursor(SHIPMENTS_STREAM) == (None, [])

    report = ship_ready_shipments(hub)
    assert report["already_booked"] == 1 and report["written_back"] == 1
    assert erp.shipments["1"].tracking_number == "222200000000000001"
    assert booker.calls["CS0001"] == 1


def test_label_archive_is_atomic_and_names_are_safe(
    tmp_path: Path, config: LogisticsConfig
) -> None:
    path = label_path(tmp_path, config, "../OUT/0001")
    assert path.parent == tmp_path / "labels" and path.name == "_OUT_0001.pdf"
    write_atomically(path, b"%PDF-1 one")
    write_atomically(path, b"%PDF-1 two")
    assert path.read_bytes() == b"%PDF-1 two"
    assert [p.name for p in path.parent.iterdir()] == [path.name]


# -- tracking -------------------------------------------------------------------------------


def _book(hub: Hub, erp: FakeErp, count: int) -> dict[str, str]:
    """Book CS0001..CS000<count> through ``hub``: their tracking numbers by ERP id."""
    for n in range(1, count + 1):
        add_shipment(erp, n)
    ship_ready_shipments(hub)
    return {s.erp_id: s.tracking_number or "" for s in erp.shipments.values()}


def test_tracking_records_changes_only_and_stops_at_delivery(
    hub: Hub, erp: FakeErp, tracker: FakeCarrier
) -> None:
    numbers = _book(hub, erp, 3)
    tracker.statuses = {numbers["1"]: "in_transit", numbers["2"]: "delivered"}

    first = track_open_shipments(hub, batch_size=2)
    # booked but not scanned yet: found, "created" (as the sandbox carrier answers)
    assert first["open"] == 3 and first["changed"] == 3 and first["not_found"] == 0
    assert [len(b) for b in tracker.asked] == [2, 1]
    assert tracking_status(hub.ledger, "1")["status"] == "in_transit"
    assert tracking_status(hub.ledger, "2")["last_event"] == "OK"
    assert tracking_status(hub.ledger, "3")["status"] == "created"
    assert delivered_shipments(hub.ledger) == {"2": numbers["2"]}

    tracker.asked.clear()
    second = track_open_shipments(hub)
    assert second["changed"] == 0 and second["unchanged"] == 2
    assert sorted(tracker.asked[0]) == sorted([numbers["1"], numbers["3"]])  # delivered: done

    tracker.statuses[numbers["1"]] = "delivered"
    third = track_open_shipments(hub)
    assert third["changed"] == 1 and third["delivered_total"] == 2
    assert tracking_status(hub.ledger, "1")["status"] == "delivered"


def test_tracking_batch_failure_keeps_other_batches_and_fails_the_run(
    hub: Hub, erp: FakeErp, tracker: FakeCarrier
) -> None:
    tracker.statuses = {number: "in_transit" for number in _book(hub, erp, 3).values()}
    tracker.fail_batches = {1}

    with pytest.raises(TransientError, match="tracking of 2 shipment"):
        track_open_shipments(hub, batch_size=2)
    recorded = [tracking_status(hub.ledger, i) for i in ("1", "2", "3")]
    assert [r is not None for r in recorded] == [False, False, True]


# -- configuration --------------------------------------------------------------------------


def test_project_carrier_profile_loads() -> None:
    config = load_logistics_config()
    assert config.profile.carrier in ("dhl_bcs", "dhl_express")
    assert config.connections.bcs == "hub_carrier_bcs"
    assert "packed" in config.shipments.ready_states


def test_bad_carrier_profile_names_file_and_fields(tmp_path: Path) -> None:
    path = tmp_path / "carrier.yaml"
    path.write_text(
        "profile: {carrier: ups, account_number: '1', product: X, shipper: {company: A}}\n"
        "tracking: {batch_size: 500}\n",
        encoding="utf-8",
    )
    with pytest.raises(PermanentError) as info:
        load_logistics_config(path)
    message = str(info.value)
    assert str(path) in message
    assert "profile.carrier" in message and "tracking.batch_size" in message
    assert "profile.shipper.city" in message


# -- unknown outcomes: look up by our reference, or a person; replay and backfill alike -----


@pytest.fixture
def lookup_hub(tmp_path: Path, erp: FakeErp, config: LogisticsConfig) -> Iterator[Hub]:
    """A hub whose carrier can be asked by our reference (as the sandbox carrier can)."""
    ledger = Ledger(f"sqlite:///{tmp_path / 'lookup.sqlite'}")
    ledger.upgrade()
    carrier = FakeCarrier("dhl_express", can_look_up=True)
    hub = Hub(ledger, erp=erp, home=tmp_path / "home", carrier=carrier, logistics=config)
    yield hub
    hub.close()


def _carrier(hub: Hub) -> FakeCarrier:
    assert isinstance(hub.carrier, FakeCarrier)
    return hub.carrier


def _ship_losing_the_first_answer(
    hub: Hub, erp: FakeErp, carrier: FakeCarrier, count: int
) -> dict[str, Any]:
    """Ship CS0001..CS000<count> once; the carrier creates CS0001 but its answer is lost."""
    for n in range(1, count + 1):
        add_shipment(erp, n)
    carrier.lose_answer.add("CS0001")
    return ship_ready_shipments(hub)


def test_lost_answer_is_found_by_reference_on_the_next_run_never_booked_twice(
    lookup_hub: Hub, erp: FakeErp
) -> None:
    carrier = _carrier(lookup_hub)
    first = _ship_losing_the_first_answer(lookup_hub, erp, carrier, 2)

    assert first["outcome_unknown"] == 1 and first["booked"] == 1
    assert lookup_hub.ledger.journal_entry(BookingKey("CS0001"))["state"] == "unknown"
    [letter] = lookup_hub.ledger.dead_letters(flow="logistics_shipments")
    assert letter.error_class == "OutcomeUnknownError" and "asks the carrier" in letter.reason
    assert erp.shipments["1"].tracking_number is None

    second = ship_ready_shipments(lookup_hub)  # the unknown booking is revisited: look-up

    assert second["already_booked"] == 1 and second["booked"] == 0
    assert carrier.created == Counter({"CS0001": 1, "CS0002": 1})
    assert carrier.calls["CS0001"] == 1
    [tracking] = [n for n, s in carrier.booked.items() if s.reference == "CS0001"]
    assert erp.shipments["1"].tracking_number == tracking
    assert lookup_hub.ledger.journal_entry(BookingKey("CS0001"))["state"] == "done"
    assert lookup_hub.ledger.dead_letters(flow="logistics_shipments") == []  # resolved


def test_look_up_that_finds_nothing_books_and_one_that_cannot_tell_waits(
    lookup_hub: Hub, erp: FakeErp
) -> None:
    carrier = _carrier(lookup_hub)
    for n in (1, 2):
        add_shipment(erp, n)
    carrier.errors["CS0001"] = [OutcomeUnknownError("ReadTimeout", system="carrier")]
    carrier.errors["CS0002"] = [OutcomeUnknownError("ReadTimeout", system="carrier")]
    ship_ready_shipments(lookup_hub)  # neither was created, both unknown

    carrier.lookup_error = OutcomeUnknownError("look-up answered 503", system="carrier")
    waiting = ship_ready_shipments(lookup_hub)
    assert waiting["outcome_unknown"] == 2 and sum(carrier.created.values()) == 0

    carrier.lookup_error = None
    settled = ship_ready_shipments(lookup_hub)
    assert settled["booked"] == 2 and carrier.created == Counter({"CS0001": 1, "CS0002": 1})
    assert all(s.tracking_number for s in erp.shipments.values())
    # booked once the carrier provably held nothing: the waiting letters are closed too
    assert lookup_hub.ledger.dead_letters(flow="logistics_shipments") == []


def test_replay_of_an_unknown_booking_finds_it_and_a_backfill_books_nothing(
    lookup_hub: Hub, erp: FakeErp
) -> None:
    from hub.ops.backfill import backfill
    from hub.ops.replay import replay

    carrier = _carrier(lookup_hub)
    _ship_losing_the_first_answer(lookup_hub, erp, carrier, 1)
    [letter] = lookup_hub.ledger.dead_letters(flow="logistics_shipments")

    outcome = replay(lookup_hub, letter.id)
    report = backfill(lookup_hub, "logistics_shipments", since=erp.now - timedelta(days=1))

    assert outcome["outcome"] == "replayed" and outcome["state"] == "replayed"
    assert report["booked"] == 0
    assert carrier.created == Counter({"CS0001": 1}) and carrier.calls["CS0001"] == 1
    assert erp.shipments["1"].tracking_number is not None


def test_backfill_over_an_unknown_booking_looks_it_up_and_closes_its_letter(
    lookup_hub: Hub, erp: FakeErp
) -> None:
    from hub.ops.backfill import backfill

    carrier = _carrier(lookup_hub)
    _ship_losing_the_first_answer(lookup_hub, erp, carrier, 1)

    report = backfill(lookup_hub, "logistics_shipments", since=erp.now - timedelta(days=1))

    assert report["already_booked"] == 1 and report["booked"] == 0
    assert carrier.created == Counter({"CS0001": 1})
    assert lookup_hub.ledger.dead_letters(flow="logistics_shipments") == []


def test_replay_without_a_look_up_never_books_a_second_label(
    hub: Hub, erp: FakeErp, booker: FakeCarrier
) -> None:
    from hub.ops.backfill import backfill
    from hub.ops.replay import replay

    _ship_losing_the_first_answer(hub, erp, booker, 1)
    [letter] = hub.ledger.dead_letters(flow="logistics_shipments")

    outcome = replay(hub, letter.id)
    backfill(hub, "logistics_shipments", since=erp.now - timedelta(days=1))
    ship_ready_shipments(hub)

    assert outcome["outcome"] == "failed" and outcome["state"] == "open"
    assert "NOT be repeated" in outcome["detail"]
    assert booker.calls["CS0001"] == 1 and booker.created == Counter({"CS0001": 1})

    # a person checked the carrier's portal: nothing there (cancelled); now it books
    [number] = booker.booked
    booker.cancel(number)
    confirmed = replay(hub, letter.id, confirm_absent=True)
    assert confirmed["outcome"] == "replayed"
    assert booker.calls["CS0001"] == 2
    assert erp.shipments["1"].tracking_number not in (None, number)


def test_circuit_breaker_stops_after_consecutive_unknown_outcomes(
    hub: Hub, erp: FakeErp, booker: FakeCarrier
) -> None:
    for n in range(1, 21):
        add_shipment(erp, n)
    booker.always = OutcomeUnknownError(
        "createShipmentOrder at http://dhl.example/bcs: HTTP 200, unreadable answer",
        system="carrier.dhl_bcs",
    )

    with pytest.raises(TransientError) as info:
        ship_ready_shipments(hub)

    message = str(info.value)
    assert "circuit breaker: 3 bookings in a row" in message
    assert "carrier.dhl_bcs" in message and "http://dhl.example/bcs" in message
    assert sum(booker.calls.values()) == 3
    assert len(hub.ledger.dead_letters(flow="logistics_shipments")) == 3


# -- reconcile asks the carrier ---------------------------------------------------------------


def test_reconcile_compares_the_carriers_own_shipments_with_the_erp(
    lookup_hub: Hub, erp: FakeErp
) -> None:
    from hub.ops.reconcile_carrier import carrier_section

    carrier = _carrier(lookup_hub)
    _ship_losing_the_first_answer(lookup_hub, erp, carrier, 3)
    stray = carrier.book(add_shipment(erp, 4).model_copy(update={"number": "XX0004"}))
    cancelled = str(erp.shipments["3"].tracking_number)
    carrier.cancel(cancelled)

    section = carrier_section(lookup_hub)

    kinds = {(d["record"], d["kind"]) for d in section["differences"]}
    assert kinds == {
        ("shipment CS0001", "missing_tracking_in_erp"),
        (f"carrier {stray.shipment_number}", "unknown_to_erp"),
        ("shipment CS0003", "missing_at_carrier"),
    }
    assert section["active"] and section["systems"] == ["erp", "carrier"]


def test_reconcile_without_a_carrier_list_names_unknown_bookings(
    hub: Hub, erp: FakeErp, booker: FakeCarrier
) -> None:
    from hub.ops.reconcile_carrier import carrier_section

    assert carrier_section(hub)["active"] is False
    _ship_losing_the_first_answer(hub, erp, booker, 2)

    section = carrier_section(hub)

    assert [(d["record"], d["kind"]) for d in section["differences"]] == [
        ("shipment CS0001", "unknown_outcome")
    ]
    assert section["counts"] == {"erp": 1, "carrier": 1}


def test_bookings_waiting_for_a_look_up_never_block_new_ones(lookup_hub: Hub, erp: FakeErp) -> None:
    carrier = _carrier(lookup_hub)
    for n in (1, 2, 3, 4):
        add_shipment(erp, n)
    for number in ("CS0001", "CS0002", "CS0003"):
        carrier.lose_answer.add(number)
    with pytest.raises(TransientError, match="circuit breaker"):
        ship_ready_shipments(lookup_hub)  # three unknown in a row: the breaker stops the run
    carrier.lookup_error = OutcomeUnknownError("look-up answered 503", system="carrier")
    add_shipment(erp, 5)

    report = ship_ready_shipments(lookup_hub)  # three look-ups cannot tell: new ones go on

    assert report["booked"] == 2 and report["outcome_unknown"] == 3
    assert erp.shipments["5"].tracking_number and erp.shipments["4"].tracking_number
