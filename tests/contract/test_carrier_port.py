"""The carrier port's contract, run on FakeCarrier AND on the DHL adapters against the sandbox.

Whatever the logistics flows rely on is asserted here once for both (BCS and Express), so
the fake cannot drift from the real adapters: labels and numbers, tracking, look-ups by our
reference, and which error says what about a booking (refused, rejected, outcome unknown).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.errors import OutcomeUnknownError, PermanentError, TransientError
from tests.fixtures.carrier import CarrierUnderTest, make_shipment


def test_a_booking_returns_a_pdf_label_under_our_reference(carrier_port: CarrierUnderTest) -> None:
    port = carrier_port.port
    label = port.book(make_shipment("CS1001"), now=datetime.now(UTC))
    other = port.book(make_shipment("CS1002"))

    assert label.carrier == port.carrier and label.reference == "CS1001"
    assert label.label_pdf.startswith(b"%PDF-")
    assert label.shipment_number and label.shipment_number != other.shipment_number
    assert port.system == f"carrier.{port.carrier}" and port.endpoint


def test_tracking_a_new_booking_says_created_and_follows_the_scans(
    carrier_port: CarrierUnderTest,
) -> None:
    port = carrier_port.port
    number = port.book(make_shipment("CS1003")).shipment_number

    [created] = port.track([number]).values()
    assert (created.found, created.status, created.reference) == (True, "created", "CS1003")

    carrier_port.progress(number, "in_transit")
    assert port.track([number])[number].status == "in_transit"
    carrier_port.progress(number, "delivered")
    delivered = port.track([number])[number]
    assert delivered.status == "delivered" and delivered.events


def test_numbers_the_carrier_does_not_know_are_not_found(carrier_port: CarrierUnderTest) -> None:
    reports = carrier_port.port.track(["0000000001", "2222999999999999"])

    assert sorted(reports) == ["0000000001", "2222999999999999"]
    assert all(not r.found and r.status == "unknown" for r in reports.values())


def test_find_by_reference_answers_what_was_booked_and_none_otherwise(
    carrier_port: CarrierUnderTest,
) -> None:
    port = carrier_port.port
    assert port.can_look_up
    label = port.book(make_shipment("CS1004"))

    found = port.find_by_reference("CS1004")
    assert found is not None and found.shipment_number == label.shipment_number
    assert found.reference == "CS1004" and found.carrier == port.carrier
    assert port.find_by_reference("CS9999") is None
    listed = {s.reference: s.shipment_number for s in port.shipments()}
    assert listed["CS1004"] == label.shipment_number


def test_a_lost_answer_is_an_unknown_outcome_and_the_look_up_finds_the_booking(
    carrier_port: CarrierUnderTest,
) -> None:
    port = carrier_port.port
    carrier_port.lose_next_answer()

    with pytest.raises(OutcomeUnknownError, match="CS1005"):
        port.book(make_shipment("CS1005"))

    found = port.find_by_reference("CS1005")
    assert found is not None and found.shipment_number


def test_a_refused_call_is_transient_and_creates_nothing(carrier_port: CarrierUnderTest) -> None:
    port = carrier_port.port
    carrier_port.refuse_next()

    with pytest.raises(TransientError) as info:
        port.book(make_shipment("CS1006"))

    assert not isinstance(info.value, OutcomeUnknownError)
    assert port.find_by_reference("CS1006") is None
    assert port.book(make_shipment("CS1006")).reference == "CS1006"  # a retry books it


def test_a_rejected_address_is_permanent_names_the_shipment_and_creates_nothing(
    carrier_port: CarrierUnderTest,
) -> None:
    port = carrier_port.port
    carrier_port.reject_postcode("99999")

    with pytest.raises(PermanentError, match="CS1007") as info:
        port.book(make_shipment("CS1007", postal_code="99999"))

    assert not isinstance(info.value, OutcomeUnknownError)
    assert info.value.system == port.system
    assert port.find_by_reference("CS1007") is None
