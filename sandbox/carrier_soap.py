"""Wire side of the sandbox carrier: contract files, XSD validation, SOAP envelopes and labels."""

from __future__ import annotations

import base64
import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import xmlschema
from lxml import etree

if TYPE_CHECKING:
    from xmlschema.aliases import SourceArgType

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
BCS_NS = "http://dhl.de/webservices/businesscustomershipping/3.0"
CIS_NS = "http://dhl.de/webservice/cisbase"
EXPRESS_REQ_NS = "http://scxgxtt.phx-dc.dhl.com/euExpressRateBook/ShipmentMsgRequest"
EXPRESS_RESP_NS = "http://scxgxtt.phx-dc.dhl.com/euExpressRateBook/ShipmentMsgResponse"
TRACK_NS = "http://scxgxtt.phx-dc.dhl.com/glDHLExpressTrack/providers/services/trackShipment"
DHL_NS = "http://www.dhl.com"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
XSD_NS = "http://www.w3.org/2001/XMLSchema"

BCS_DIR = "dhl-parcel-de-bcs-3.3.2"
EXPRESS_DIR = "dhl-express"
BCS_WSDL = "geschaeftskundenversand-api-3.3.2.wsdl"
BCS_XSD = "geschaeftskundenversand-api-3.3.2-schema-bcs_base.xsd"
BCS_CIS_XSD = "geschaeftskundenversand-api-3.3.2-schema-cis_base.xsd"
EXPRESS_SHIP_WSDL = "prod-expressRateBook.wsdl"
EXPRESS_TRACK_WSDL = "glDHLExpressTrack.wsdl"

# A hardened parser for what clients send us: no DTD, no entities, no network, no huge trees.
REQUEST_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, dtd_validation=False
)


def default_contracts_dir() -> Path:
    """``<project root>/../shared/contracts``: where the real DHL contracts live."""
    return Path(__file__).resolve().parents[2] / "shared" / "contracts"


def contracts_present() -> bool:
    """Whether the DHL contracts are there: without them the sandbox carrier cannot run."""
    return (default_contracts_dir() / BCS_DIR).is_dir()


class ContractError(ValueError):
    """A request that does not match the carrier's contract (XSD or SOAP structure)."""


def _wsdl_schema_sources(wsdl_path: Path) -> list[SourceArgType]:
    """The inline ``xsd:schema`` blocks of a WSDL as standalone documents (with inherited ns)."""
    root = etree.parse(str(wsdl_path), REQUEST_PARSER).getroot()
    sources: list[SourceArgType] = []
    for schema in root.iter(f"{{{XSD_NS}}}schema"):
        nsmap = {**root.nsmap, **schema.nsmap}
        standalone = etree.Element(schema.tag, nsmap=nsmap, attrib=dict(schema.attrib))
        for child in schema:
            standalone.append(copy.deepcopy(child))
        sources.append(etree.tostring(standalone).decode())
    return sources


_SCHEMAS: dict[tuple[str, str], xmlschema.XMLSchema] = {}
_SCHEMA_LOCK = threading.Lock()


