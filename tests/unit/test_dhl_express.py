"""Pure mapping for MyDHL Express shipments and tracking, and carrier status codes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest

from tests.fixtures.carrier import EXPRESS_PROFILE, make_shipment
from transforms import dhl_express
from transforms.dhl_results import (
    CarrierLabel,
    CarrierRejection,
    TrackingEvent,
    overall_status,
    status_for_event,
)

NOW = datetime(2024, 5, 2, 14, 0, tzinfo=timezone(timedelta(hours=2)))
REF = "0123456789abcdef0123456789abcdef"


def test_ship_timestamp_format():
    assert dhl_express.ship_timestamp(NOW) == "2024-05-02T14:00:00GMT+02:00"
    west = datetime(2024, 1, 1, 9, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert dhl_express.ship_timestamp(west) == "2024-01-01T09:30:00GMT-05:00"
    with pytest.raises(ValueError):
        dhl_express.ship_timestamp(datetime(2024, 1, 1))


def test_create_request_maps_recipient_package_and_reference():
    request = dhl_express.create_request(
        make_shipment("CS0100"),
        EXPRESS_PROFILE,
        ship_time=NOW,
        message_time=NOW,
        message_reference=REF,
    )
    shipment = request["RequestedShipment"]
    recipient = shipment["Ship"]["Recipient"]
    package = shipment["Packages"]["RequestedPackages"][0]
    assert recipient["Address"] == {
        "StreetLines": "Sträßchensweg 10",
        "City": "Bonn",
        "PostalCode": "53113",
        "CountryCode": "DE",
    }
    assert recipient["Contact"]["PhoneNumber"] == EXPRESS_PROFILE.default_recipient_phone
    assert package["CustomerReferences"] == "CS0100"
    assert str(package["Weight"]) == "2.500"
    assert shipment["ShipmentInfo"]["Account"] == "123456789"
    assert request["Request"]["ServiceHeader"]["MessageReference"] == REF


def test_parse_create_response():
    ok = dhl_express.parse_create_response(
        {
            "Notification": [{"code": "0", "Message": "Successfully processed"}],
            "LabelImage": [{"LabelImageFormat": "PDF", "GraphicImage": b"%PDF-1.4 x"}],
            "ShipmentIdentificationNumber": "1234567890",
        },
        "CS1",
    )
    assert isinstance(ok, CarrierLabel) and ok.shipment_number == "1234567890"
    bad = dhl_express.parse_create_response(
        {"Notification": [{"code": "420505", "Message": "The destination location is invalid."}]},
        "CS2",
    )
    assert isinstance(bad, CarrierRejection) and bad.status_code == "420505"
    assert "destination" in bad.message


def test_track_request_splits_waybills_and_pieces():
    request = dhl_express.track_request(
        ["1234567890", "222201010035507576"], message_time=NOW, message_reference=REF
    )
    tracking = request["trackingRequest"]["TrackingRequest"]
    assert tracking["AWBNumber"] == {"ArrayOfAWBNumberItem": ["1234567890"]}
    assert tracking["LPNumber"] == {"ArrayOfTrackingPieceIDItem": ["222201010035507576"]}
    with pytest.raises(ValueError):
        dhl_express.track_request(["1234567890"], message_time=NOW, message_reference="short")


def _event(code: str, minute: int) -> dict:
    return {
        "Date": date(2024, 5, 2),
        "Time": time(10, minute),
        "ServiceEvent": {"EventCode": code, "Description": code},
        "ServiceArea": {"ServiceAreaCode": "BER", "Description": "BERLIN"},
    }


def test_parse_track_response_latest_event_wins_and_unknown_numbers():
    response = {
        "trackingResponse": {
            "TrackingResponse": {
                "AWBInfo": {
                    "ArrayOfAWBInfoItem": [
                        {
                            "AWBNumber": "1234567890",
                            "Status": {"ActionStatus": "Success"},
                            "ShipmentInfo": {
                                "ShipmentEvent": {
                                    "ArrayOfShipmentEventItem": [_event("OK", 30), _event("WC", 5)]
                                },
                                "ShipperReference": {"ReferenceID": "CS1"},
                            },
                            "Pieces": {
                                "PieceInfo": {
                                    "ArrayOfPieceInfoItem": [
                                        {"PieceDetails": {"LicensePlate": "JD0144"}}
                                    ]
                                }
                            },
                        },
                        {
                            "AWBNumber": "9999999999",
                            "Status": {"ActionStatus": "No Shipments Found"},
                        },
                    ]
                }
            }
        }
    }
    reports = dhl_express.parse_track_response(response, ["1234567890", "JD0144", "9999999999"])
    assert reports["1234567890"].status == "delivered"
    assert [e.code for e in reports["1234567890"].events] == ["WC", "OK"]
    assert reports["1234567890"].reference == "CS1"
    assert reports["JD0144"].status == "delivered"
    assert reports["9999999999"].found is False and reports["9999999999"].status == "unknown"


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("OK", "delivered"),
        ("WC", "out_for_delivery"),
        ("PU", "in_transit"),
        ("BA", "exception"),
        ("RT", "returned"),
        ("ZZ", "unknown"),
        ("ok", "delivered"),
    ],
)
def test_status_for_event(code: str, status: str):
    assert status_for_event(code) == status


def test_overall_status_ignores_unknown_codes_and_needs_events():
    at = datetime(2024, 5, 2, tzinfo=UTC)
    events = (
        TrackingEvent(
            code="PU", description=None, occurred_at=at, location=None, status="in_transit"
        ),
        TrackingEvent(
            code="ZZ",
            description=None,
            occurred_at=at + timedelta(hours=1),
            location=None,
            status="unknown",
        ),
    )
    assert overall_status(events) == "in_transit"
    assert overall_status(()) == "created"
