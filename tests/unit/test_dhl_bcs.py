"""Pure mapping between canonical shipments and DHL BCS 3.3.2 payloads."""

from __future__ import annotations

import base64
from datetime import date
from decimal import Decimal

import pytest

from schemas.errors import PermanentError
from schemas.model import Address, Package
from tests.fixtures.carrier import BCS_PROFILE, make_shipment
from transforms import dhl_bcs
from transforms.dhl_results import CarrierLabel, CarrierRejection, split_street

PDF = b"%PDF-1.4\n%%EOF\n"


@pytest.mark.parametrize(
    ("street", "expected"),
    [
        ("Sträßchensweg 10", ("Sträßchensweg", "10")),
        ("Hafenstrasse 5a", ("Hafenstrasse", "5a")),
        ("Am Markt 12-14", ("Am Markt", "12-14")),
        ("Straße des 17. Juni 135", ("Straße des 17. Juni", "135")),
        ("Marktplatz", ("Marktplatz", "")),
    ],
)
def test_split_street(street: str, expected: tuple[str, str]):
    assert split_street(street) == expected


def test_create_request_maps_address_weight_and_reference():
    request = dhl_bcs.create_request(make_shipment("CS0042"), BCS_PROFILE, date(2024, 5, 2))
    order = request["ShipmentOrder"][0]
    details = order["Shipment"]["ShipmentDetails"]
    receiver = order["Shipment"]["Receiver"]
    assert order["sequenceNumber"] == "CS0042" == details["customerReference"]
    assert details["shipmentDate"] == "2024-05-02"
    assert details["ShipmentItem"] == {"weightInKG": "2.5"}
    assert details["accountNumber"] == "22222222220101" and details["product"] == "V01PAK"
    assert receiver["name1"] == "ACME AG"
    assert receiver["Address"]["streetName"] == "Sträßchensweg"
    assert receiver["Address"]["streetNumber"] == "10"
    assert receiver["Address"]["Origin"] == {"countryISOCode": "DE"}
    assert request["labelResponseType"] == "B64"


def test_weight_from_packages_then_profile_default():
    from_packages = make_shipment(weight_kg=None).model_copy(
        update={"packages": (Package(weight_kg=Decimal("1.2")), Package(weight_kg=Decimal("0.3")))}
    )
    request = dhl_bcs.create_request(from_packages, BCS_PROFILE, date(2024, 5, 2))
    item = request["ShipmentOrder"][0]["Shipment"]["ShipmentDetails"]["ShipmentItem"]
    assert item == {"weightInKG": "1.5"}
    default = make_shipment(weight_kg=None)
    request = dhl_bcs.create_request(default, BCS_PROFILE, date(2024, 5, 2))
    item = request["ShipmentOrder"][0]["Shipment"]["ShipmentDetails"]["ShipmentItem"]
    assert item == {"weightInKG": "1"}


def test_missing_address_fields_are_named():
    shipment = make_shipment("CS7").model_copy(
        update={"delivery_address": Address(name="X", street="Weg 1", country="DE")}
    )
    with pytest.raises(PermanentError) as info:
        dhl_bcs.create_request(shipment, BCS_PROFILE, date(2024, 5, 2))
    assert "CS7" in str(info.value)
    assert "delivery_address.postal_code" in str(info.value)
    assert "delivery_address.city" in str(info.value)


def test_overweight_is_refused_before_calling():
    with pytest.raises(PermanentError, match="31.5"):
        dhl_bcs.create_request(make_shipment(weight_kg=Decimal("40")), BCS_PROFILE, date.today())


def _state(sequence: str, code: int, number: str | None, messages: list[str]) -> dict:
    return {
        "sequenceNumber": sequence,
        "shipmentNumber": number,
        "LabelData": {
            "Status": {"statusCode": code, "statusText": "x", "statusMessage": messages},
            "labelData": base64.b64encode(PDF).decode() if number else None,
        },
    }


def test_parse_create_response_labels_and_rejections():
    response = {
        "Status": {"statusCode": 1101, "statusText": "Hard validation error occured."},
        "CreationState": [
            _state("CS1", 0, "222201010035507576", ["ok"]),
            _state(
                "CS2",
                1101,
                None,
                [
                    "In der Sendung trat mindestens ein harter Fehler auf.",
                    "Die angegebene Straße kann nicht gefunden werden.",
                ],
            ),
        ],
    }
    outcome = dhl_bcs.parse_create_response(response, ["CS1", "CS2"])
    label, rejection = outcome.results
    assert isinstance(label, CarrierLabel) and label.label_pdf == PDF
    assert label.shipment_number == "222201010035507576" and label.reference == "CS1"
    assert isinstance(rejection, CarrierRejection) and rejection.status_code == "1101"
    assert "Straße kann nicht gefunden" in rejection.message


def test_label_that_is_not_a_pdf_is_refused():
    with pytest.raises(PermanentError, match="not a PDF"):
        dhl_bcs.decode_label(base64.b64encode(b"<html>").decode(), reference="CS1")
    with pytest.raises(PermanentError, match="base64"):
        dhl_bcs.decode_label("***", reference="CS1")


def test_delete_request_and_response():
    assert dhl_bcs.delete_request(["1", "2"])["shipmentNumber"] == ["1", "2"]
    with pytest.raises(ValueError):
        dhl_bcs.delete_request([str(n) for n in range(31)])
    outcome = dhl_bcs.parse_delete_response(
        {
            "Status": {"statusCode": 2000},
            "DeletionState": [
                {"shipmentNumber": "1", "Status": {"statusCode": 0, "statusText": "ok"}},
                {"shipmentNumber": "2", "Status": {"statusCode": 2000, "statusText": "Unknown"}},
            ],
        }
    )
    assert outcome.deleted == {"1": True, "2": False}
