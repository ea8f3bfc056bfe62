"""The sandbox carrier itself, over raw HTTP: contract checks, WSDLs, auth, admin API."""

from __future__ import annotations

import base64

import pytest
import requests
from lxml import etree

from sandbox.carrier import SandboxCarrier
from sandbox.carrier_soap import (
    BCS_NS,
    CIS_NS,
    SOAP_ENV,
    TrackEvent,
    TrackInfo,
    express_ship_response,
    express_track_response,
)

pytestmark = pytest.mark.integration


def _bcs_post(server: SandboxCarrier, body: str, *, auth: bool = True) -> requests.Response:
    creds = server.credentials
    envelope = f"""<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" xmlns:cis="{CIS_NS}"
        xmlns:bcs="{BCS_NS}"><soapenv:Header><cis:Authentification>
        <cis:user>{creds.bcs_user}</cis:user><cis:signature>{creds.bcs_signature}</cis:signature>
        </cis:Authentification></soapenv:Header><soapenv:Body>{body}</soapenv:Body>
        </soapenv:Envelope>"""
    return requests.post(
        server.bcs_url,
        data=envelope.encode(),
        auth=(creds.bcs_app_id, creds.bcs_app_token) if auth else None,
        headers={"Content-Type": "text/xml", "SOAPAction": "urn:createShipmentOrder"},
        timeout=5,
    )


def _fault_string(response: requests.Response) -> str:
    root = etree.fromstring(response.content)
    return root.findtext(f".//{{{SOAP_ENV}}}Fault/faultstring") or ""


def test_request_violating_the_xsd_is_refused_with_the_violation(carrier_server: SandboxCarrier):
    body = (
        "<bcs:CreateShipmentOrderRequest><bcs:Version><majorRelease>3</majorRelease>"
        "<minorRelease>3</minorRelease></bcs:Version><ShipmentOrder><sequenceNumber>1"
        "</sequenceNumber><Shipment><Bogus/></Shipment></ShipmentOrder>"
        "</bcs:CreateShipmentOrderRequest>"
    )
    response = _bcs_post(carrier_server, body)
    assert response.status_code == 500
    message = _fault_string(response)
    assert "contract XSD" in message and "Bogus" in message
    assert carrier_server.stats()["shipments"] == 0


def test_dtd_in_request_is_refused(carrier_server: SandboxCarrier):
    response = requests.post(
        carrier_server.bcs_url,
        data=b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>',
        auth=(carrier_server.credentials.bcs_app_id, carrier_server.credentials.bcs_app_token),
        timeout=5,
    )
    assert response.status_code == 500 and "DTD" in _fault_string(response)


def test_bcs_without_http_basic_is_401(carrier_server: SandboxCarrier):
    response = _bcs_post(
        carrier_server,
        "<bcs:Version><majorRelease>3</majorRelease><minorRelease>3</minorRelease></bcs:Version>",
        auth=False,
    )
    assert response.status_code == 401
    assert "Basic" in response.headers["WWW-Authenticate"]


def test_express_without_ws_security_is_refused(carrier_server: SandboxCarrier):
    body = (
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}"><soapenv:Body>'
        '<t:trackShipmentRequest xmlns:t="http://scxgxtt.phx-dc.dhl.com/glDHLExpressTrack/'
        'providers/services/trackShipment"/></soapenv:Body></soapenv:Envelope>'
    )
    response = requests.post(carrier_server.express_track_url, data=body.encode(), timeout=5)
    assert response.status_code == 500
    assert "security token" in _fault_string(response)


def test_wsdls_are_served_with_their_address_rewritten(carrier_server: SandboxCarrier):
    for path, endpoint in [
        ("/bcs?wsdl", carrier_server.bcs_url),
        ("/express/ship?wsdl", carrier_server.express_ship_url),
        ("/express/track?wsdl", carrier_server.express_track_url),
    ]:
        response = requests.get(carrier_server.url + path, timeout=5)
        assert response.status_code == 200
        root = etree.fromstring(response.content)
        locations = [
            a.get("location") for a in root.iter("{http://schemas.xmlsoap.org/wsdl/soap/}address")
        ]
        assert locations and set(locations) == {endpoint}


def test_admin_api_stats_faults_and_advance(carrier_server: SandboxCarrier):
    base = f"{carrier_server.url}/__sandbox"
    assert requests.post(f"{base}/fault", json={"kind": "http_503"}, timeout=5).ok
    assert requests.post(f"{base}/fault", json={"kind": "nonsense"}, timeout=5).status_code == 400
    version = (
        "<bcs:Version><majorRelease>3</majorRelease><minorRelease>3</minorRelease></bcs:Version>"
    )
    assert _bcs_post(carrier_server, version).status_code == 503
    assert _bcs_post(carrier_server, version).status_code == 200
    shipment = carrier_server.state.create("express", "CS9", "53113")
    moved = requests.post(f"{base}/advance", json={"number": shipment.awb, "steps": 2}, timeout=5)
    assert moved.json()["events"] == ["PU", "PL"]
    stats = requests.get(f"{base}/stats", timeout=5).json()
    assert stats["faults"] == {"http_503": 1}
    assert stats["created_by_reference"] == {"CS9": 1}
    listed = requests.get(f"{base}/shipments", params={"reference": "CS9"}, timeout=5).json()
    assert [s["awb"] for s in listed] == [shipment.awb]


def test_sandbox_answers_match_the_contract(carrier_server: SandboxCarrier):
    contracts = carrier_server.contracts
    ship = etree.fromstring(
        express_ship_response("2024-05-02T10:00:00", "x" * 30, "1234567890", "JVBERi0=")
    )
    contracts.validate(contracts.express_ship_schema, ship.find(f".//{{{SOAP_ENV}}}Body")[0])
    event = TrackEvent("2024-05-02", "10:00:00", "PU", "Picked up", "HAM", "HAMBURG")
    track = etree.fromstring(
        express_track_response(
            "2024-05-02T10:00:00",
            "x" * 30,
            [TrackInfo("1234567890", "1234567890", "2222", "CS1", "2024-05-02T09:00:00", (event,))],
        )
    )
    contracts.validate(contracts.express_track_schema, track.find(f".//{{{SOAP_ENV}}}Body")[0])


def test_label_is_a_valid_pdf(carrier_server: SandboxCarrier):
    from sandbox.carrier_soap import b64_pdf

    pdf = base64.b64decode(b64_pdf("222200000000000001"))
    startxref = int(pdf.rsplit(b"startxref\n", 1)[1].split(b"\n", 1)[0])
    assert pdf[startxref:].startswith(b"xref")
    assert b"222200000000000001" in pdf
