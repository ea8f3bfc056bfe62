"""The carrier connectors against the sandbox DHL carrier on loopback: happy paths and faults."""

from __future__ import annotations

import resource
import socket
import time
from datetime import date

import pytest

from connectors.carrier import client as carrier_client
from connectors.carrier.bcs import BcsConnector
from connectors.carrier.express import ExpressConnector, message_stamp
from connectors.carrier.lookup import LookupSettings, ReferenceLookup
from sandbox.carrier import SandboxCarrier
from schemas.errors import OutcomeUnknownError, PermanentError, TransientError
from tests.fixtures.carrier import (
    BCS_PROFILE,
    EXPRESS_PROFILE,
    NO_RETRY,
    bcs_settings,
    express_settings,
    make_shipment,
    sandbox_lookup,
)
from transforms import dhl_bcs, dhl_express

pytestmark = pytest.mark.integration
SHIP_DATE = date(2024, 5, 2)


def _book(connector: BcsConnector, number: str = "CS0001", postal_code: str = "53113") -> dict:
    shipment = make_shipment(number, postal_code)
    request = dhl_bcs.create_request(shipment, BCS_PROFILE, SHIP_DATE)
    return connector.create_shipment_order(request, reference=number)


def _express_book(connector: ExpressConnector, number: str = "CS0100", postal_code: str = "53113"):
    now, ref = message_stamp()
    shipment = make_shipment(number, postal_code)
    request = dhl_express.create_request(
        shipment, EXPRESS_PROFILE, ship_time=now, message_time=now, message_reference=ref
    )
    return dhl_express.parse_create_response(
        connector.create_shipment(request, reference=number), number
    )


def _track(connector: ExpressConnector, numbers: list[str]) -> dict:
    now, ref = message_stamp()
    response = connector.track(
        dhl_express.track_request(numbers, message_time=now, message_reference=ref)
    )
    return dhl_express.parse_track_response(response, numbers)


def test_bcs_create_label_and_delete(carrier_server: SandboxCarrier, bcs_connector: BcsConnector):
    response = _book(bcs_connector, "CS0001")
    outcome = dhl_bcs.parse_create_response(response, ["CS0001"])
    label = outcome.results[0]
    assert outcome.status_code == 0
    assert label.reference == "CS0001"
    assert label.label_pdf.startswith(b"%PDF-1.4") and label.label_pdf.rstrip().endswith(b"%%EOF")
    assert carrier_server.stats()["created_by_reference"] == {"CS0001": 1}

    deleted = dhl_bcs.parse_delete_response(
        bcs_connector.delete_shipment_order(dhl_bcs.delete_request([label.shipment_number]))
    )
    assert deleted.deleted == {label.shipment_number: True}
    again = dhl_bcs.parse_delete_response(
        bcs_connector.delete_shipment_order(dhl_bcs.delete_request([label.shipment_number]))
    )
    assert again.deleted == {label.shipment_number: False}
    assert carrier_server.stats()["active_by_reference"] == {}


def test_bcs_get_version(bcs_connector: BcsConnector):
    assert dhl_bcs.parse_version(bcs_connector.get_version()) == "3.0.0"


def test_bcs_rejected_address_is_permanent_with_carrier_message(
    carrier_server: SandboxCarrier, bcs_connector: BcsConnector
):
    carrier_server.reject_postcode("99999")
    with pytest.raises(PermanentError) as info:
        _book(bcs_connector, "CS0002", postal_code="99999")
    assert not isinstance(info.value, OutcomeUnknownError)
    assert "CS0002" in str(info.value)
    assert "Straße kann nicht gefunden werden" in str(info.value)
    assert info.value.code == "1101"
    assert carrier_server.stats()["shipments"] == 0


def test_bcs_password_expired_is_alerting_permanent(
    carrier_server: SandboxCarrier, bcs_connector: BcsConnector
):
    carrier_server.set_password_expired()
    with pytest.raises(PermanentError) as info:
        _book(bcs_connector)
    assert info.value.code == "auth"
    assert "ALERT" in str(info.value) and "112" in str(info.value)
    assert "carrier_dhl_bcs" in str(info.value)


@pytest.mark.parametrize(
    "override", [{"signature": "wrong-signature"}, {"app_token": "wrong-token"}]
)
def test_bcs_wrong_credentials_are_permanent_and_not_leaked(
    carrier_server: SandboxCarrier, override: dict[str, str]
):
    connector = BcsConnector(
        bcs_settings(carrier_server, **override), read_policy=NO_RETRY, create_policy=NO_RETRY
    )
    with pytest.raises(PermanentError) as info:
        _book(connector)
    assert info.value.code == "auth"
    assert "wrong-" not in str(info.value)
    assert "wrong-" not in repr(connector.settings)
    assert carrier_server.stats()["shipments"] == 0


def test_express_wrong_password_is_permanent(carrier_server: SandboxCarrier):
    connector = ExpressConnector(
        express_settings(carrier_server, password="nope"), read_policy=NO_RETRY
    )
    with pytest.raises(PermanentError) as info:
        _track(connector, ["1234567890"])
    assert info.value.code == "auth"


