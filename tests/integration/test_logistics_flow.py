"""Logistics flows against the sandbox DHL carrier on loopback (real SOAP, XSD-checked)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from connectors.erp.fake import FakeErp
from connectors.http import RetryPolicy
from hub.bootstrap import Hub
from hub.flows import run_flow
from hub.flows.logistics import (
    delivered_shipments,
    label_path,
    ship_ready_shipments,
    track_open_shipments,
    tracking_status,
)
from hub.flows.logistics_config import LogisticsConfig
from hub.ledger import Ledger
from hub.settings import connection_json
from sandbox.carrier import SandboxCarrier
from tests.fixtures.carrier import bcs_settings, make_shipment, sandbox_carrier
from tests.unit.test_logistics_flow import add_shipment
from transforms.keys import BookingKey

pytestmark = pytest.mark.integration

FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, max_retry_after=0.05)


def make_hub(
    tmp_path: Path, erp: FakeErp, server: SandboxCarrier, *, express: bool = False,
    timeout: float = 3.0, attempts: int = 3, lookup: bool = False,
    config: LogisticsConfig | None = None,
) -> Hub:  # fmt: skip
    """A hub on a fresh ledger whose carrier port talks to ``server`` (local WSDL files)."""
    policy = RetryPolicy(attempts=attempts, base_delay=0.01, max_delay=0.05, max_retry_after=0.05)
    carrier = sandbox_carrier(
        server, "dhl_express" if express else "dhl_bcs", lookup=lookup, timeout=timeout,
        create_policy=policy, read_policy=FAST,
    )  # fmt: skip
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    ledger.upgrade()
    config = config or LogisticsConfig(profile=carrier.profile)
    return Hub(ledger, erp=erp, home=tmp_path / "home", carrier=carrier, logistics=config)


@pytest.fixture
def erp() -> FakeErp:
    return FakeErp()


@pytest.fixture
def bcs_hub(tmp_path: Path, erp: FakeErp, carrier_server: SandboxCarrier) -> Iterator[Hub]:
    hub = make_hub(tmp_path, erp, carrier_server)
    yield hub
    hub.close()


def test_bcs_books_archives_pdf_labels_and_writes_tracking_back(
    bcs_hub: Hub, erp: FakeErp, carrier_server: SandboxCarrier
) -> None:
    shipments = [add_shipment(erp, n) for n in (1, 2, 3)]
    carrier_server.reject_postcode("99999")
    add_shipment(erp, 4, postal_code="99999")

    report = ship_ready_shipments(bcs_hub)

    assert report["booked"] == 3 and report["rejected"] == 1, report
    stats = carrier_server.stats()
    assert stats["created_by_reference"] == {s.number: 1 for s in shipments}
    by_reference = {s["reference"]: s["number"] for s in carrier_server.state.shipments_json()}
    for s in shipments:
        assert erp.shipments[s.erp_id].tracking_number == by_reference[s.number]
        pdf = label_path(bcs_hub.home, bcs_hub.logistics, s.number)
        assert pdf.read_bytes().startswith(b"%PDF-")
    [letter] = bcs_hub.ledger.dead_letters(flow="logistics_shipments")
    assert letter.record_key == str(BookingKey("CS0004"))
    assert "CS0004" in letter.reason
    # the carrier's own words from the BCS error response reach the person who fixes it
    assert "Straße kann nicht gefunden werden" in letter.reason
    assert erp.shipments["4"].tracking_number is None


def test_express_books_and_rejects_invalid_destination(
    tmp_path: Path, erp: FakeErp, carrier_server: SandboxCarrier
) -> None:
    with closing(make_hub(tmp_path, erp, carrier_server, express=True)) as hub:
        add_shipment(erp, 1)
        carrier_server.reject_postcode("99999")
        add_shipment(erp, 2, postal_code="99999")
        report = ship_ready_shipments(hub)
    assert report["carrier"] == "dhl_express" and report["booked"] == 1
    assert carrier_server.stats()["created_by_reference"] == {"CS0001": 1}
    [letter] = hub.ledger.dead_letters(flow="logistics_shipments")
    assert "CS0002" in letter.reason and "destination location is invalid" in letter.reason


def test_answer_lost_after_booking_becomes_reconciliation_letter_never_a_duplicate(
    bcs_hub: Hub, erp: FakeErp, carrier_server: SandboxCarrier
) -> None:
    add_shipment(erp, 1)
    add_shipment(erp, 2)
    carrier_server.force_fault("slow_after", "createShipmentOrder")  # created, answer too late

    report = ship_ready_shipments(bcs_hub)

    assert report["outcome_unknown"] == 1 and report["booked"] == 1
    [letter] = bcs_hub.ledger.dead_letters(flow="logistics_shipments")
    assert letter.error_class == "OutcomeUnknownError"
    assert "CS0001" in letter.reason and "reconcile" in letter.reason.lower()

    erp.tick()
    erp.shipments["1"] = erp.shipments["1"].model_copy(update={"updated_at": erp.now})
    again = ship_ready_shipments(bcs_hub)
    assert again["skipped_dead"] == 1
    assert carrier_server.stats()["created_by_reference"] == {"CS0001": 1, "CS0002": 1}


def test_tracking_follows_the_carrier_until_delivered(
    bcs_hub: Hub, erp: FakeErp, carrier_server: SandboxCarrier
) -> None:
    for n in (1, 2):
        add_shipment(erp, n)
    ship_ready_shipments(bcs_hub)
    first, second = (erp.shipments[i].tracking_number or "" for i in ("1", "2"))
    carrier_server.advance(first, steps=2)

    report = track_open_shipments(bcs_hub)
    assert report["open"] == 2 and report["changed"] == 2 and report["not_found"] == 0
    assert tracking_status(bcs_hub.ledger, "1")["status"] == "in_transit"
    assert tracking_status(bcs_hub.ledger, "2")["status"] == "created"  # booked, no scan yet

    unchanged = track_open_shipments(bcs_hub)
    assert unchanged["changed"] == 0 and unchanged["unchanged"] == 2

    carrier_server.advance(first, steps=10)
    carrier_server.advance(second, steps=1)
    delivered = track_open_shipments(bcs_hub)
    assert delivered["changed"] == 2
    assert delivered_shipments(bcs_hub.ledger) == {"1": first}
    assert tracking_status(bcs_hub.ledger, "1")["last_event"] == "OK"
    assert track_open_shipments(bcs_hub)["open"] == 1  # delivered ones are no longer asked


@pytest.mark.parametrize("lookup", [False, True])
def test_flow_wired_from_connections_and_config_file(
    tmp_path: Path, carrier_server: SandboxCarrier, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture, lookup: bool,
) -> None:  # fmt: skip
    """run_flow builds the port from AIRFLOW_CONN_* and config/carrier.yaml (nothing injected);
    ``extra.lookup_path`` names the endpoint's look-up by our reference (the sandbox has one)."""
    creds = carrier_server.credentials
    host, port = carrier_server.url.removeprefix("http://").split(":")
    contracts = Path(bcs_settings(carrier_server).wsdl).parent
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    project = Path(__file__).resolve().parents[2] / "config" / "carrier.yaml"
    text = project.read_text(encoding="utf-8").replace(
        "  bcs: null", f"  bcs: {contracts / 'geschaeftskundenversand-api-3.3.2.wsdl'}"
    )
    (config_dir / "carrier.yaml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("HUB_CONFIG_DIR", str(config_dir))
    monkeypatch.setenv(
        "AIRFLOW_CONN_HUB_CARRIER_BCS",
        connection_json(
            conn_type="http", host=host, port=int(port), login=creds.bcs_app_id,
            password=creds.bcs_app_token, schema="bcs",
            extra={"user": creds.bcs_user, "signature": creds.bcs_signature,
                   **({"lookup_path": "shipments"} if lookup else {})},
        ),
    )  # fmt: skip
    erp = FakeErp()
    erp.shipments["7"] = make_shipment("CS0007").model_copy(update={"updated_at": erp.now})
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    ledger.upgrade()
    hub = Hub(ledger, erp=erp, home=tmp_path / "home")
    caplog.set_level("DEBUG")
    try:
        report = run_flow("logistics_shipments", hub=hub)
        assert hub.carrier.can_look_up is lookup
        if lookup:
            found = hub.carrier.find_by_reference("CS0007")
            [held] = carrier_server.state.shipments_json("CS0007")
            assert found is not None and found.shipment_number == held["number"]
    finally:
        hub.close()
    assert report["booked"] == 1, report
    assert carrier_server.stats()["created_by_reference"] == {"CS0007": 1}
    assert (tmp_path / "home" / "labels" / "CS0007.pdf").read_bytes().startswith(b"%PDF-")
    json.dumps(report)
    for secret in (creds.bcs_app_token, creds.bcs_signature):
        assert secret not in caplog.text
