"""Sandbox DHL carrier: a real loopback SOAP server (BCS 3.3.2 + MyDHL Express) with faults.

Serves the real WSDLs (service address rewritten to itself) under ``/wsdl/{bcs,express}/``,
answers BCS at ``/bcs`` (createShipmentOrder, deleteShipmentOrder, getVersion) and MyDHL
Express at ``/express/ship`` (createShipmentRequest) and ``/express/track``
(trackShipmentRequest). Every request body is validated against the contract XSDs with
``xmlschema`` (lax for BCS, whose schema lxml cannot compile); a violation is answered with a
``soapenv:Client`` fault naming it. Auth: BCS wants HTTP Basic (application id/token) plus the
``cis:Authentification`` SOAP header (user/signature); Express wants a WS-Security
UsernameToken (text or digest password).

State: created shipments are remembered; tracking returns per-shipment checkpoints that the
admin API advances. Admin API (JSON) under ``/__sandbox/``: ``GET stats``, ``GET shipments
[?reference=R]``, ``POST advance {"number", "event"?, "steps"?}`` (or ``{"all": true}``),
``POST fault {"kind", "operation"?, "count"?}``, ``POST reject {"postcode"}``,
``POST password-expired {"expired"}``, ``POST reset``. ``GET /shipments?reference=R&api=A``
is the sandbox's look-up by our reference (HTTP Basic with either API's credentials; faults
of operation ``lookup`` apply): DHL's own APIs have no such call.

Faults (random with ``fault_rate``/``seed`` among ``fault_kinds``, or forced per request):
``soap_fault`` (soapenv:Server, nothing created), ``http_500`` / ``http_503`` (nothing
created; 503 carries Retry-After), ``slow_before`` (waits ``slow_seconds`` then answers 503,
nothing created), ``slow_after`` (creates, then waits: outcome unknown to a client that gave
up), ``malformed`` / ``truncated`` (created, answer broken), ``bomb`` (entity expansion),
``external_entity`` (XXE), ``reset`` (connection closed without an answer, nothing created),
``html_page`` (200 with an HTML page, as a proxy in front of the carrier would: nothing done).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lxml import etree

from sandbox.carrier_auth import AuthChecks, Reply, text_at
from sandbox.carrier_soap import (
    BCS_CIS_XSD,
    BCS_NS,
    BCS_WSDL,
    BCS_XSD,
    CIS_NS,
    DHL_NS,
    ENTITY_BOMB,
    EXPRESS_REQ_NS,
    EXPRESS_SHIP_WSDL,
    EXPRESS_TRACK_WSDL,
    EXTERNAL_ENTITY,
    MALFORMED,
    TRACK_NS,
    BcsCreation,
    ContractError,
    Contracts,
    TrackInfo,
    b64_pdf,
    bcs_create_response,
    bcs_delete_response,
    bcs_version_response,
    default_contracts_dir,
    express_ship_response,
    express_track_response,
    parse_envelope,
    soap_fault,
)
from sandbox.carrier_state import (
    DEFAULT_RANDOM_FAULTS,
    EVENT_SCRIPT,
    EXTRA_EVENTS,
    FAULT_KINDS,
    PRE_FAULTS,
    CarrierCredentials,
    CarrierState,
    SandboxShipment,
)
from sandbox.server import LoopbackServer, ServerThread

__all__ = [
    "DEFAULT_RANDOM_FAULTS",
    "EVENT_SCRIPT",
    "EXTRA_EVENTS",
    "FAULT_KINDS",
    "CarrierCredentials",
    "CarrierState",
    "SandboxCarrier",
    "SandboxShipment",
    "serve",
]

log = logging.getLogger(__name__)

MAX_BODY = 5 * 1024 * 1024
OPERATIONS = {
    f"{{{BCS_NS}}}CreateShipmentOrderRequest": ("bcs", "createShipmentOrder"),
    f"{{{BCS_NS}}}DeleteShipmentOrderRequest": ("bcs", "deleteShipmentOrder"),
    f"{{{BCS_NS}}}Version": ("bcs", "getVersion"),
    f"{{{EXPRESS_REQ_NS}}}ShipmentRequest": ("express/ship", "createShipmentRequest"),
    f"{{{TRACK_NS}}}trackShipmentRequest": ("express/track", "trackShipmentRequest"),
}
CREATE_OPERATIONS = frozenset({"createShipmentOrder", "createShipmentRequest"})


def _local_text(element: etree._Element | None, *names: str) -> str | None:
    """Text at a path of local names, whatever namespaces the contract puts on each step."""
    if element is None:
        return None
    xpath = "/".join(f"*[local-name()='{name}']" for name in names)
    found = element.xpath(xpath)
    return found[0].text.strip() if found and found[0].text else None


class CarrierApp(AuthChecks):
    """The request logic, independent of the HTTP plumbing."""

    def __init__(
        self,
        credentials: CarrierCredentials,
        contracts: Contracts,
        state: CarrierState,
        slow_seconds: float,
    ) -> None:
        self.credentials = credentials
        self.contracts = contracts
        self.state = state
        self.slow_seconds = slow_seconds
        self.stopping = threading.Event()
        self.base_url = ""

    # --- SOAP ------------------------------------------------------------------------------
    def soap(self, path: str, headers: Any, body: bytes) -> tuple[int, bytes, dict[str, str], str]:
        """(status, body, headers, post-fault kind or '') for a SOAP POST."""
        try:
            soap_header, request = parse_envelope(body)
        except ContractError as exc:
            raise Reply(500, soap_fault("soapenv:Client", str(exc))) from exc
        endpoint, operation = OPERATIONS.get(request.tag, (None, None))
        if operation is None or endpoint != path.strip("/"):
            raise Reply(
                500,
                soap_fault("soapenv:Client", f"operation {request.tag} is not served at {path}"),
            )
        fault = self.state.pick_fault(operation)
        if fault in PRE_FAULTS:
            self._pre_fault(fault)
        if endpoint == "bcs":
            self._check_bcs_auth(headers, soap_header, operation)
        else:
            self._check_wsse(soap_header)
        self._validate(endpoint, request)
        if endpoint == "bcs":
            reply = self._bcs(operation, request)
        elif operation == "createShipmentRequest":
            reply = self._express_ship(request)
        else:
            reply = self._express_track(request)
        return 200, reply, {}, fault or ""

    def _pre_fault(self, kind: str) -> None:
        if kind == "soap_fault":
            raise Reply(
                500, soap_fault("soapenv:Server", "Internal error, please try again later.")
            )
        if kind == "http_500":
            raise Reply(500, b"<html><body>500 Internal Server Error</body></html>")
        if kind == "http_503":
            raise Reply(503, b"", {"Retry-After": "1"})
        if kind == "slow_before":
            self.stopping.wait(self.slow_seconds)
            raise Reply(503, b"", {"Retry-After": "1"})
        if kind == "reset":
            raise Reply(0, b"")
        if kind == "html_page":  # a proxy or portal answering for the carrier: nothing done
            raise Reply(200, b"<html><body><h1>Service temporarily unavailable</h1></body></html>")

    # --- look-up by our reference (the sandbox's stand-in; DHL's APIs have none) ----------
    def lookup(self, headers: Any, query: dict[str, list[str]]) -> dict[str, Any]:
        """``GET /shipments[?reference=R][&api=bcs|express]``: our shipments, with labels."""
        fault = self.state.pick_fault("lookup")
        if fault in PRE_FAULTS:
            self._pre_fault(fault)
        self.check_basic(headers)
        reference = query["reference"][0] if query.get("reference") else None
        api = query["api"][0] if query.get("api") else None
        rows = self.state.shipments_json(reference, api)
        if reference is not None:
            for row in rows:
                number = row["number"] if row["api"] == "bcs" else row["awb"]
                row["label_pdf_base64"] = b64_pdf(number)
        return {"shipments": rows}

    def _bcs(self, operation: str, request: etree._Element) -> bytes:
        if operation == "getVersion":
            return bcs_version_response(self.contracts)
        if operation == "deleteShipmentOrder":
            numbers = [n.text or "" for n in request.iter(f"{{{CIS_NS}}}shipmentNumber")]
            return bcs_delete_response([(n, self.state.delete(n)) for n in numbers])
        creations = []
        for order in request.findall("ShipmentOrder"):
            sequence = text_at(order, "sequenceNumber") or "0"
            reference = _local_text(order, "Shipment", "ShipmentDetails", "customerReference")
            postcode = _local_text(order, "Shipment", "Receiver", "Address", "zip")
            if postcode is not None and postcode in self.state.reject_postcodes:
                with self.state.lock:
                    self.state.rejected += 1
                creations.append(BcsCreation(sequence, None, None))
                continue
            shipment = self.state.create("bcs", reference, postcode)
            creations.append(BcsCreation(sequence, shipment.number, b64_pdf(shipment.number)))
        return bcs_create_response(self.contracts, creations)

    def _express_ship(self, request: etree._Element) -> bytes:
        header = request.find("Request/ServiceHeader")
        now = datetime.now(UTC).replace(microsecond=0).isoformat()
        message_reference = text_at(header, "MessageReference")
        shipment_el = request.find("RequestedShipment")
        reference = text_at(shipment_el, "Packages/RequestedPackages/CustomerReferences")
        postcode = text_at(shipment_el, "Ship/Recipient/Address/PostalCode")
        if postcode is not None and postcode in self.state.reject_postcodes:
            with self.state.lock:
                self.state.rejected += 1
            return express_ship_response(
                now,
                message_reference,
                None,
                None,
                ("420505", "The destination location is invalid."),
            )
        shipment = self.state.create("express", reference, postcode)
        return express_ship_response(now, message_reference, shipment.awb, b64_pdf(shipment.awb))

    def _express_track(self, request: etree._Element) -> bytes:
        tracking = request.find(f"trackingRequest/{{{DHL_NS}}}TrackingRequest")
        message_reference = text_at(tracking, "Request/ServiceHeader/MessageReference") or "0" * 28
        now = datetime.now(UTC).replace(microsecond=0).isoformat()
        numbers = [e.text or "" for e in tracking.findall("AWBNumber/ArrayOfAWBNumberItem")]
        plates = [e.text or "" for e in tracking.findall("LPNumber/ArrayOfTrackingPieceIDItem")]
        infos = []
        for number, is_plate in [(n, False) for n in numbers] + [(p, True) for p in plates]:
            shipment = self.state.find(number)
            if shipment is None or shipment.deleted:
                infos.append(TrackInfo(number, None, None, None, None, ()))
                continue
            with self.state.lock:
                events = tuple(shipment.events)
            infos.append(
                TrackInfo(
                    number,
                    shipment.awb,
                    shipment.number if is_plate else None,
                    shipment.reference,
                    shipment.created_at.isoformat(),
                    events,
                )
            )
        return express_track_response(now, message_reference, infos)

    # --- admin -----------------------------------------------------------------------------
    def admin(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> Any:
        state = self.state
        action = path.removeprefix("/__sandbox/").strip("/")
        data: dict[str, Any] = {}
        if body:
            try:
                data = json.loads(body)
            except json.JSONDecodeError as exc:
                raise Reply(
                    400, json.dumps({"error": f"body is not JSON: {exc}"}).encode()
                ) from exc
        if method == "GET" and action == "stats":
            return state.stats()
        if method == "GET" and action == "shipments":
            references = query.get("reference")
            return state.shipments_json(references[0] if references else None)
        if method == "POST" and action == "advance":
            if data.get("all"):
                return {"advanced": state.advance_all(int(data.get("steps", 1)))}
            return {
                "events": state.advance(
                    str(data["number"]), data.get("event"), int(data.get("steps", 1))
                )
            }
        if method == "POST" and action == "fault":
            state.force(str(data["kind"]), data.get("operation"), int(data.get("count", 1)))
            return {"ok": True}
        if method == "POST" and action == "reject":
            with state.lock:
                state.reject_postcodes.add(str(data["postcode"]))
            return {"ok": True}
        if method == "POST" and action == "password-expired":
            with state.lock:
                state.password_expired = bool(data.get("expired", True))
            return {"ok": True}
        if method == "POST" and action == "reset":
            state.reset()
            return {"ok": True}
        raise Reply(404, json.dumps({"error": f"no admin action {method} {action}"}).encode())

    # --- WSDL ------------------------------------------------------------------------------
    def wsdl(self, path: str) -> bytes:
        """GET /wsdl/bcs/<file>, /wsdl/express/<file>, or /bcs?wsdl style aliases."""
        if path.strip("/") in (BCS_XSD, BCS_CIS_XSD):  # relative imports of /bcs?wsdl
            path = f"/wsdl/bcs/{path.strip('/')}"
        parts = path.strip("/").split("/")
        if len(parts) != 3 or parts[1] not in ("bcs", "express"):
            raise Reply(404, b"not found")
        api, name = parts[1], parts[2]
        address = {
            BCS_WSDL: f"{self.base_url}/bcs",
            EXPRESS_SHIP_WSDL: f"{self.base_url}/express/ship",
            EXPRESS_TRACK_WSDL: f"{self.base_url}/express/track",
        }.get(name)
        try:
            return self.contracts.wsdl_text(api, name, address)
        except FileNotFoundError:
            raise Reply(404, b"not found") from None


WSDL_ALIASES = {
    "/bcs": f"/wsdl/bcs/{BCS_WSDL}",
    "/express/ship": f"/wsdl/express/{EXPRESS_SHIP_WSDL}",
    "/express/track": f"/wsdl/express/{EXPRESS_TRACK_WSDL}",
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _CarrierServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("carrier sandbox: " + format, *args)

    def _send(self, status: int, body: bytes, headers: dict[str, str], content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        app = self.server.app
        url = urlsplit(self.path)
        try:
            if url.path.startswith("/__sandbox/") or url.path == "/shipments":
                query = parse_qs(url.query)
                if url.path == "/shipments":
                    result = app.lookup(self.headers, query)
                else:
                    result = app.admin("GET", url.path, query, b"")
                self._send(200, json.dumps(result).encode(), {}, "application/json")
                return
            path = WSDL_ALIASES.get(url.path, url.path) if url.query.lower() == "wsdl" else url.path
            self._send(200, app.wsdl(path), {}, "text/xml; charset=utf-8")
        except Reply as reply:
            self._answer(reply)

    def do_POST(self) -> None:
        app = self.server.app
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            self._send(413, b"request too large", {}, "text/plain")
            return
        body = self.rfile.read(length)
        try:
            if url.path.startswith("/__sandbox/"):
                try:
                    result = app.admin("POST", url.path, parse_qs(url.query), body)
                except (KeyError, ValueError) as exc:
                    raise Reply(400, json.dumps({"error": str(exc)}).encode()) from exc
                self._send(200, json.dumps(result).encode(), {}, "application/json")
                return
            if url.path not in ("/bcs", "/express/ship", "/express/track"):
                raise Reply(404, b"not found")
            status, reply, headers, post_fault = app.soap(url.path, self.headers, body)
        except Reply as answer:
            self._answer(answer)
            return
        self._post_fault(post_fault, reply)

    def _answer(self, answer: Reply) -> None:
        if answer.status == 0:  # "reset": drop the connection without an answer
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        body = answer.body
        is_xml = body.startswith(b"<?xml") or body.startswith(b"<soap")
        is_json = body.startswith(b"{")
        kind = "text/xml; charset=utf-8" if is_xml else "text/html"
        self._send(answer.status, body, answer.headers, "application/json" if is_json else kind)

    def _post_fault(self, kind: str, reply: bytes) -> None:
        xml = "text/xml; charset=utf-8"
        if kind == "slow_after":
            self.server.app.stopping.wait(self.server.app.slow_seconds)
        if kind == "malformed":
            reply = MALFORMED
        elif kind == "bomb":
            reply = ENTITY_BOMB
        elif kind == "external_entity":
            reply = EXTERNAL_ENTITY
        elif kind == "truncated":
            self.send_response(200)
            self.send_header("Content-Type", xml)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply[: len(reply) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(200, reply, {}, xml)

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes: without this, Nagle + delayed ACK add 40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError, OSError) as exc:
            log.debug("carrier sandbox: client went away: %s", exc)
            self.close_connection = True


class _CarrierServer(LoopbackServer):
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: CarrierApp):
        super().__init__(address, _Handler, app.stopping)
        self.app = app


def serve(
    port: int = 0,
    fault_rate: float = 0.0,
    seed: int = 0,
    *,
    credentials: CarrierCredentials | None = None,
    slow_seconds: float = 5.0,
    **options: Any,
) -> None:
    """Run the sandbox carrier in the foreground until interrupted (``hub sandbox carrier``).

    ``options``: the other keywords of ``SandboxCarrier``. Credentials come from the
    SANDBOX_CARRIER_* environment variables; missing ones are generated and printed once, so
    that a demo can paste them into its connection settings.
    """
    generated = False
    if credentials is None:
        credentials, generated = CarrierCredentials.from_env()
    carrier = SandboxCarrier(
        port, fault_rate, seed, credentials=credentials, slow_seconds=slow_seconds, **options
    )
    base = carrier.url
    print(
        f"sandbox carrier on {base}  (BCS {base}/bcs, Express {base}/express/ship, "
        f"{base}/express/track)"
    )
    print(f"WSDLs: {base}/bcs?wsdl  {base}/express/ship?wsdl  {base}/express/track?wsdl")
    print(f"look-up by our reference: {base}/shipments?reference=R (connection extra lookup_path)")
    if generated:
        print("generated credentials (set SANDBOX_CARRIER_* to choose your own):")
        for attr, var in CarrierCredentials.ENV.items():
            print(f"  {var}={getattr(credentials, attr)}")
    print(f"fault_rate={fault_rate} seed={seed}; admin: {base}/__sandbox/stats", flush=True)
    carrier.run_foreground()


class SandboxCarrier(ServerThread[_CarrierServer]):
    """The sandbox carrier in a background thread: ``with SandboxCarrier() as carrier: ...``."""

    def __init__(
        self,
        port: int = 0,
        fault_rate: float = 0.0,
        seed: int = 0,
        *,
        host: str = "127.0.0.1",
        credentials: CarrierCredentials | None = None,
        contracts_dir: Path | None = None,
        slow_seconds: float = 2.0,
        fault_kinds: Sequence[str] = DEFAULT_RANDOM_FAULTS,
    ) -> None:
        self.credentials = credentials or CarrierCredentials.generate()
        contracts = Contracts(contracts_dir or default_contracts_dir())
        state = CarrierState(fault_rate, seed, fault_kinds)
        app = CarrierApp(self.credentials, contracts, state, slow_seconds)
        server = _CarrierServer((host, port), app)
        app.base_url = server.url
        super().__init__(server, "sandbox-carrier")
        self.url = server.url  # the port is bound: URLs are final from here
        self.bcs_url = f"{self.url}/bcs"
        self.express_ship_url = f"{self.url}/express/ship"
        self.express_track_url = f"{self.url}/express/track"
        self.contracts, self.state = contracts, state

    def hub_connections(self) -> dict[str, dict[str, Any]]:
        """The hub's connections to this sandbox, by ``AIRFLOW_CONN_*`` name: their fields.

        Both APIs get ``lookup_path``: the sandbox finds a booking by our reference.
        """
        where = urlsplit(self.url)
        creds = self.credentials
        http = {"conn_type": "http", "host": where.hostname or "", "port": where.port}
        lookup = {"lookup_path": "shipments"}
        return {
            "AIRFLOW_CONN_HUB_CARRIER_BCS": {
                **http,
                "login": creds.bcs_app_id,
                "password": creds.bcs_app_token,
                "schema": "bcs",
                "extra": {"user": creds.bcs_user, "signature": creds.bcs_signature, **lookup},
            },
            "AIRFLOW_CONN_HUB_CARRIER_EXPRESS": {
                **http,
                "login": creds.express_username,
                "password": creds.express_password,
                "extra": lookup,
            },
        }

    def wsdl_url(self, name: str) -> str:
        api = "bcs" if name in (BCS_WSDL, BCS_XSD) or name.startswith("geschaefts") else "express"
        return f"{self.url}/wsdl/{api}/{name}"

    # admin helpers (same effect as the HTTP admin API)
    def force_fault(self, kind: str, operation: str | None = None, count: int = 1) -> None:
        self.state.force(kind, operation, count)

    def reject_postcode(self, postcode: str) -> None:
        with self.state.lock:
            self.state.reject_postcodes.add(postcode)

    def set_password_expired(self, expired: bool = True) -> None:
        with self.state.lock:
            self.state.password_expired = expired

    def advance(self, number: str, event: str | None = None, steps: int = 1) -> list[str]:
        return self.state.advance(number, event, steps)

    def stats(self) -> dict[str, Any]:
        return self.state.stats()