def test_express_create_and_track_through_statuses(
    carrier_server: SandboxCarrier, express_connector: ExpressConnector
):
    label = _express_book(express_connector, "CS0100")
    assert label.label_pdf.startswith(b"%PDF-")
    awb = label.shipment_number
    assert _track(express_connector, [awb])[awb].status == "created"
    carrier_server.advance(awb, steps=2)
    report = _track(express_connector, [awb])[awb]
    assert (report.status, [e.code for e in report.events]) == ("in_transit", ["PU", "PL"])
    assert report.reference == "CS0100"
    carrier_server.advance(awb, steps=3)
    assert _track(express_connector, [awb])[awb].status == "out_for_delivery"
    carrier_server.advance(awb)
    assert _track(express_connector, [awb])[awb].status == "delivered"


def test_track_bcs_number_as_piece_and_unknown(
    carrier_server: SandboxCarrier, bcs_connector: BcsConnector, express_connector: ExpressConnector
):
    number = dhl_bcs.parse_create_response(_book(bcs_connector, "CS0003"), ["CS0003"]).results[0]
    carrier_server.advance(number.shipment_number, event="BA")
    reports = _track(express_connector, [number.shipment_number, "0000000001"])
    assert reports[number.shipment_number].status == "exception"
    assert reports["0000000001"].found is False


def test_express_rejected_destination_is_permanent(
    carrier_server: SandboxCarrier, express_connector: ExpressConnector
):
    carrier_server.reject_postcode("00000")
    with pytest.raises(PermanentError) as info:
        _express_book(express_connector, "CS0101", postal_code="00000")
    assert "destination location is invalid" in str(info.value)
    assert "CS0101" in str(info.value)


# --- faults ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "error", "created"),
    [
        ("soap_fault", TransientError, 0),
        ("http_503", TransientError, 0),
        ("http_500", OutcomeUnknownError, 0),
        ("slow_before", OutcomeUnknownError, 0),
        ("slow_after", OutcomeUnknownError, 1),
        ("malformed", OutcomeUnknownError, 1),
        ("truncated", OutcomeUnknownError, 1),
        ("bomb", OutcomeUnknownError, 1),
        ("external_entity", OutcomeUnknownError, 1),
        ("reset", OutcomeUnknownError, 0),
    ],
)
def test_create_fault_translation(
    carrier_server: SandboxCarrier,
    bcs_connector: BcsConnector,
    kind: str,
    error: type[Exception],
    created: int,
):
    carrier_server.force_fault(kind, "createShipmentOrder")
    with pytest.raises(error) as info:
        _book(bcs_connector, "CS0200")
    assert type(info.value) is error
    assert "CS0200" in str(info.value)
    if error is OutcomeUnknownError:
        assert "reconcile" in str(info.value)
        assert info.value.retryable is False
    # the sandbox may still be finishing the request the client gave up on: wait for it
    deadline = time.monotonic() + 10
    while created and time.monotonic() < deadline:
        if carrier_server.stats()["created_by_reference"].get("CS0200", 0) >= created:
            break
        time.sleep(0.02)
    assert carrier_server.stats()["created_by_reference"].get("CS0200", 0) == created


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("soap_fault", TransientError),
        ("http_503", TransientError),
        ("http_500", TransientError),
        ("slow_before", TransientError),
        ("malformed", TransientError),
        ("truncated", TransientError),
        ("reset", TransientError),
        ("bomb", PermanentError),
        ("external_entity", PermanentError),
    ],
)
def test_read_fault_translation(
    carrier_server: SandboxCarrier,
    express_connector: ExpressConnector,
    kind: str,
    error: type[Exception],
):
    carrier_server.force_fault(kind, "trackShipmentRequest")
    with pytest.raises(error) as info:
        _track(express_connector, ["1234567890"])
    assert type(info.value) is error
    if kind == "http_503":
        assert info.value.retry_after == 1.0


def test_reads_are_retried_after_transient_faults(carrier_server: SandboxCarrier):
    connector = ExpressConnector(express_settings(carrier_server))  # default read policy
    carrier_server.force_fault("http_503", "trackShipmentRequest", count=1)
    carrier_server.force_fault("soap_fault", "trackShipmentRequest", count=1)
    reports = _track(connector, ["1234567890"])
    assert reports["1234567890"].found is False
    assert carrier_server.stats()["requests"]["trackShipmentRequest"] == 3


def test_connect_error_before_sending_is_transient(carrier_server: SandboxCarrier):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = bcs_settings(carrier_server, endpoint=f"http://127.0.0.1:{port}/bcs")
    connector = BcsConnector(settings, read_policy=NO_RETRY, create_policy=NO_RETRY)
    with pytest.raises(TransientError) as info:
        _book(connector, "CS0300")
    assert "cannot connect" in str(info.value)