@dataclass
class Contracts:
    """The DHL contract files, loaded lazily and once: WSDL texts, XSD validators, responses."""

    root: Path

    def __post_init__(self) -> None:
        if not (self.root / BCS_DIR / BCS_WSDL).is_file():
            raise FileNotFoundError(
                f"carrier sandbox: DHL contracts not found under {self.root}; "
                "expected the shared/ folder next to the project (see shared/SOURCES.md)"
            )

    def path(self, api: str, name: str) -> Path:
        """A contract file by api folder key (``bcs`` or ``express``) and file name."""
        folder = BCS_DIR if api == "bcs" else EXPRESS_DIR
        candidate = (self.root / folder / name).resolve()
        if candidate.parent != (self.root / folder).resolve() or not candidate.is_file():
            raise FileNotFoundError(name)
        return candidate

    def wsdl_text(self, api: str, name: str, address: str | None) -> bytes:
        """A WSDL (or XSD) as served, with every soap:address location pointing at us."""
        data = self.path(api, name).read_bytes()
        if address is None or not name.endswith(".wsdl"):
            return data
        root = etree.fromstring(data, REQUEST_PARSER)
        for addr in root.iter("{http://schemas.xmlsoap.org/wsdl/soap/}address"):
            addr.set("location", address)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    def _schema(self, name: str, build: Callable[[], xmlschema.XMLSchema]) -> xmlschema.XMLSchema:
        """Compiled once per process and contracts folder (seconds each; read-only after)."""
        key = (str(self.root), name)
        with _SCHEMA_LOCK:
            schema = _SCHEMAS.get(key)
            if schema is None:
                schema = _SCHEMAS[key] = build()
        return schema

    @property
    def bcs_schema(self) -> xmlschema.XMLSchema:
        return self._schema(
            "bcs", lambda: xmlschema.XMLSchema(str(self.path("bcs", BCS_XSD)), validation="lax")
        )

    @property
    def express_ship_schema(self) -> xmlschema.XMLSchema:
        return self._express_schema("ship", EXPRESS_SHIP_WSDL)

    @property
    def express_track_schema(self) -> xmlschema.XMLSchema:
        return self._express_schema("track", EXPRESS_TRACK_WSDL)

    def _express_schema(self, service: str, wsdl: str) -> xmlschema.XMLSchema:
        """The schema of an Express service, from the types of its WSDL (built once)."""
        return self._schema(
            f"express/{service}",
            lambda: xmlschema.XMLSchema(_wsdl_schema_sources(self.path("express", wsdl))),
        )

    def response(self, name: str) -> etree._Element:
        """A fresh copy of a real BCS response envelope from ``responses/``."""
        return etree.fromstring(
            (self.root / BCS_DIR / "responses" / name).read_bytes(), REQUEST_PARSER
        )

    def validate(self, schema: xmlschema.XMLSchema, element: etree._Element) -> None:
        """Raise ContractError naming the first violation of ``element`` against ``schema``."""
        for error in schema.iter_errors(element):
            path = getattr(error, "path", None) or "?"
            reason = getattr(error, "reason", None) or str(error).splitlines()[0]
            raise ContractError(f"request violates the contract XSD at {path}: {reason}")


def parse_envelope(body: bytes) -> tuple[etree._Element | None, etree._Element]:
    """(Header or None, first Body child) of a SOAP 1.1 request; ContractError otherwise."""
    if b"<!DOCTYPE" in body[:2048] or b"<!ENTITY" in body:
        raise ContractError("request carries a DTD or entity declarations: refused")
    try:
        root = etree.fromstring(body, REQUEST_PARSER)
    except etree.XMLSyntaxError as exc:
        raise ContractError(f"request is not well-formed XML: {exc}") from exc
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise ContractError(f"root element is {root.tag}, expected a SOAP 1.1 Envelope")
    header = root.find(f"{{{SOAP_ENV}}}Header")
    soap_body = root.find(f"{{{SOAP_ENV}}}Body")
    if soap_body is None or len(soap_body) == 0:
        raise ContractError("SOAP Body is missing or empty")
    return header, soap_body[0]


def envelope(*children: etree._Element, prefix: str = "soapenv") -> bytes:
    """Wrap body children in a SOAP 1.1 envelope (empty Header, like the real service)."""
    root = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={prefix: SOAP_ENV})
    etree.SubElement(root, f"{{{SOAP_ENV}}}Header")
    body = etree.SubElement(root, f"{{{SOAP_ENV}}}Body")
    for child in children:
        body.append(child)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def soap_fault(code: str, message: str, detail: str | None = None) -> bytes:
    """A SOAP 1.1 Fault envelope (``code`` like ``soapenv:Client``)."""
    root = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soapenv": SOAP_ENV, "wsse": WSSE_NS})
    body = etree.SubElement(root, f"{{{SOAP_ENV}}}Body")
    fault = etree.SubElement(body, f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(fault, "faultcode").text = code
    etree.SubElement(fault, "faultstring").text = message
    if detail:
        etree.SubElement(etree.SubElement(fault, "detail"), "message").text = detail
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def tiny_pdf(text: str) -> bytes:
    """A minimal valid one-page PDF (correct xref offsets) showing ``text``."""
    safe = "".join(c for c in text if c.isalnum() or c in " -_:.")[:80]
    stream = f"BT /F1 18 Tf 20 100 Td (DHL {safe}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 298 210] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


def b64_pdf(text: str) -> str:
    """The label as the carrier sends it: base64 of a PDF."""
    return base64.b64encode(tiny_pdf(text)).decode()


# Malicious answers the connector must refuse without expanding anything.
ENTITY_BOMB = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(
        f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'.encode()
        for i in range(1, 10)
    )
    + b"]>\n"
    + f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}"><soapenv:Body>'.encode()
    + b"<x>&lol9;</x></soapenv:Body></soapenv:Envelope>\n"
)
EXTERNAL_ENTITY = (
    b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    + f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}"><soapenv:Body>'.encode()
    + b"<x>&xxe;</x></soapenv:Body></soapenv:Envelope>\n"
)
MALFORMED = (
    f'<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="{SOAP_ENV}"><soapenv:Body>'
    "<bcs:CreateShipmentOrderResponse><Status><statusCode>0</statusCode></Sta"
).encode()


def _sub(
    parent: etree._Element, tag: str, text: str | None = None, **attrib: str
) -> etree._Element:
    element = etree.SubElement(parent, tag, attrib)
    if text is not None:
        element.text = text
    return element


@dataclass(frozen=True)
class BcsCreation:
    """One ShipmentOrder's outcome: created (number set) or rejected (message set)."""

    sequence_number: str
    shipment_number: str | None
    label_b64: str | None


def bcs_create_response(contracts: Contracts, creations: list[BcsCreation]) -> bytes:
    """CreateShipmentOrderResponse built from the real success/error envelopes in responses/."""
    ok = contracts.response("createshipment_singleShipmentSuccess.xml")
    bad = contracts.response("createshipment_singleShipmentError.xml")
    ok_resp = ok.find(f".//{{{BCS_NS}}}CreateShipmentOrderResponse")
    bad_resp = bad.find(f".//{{{BCS_NS}}}CreateShipmentOrderResponse")
    ok_state = ok_resp.find("CreationState")
    bad_state = bad_resp.find("CreationState")
    ok_resp.remove(ok_state)
    if any(c.shipment_number is None for c in creations):
        ok_resp.replace(ok_resp.find("Status"), copy.deepcopy(bad_resp.find("Status")))
    for creation in creations:
        if creation.shipment_number is None:
            state = copy.deepcopy(bad_state)
        else:
            state = copy.deepcopy(ok_state)
            state.find("shipmentNumber").text = creation.shipment_number
            state.find("LabelData/labelData").text = creation.label_b64
        state.find("sequenceNumber").text = creation.sequence_number
        ok_resp.append(state)
    return etree.tostring(ok, xml_declaration=True, encoding="UTF-8")


def bcs_password_expired(contracts: Contracts) -> bytes:
    """The real 'Password expired' answer (statusCode 112), unchanged."""
    return etree.tostring(
        contracts.response("auth_passwordExpired.xml"), xml_declaration=True, encoding="UTF-8"
    )


def bcs_version_response(contracts: Contracts) -> bytes:
    """The real GetVersionResponse, unchanged."""
    return etree.tostring(
        contracts.response("getversion_getVersionSuccess.xml"),
        xml_declaration=True,
        encoding="UTF-8",
    )


def bcs_delete_response(results: list[tuple[str, bool]]) -> bytes:
    """DeleteShipmentOrderResponse: one DeletionState per number, 2000 when it is unknown."""
    resp = etree.Element(f"{{{BCS_NS}}}DeleteShipmentOrderResponse", nsmap={"bcs": BCS_NS})
    version = _sub(resp, f"{{{BCS_NS}}}Version")
    _sub(version, "majorRelease", "3")
    _sub(version, "minorRelease", "3")
    all_ok = all(ok for _, ok in results)
    status = _sub(resp, "Status")
    _sub(status, "statusCode", "0" if all_ok else "2000")
    _sub(status, "statusText", "ok" if all_ok else "Unknown shipment number.")
    for number, ok in results:
        state = _sub(resp, "DeletionState")
        _sub(state, f"{{{CIS_NS}}}shipmentNumber", number)
        inner = _sub(state, "Status")
        _sub(inner, "statusCode", "0" if ok else "2000")
        _sub(inner, "statusText", "ok" if ok else "Unknown shipment number.")
    return envelope(resp, prefix="soap")