def test_bomb_refused_fast_without_memory_blowup(
    carrier_server: SandboxCarrier, express_connector: ExpressConnector
):
    _track(express_connector, ["1234567890"])  # warm up: WSDL parsed, session open
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    carrier_server.force_fault("bomb", "trackShipmentRequest")
    started = time.perf_counter()
    with pytest.raises(PermanentError) as info:
        _track(express_connector, ["1234567890"])
    elapsed = time.perf_counter() - started
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert info.value.code == "hostile" and "refused unexpanded" in str(info.value)
    assert elapsed < 1.0
    assert grown_kb < 50_000  # expanded, the bomb would be ~3 GB of "lol"


def test_wsdl_parsed_once_per_process(carrier_server: SandboxCarrier):
    settings = bcs_settings(carrier_server)
    BcsConnector(settings, read_policy=NO_RETRY).get_version()
    parses = carrier_client.wsdl_parse_count(settings.wsdl)
    assert parses == 1
    connectors = [BcsConnector(settings, read_policy=NO_RETRY) for _ in range(3)]
    for connector in connectors:
        for _ in range(3):
            connector.get_version()
    assert carrier_client.wsdl_parse_count(settings.wsdl) == 1
    assert carrier_server.stats()["requests"]["getVersion"] == 10


def test_wsdl_served_by_sandbox_points_at_itself(carrier_server: SandboxCarrier):
    url = f"{carrier_server.url}/bcs?wsdl"
    connector = BcsConnector(
        bcs_settings(carrier_server, wsdl=url, endpoint=None), read_policy=NO_RETRY
    )
    assert dhl_bcs.parse_version(connector.get_version()) == "3.0.0"
    assert carrier_client.wsdl_parse_count(url) == 1


def test_random_faults_never_book_a_reference_twice(carrier_server: SandboxCarrier):
    """20% random faults: retried creates end booked once, lost answers end unknown, no dupes."""
    from connectors.http import RetryPolicy

    with SandboxCarrier(
        contracts_dir=carrier_server.contracts.root, fault_rate=0.2, seed=7, slow_seconds=0.4
    ) as flaky:
        policy = RetryPolicy(attempts=5, base_delay=0.0, max_delay=0.0, max_retry_after=0.01)
        connector = BcsConnector(
            bcs_settings(flaky, timeout=0.25), read_policy=policy, create_policy=policy
        )
        booked, unknown = set(), set()
        for n in range(60):
            number = f"CS{n:04d}"
            try:
                _book(connector, number)
                booked.add(number)
            except OutcomeUnknownError:
                unknown.add(number)
        stats = flaky.stats()
    created = stats["created_by_reference"]
    assert sum(stats["faults"].values()) >= 5  # the run really was flaky
    assert all(created[ref] == 1 for ref in booked)
    assert all(created.get(ref, 0) <= 1 for ref in unknown)
    assert len(booked) + len(unknown) == 60
    assert max(created.values()) == 1


# -- the look-up by our reference (the sandbox's; DHL's APIs have none) -----------------------


def test_look_up_refuses_wrong_credentials_as_permanent(carrier_server: SandboxCarrier) -> None:
    lookup = ReferenceLookup(
        LookupSettings(url=f"{carrier_server.url}/shipments", username="x", password="wrong"),
        carrier="dhl_bcs",
    )
    with pytest.raises(PermanentError, match="refused our credentials") as info:
        lookup.find("CS0001")
    assert not isinstance(info.value, OutcomeUnknownError)
    assert "wrong" not in str(info.value)


@pytest.mark.parametrize("fault", ["http_503", "reset"])
def test_look_up_retries_a_transient_failure_then_cannot_tell(
    carrier_server: SandboxCarrier, fault: str
) -> None:
    lookup = sandbox_lookup(carrier_server)
    carrier_server.force_fault(fault, "lookup")
    assert lookup.find("CS0001") is None  # one failed answer is retried within the call
    carrier_server.force_fault(fault, "lookup", count=10)
    with pytest.raises(OutcomeUnknownError, match="cannot tell|did not answer"):
        lookup.find("CS0001")  # still failing after every attempt: the carrier cannot tell


def test_look_up_answered_by_an_html_page_cannot_tell_at_once(
    carrier_server: SandboxCarrier,
) -> None:
    lookup = sandbox_lookup(carrier_server)
    carrier_server.force_fault("html_page", "lookup")
    with pytest.raises(OutcomeUnknownError, match="cannot tell"):
        lookup.find("CS0001")  # a 200 that is no list is not retried: a proxy, not the carrier
    assert lookup.find("CS0001") is None  # the next call answers: nothing booked


def test_html_page_instead_of_an_answer_is_an_unknown_outcome_for_a_booking(
    bcs_connector: BcsConnector, carrier_server: SandboxCarrier
) -> None:
    carrier_server.force_fault("html_page", "createShipmentOrder")
    with pytest.raises(OutcomeUnknownError, match="CS0001"):
        _book(bcs_connector)
    assert carrier_server.stats()["shipments"] == 0  # a proxy answered: nothing was booked