def express_ship_response(
    message_time: str,
    message_reference: str | None,
    awb: str | None,
    label_b64: str | None,
    notification: tuple[str, str] = ("0", "Successfully processed"),
) -> bytes:
    """ShipmentResponse (MyDHL Express createShipmentRequest), success or error notification."""
    resp = etree.Element(
        f"{{{EXPRESS_RESP_NS}}}ShipmentResponse", nsmap={"shipresp": EXPRESS_RESP_NS}
    )
    header = _sub(_sub(resp, "Response"), "ServiceHeader")
    _sub(header, "MessageTime", message_time)
    if message_reference:
        _sub(header, "MessageReference", message_reference)
    code, message = notification
    _sub(_sub(resp, "Notification", code=code), "Message", message)
    if awb is not None:
        _sub(
            _sub(_sub(resp, "PackagesResult"), "PackageResult", number="1"),
            "TrackingNumber",
            f"JD01{awb}0001",
        )
        image = _sub(resp, "LabelImage")
        _sub(image, "LabelImageFormat", "PDF")
        _sub(image, "GraphicImage", label_b64)
        _sub(resp, "ShipmentIdentificationNumber", awb)
    return envelope(resp)


@dataclass(frozen=True)
class TrackEvent:
    """A checkpoint as the sandbox stores it."""

    date: str
    time: str
    code: str
    description: str
    area_code: str
    area: str


@dataclass(frozen=True)
class TrackInfo:
    """What the tracking answer says about one queried number (None shipment = not found)."""

    queried: str
    awb: str | None
    license_plate: str | None
    shipper_reference: str | None
    shipment_date: str | None
    events: tuple[TrackEvent, ...]


def express_track_response(
    message_time: str, message_reference: str, infos: list[TrackInfo]
) -> bytes:
    """trackShipmentRequestResponse with one AWBInfo per queried number."""
    outer = etree.Element(
        f"{{{TRACK_NS}}}trackShipmentRequestResponse", nsmap={"trackShipment": TRACK_NS}
    )
    tracking_response = etree.SubElement(
        _sub(outer, "trackingResponse"), f"{{{DHL_NS}}}TrackingResponse", nsmap={"ns": DHL_NS}
    )
    header = _sub(_sub(tracking_response, "Response"), "ServiceHeader")
    _sub(header, "MessageTime", message_time)
    _sub(header, "MessageReference", message_reference)
    awb_infos = _sub(tracking_response, "AWBInfo")
    for info in infos:
        item = _sub(awb_infos, "ArrayOfAWBInfoItem")
        _sub(item, "AWBNumber", info.awb or info.queried[:11].rjust(10, "0"))
        status = _sub(item, "Status")
        if info.awb is None:
            _sub(status, "ActionStatus", "No Shipments Found")
            continue
        _sub(status, "ActionStatus", "Success")
        shipment = _sub(item, "ShipmentInfo")
        _sub(_sub(shipment, "OriginServiceArea"), "ServiceAreaCode", "HAM")
        _sub(_sub(shipment, "DestinationServiceArea"), "ServiceAreaCode", "BER")
        _sub(shipment, "ShipperName", "Sandbox Shipper")
        _sub(shipment, "ConsigneeName", "Sandbox Consignee")
        _sub(shipment, "ShipmentDate", info.shipment_date or message_time)
        if info.events:
            events = _sub(shipment, "ShipmentEvent")
            for event in info.events:
                row = _sub(events, "ArrayOfShipmentEventItem")
                _sub(row, "Date", event.date)
                _sub(row, "Time", event.time)
                service_event = _sub(row, "ServiceEvent")
                _sub(service_event, "EventCode", event.code)
                _sub(service_event, "Description", event.description)
                area = _sub(row, "ServiceArea")
                _sub(area, "ServiceAreaCode", event.area_code)
                _sub(area, "Description", event.area)
        if info.shipper_reference:
            _sub(_sub(shipment, "ShipperReference"), "ReferenceID", info.shipper_reference[:35])
        if info.license_plate:
            pieces = _sub(_sub(item, "Pieces"), "PieceInfo")
            details = _sub(_sub(pieces, "ArrayOfPieceInfoItem"), "PieceDetails")
            _sub(details, "AWBNumber", info.awb)
            _sub(details, "LicensePlate", info.license_plate)
    return envelope(outer)
