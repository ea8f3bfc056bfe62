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
``POST password-expired {"expired"}``, ``POST reset``.

Faults (random with ``fault_rate``/``seed`` among ``fault_kinds``, or forced per request):
``soap_fault`` (soapenv:Server, nothing created), ``http_500`` / ``http_503`` (nothing
created; 503 carries Retry-After), ``slow_before`` (waits ``slow_seconds`` then answers 503,
nothing created), ``slow_after`` (creates, then waits: outcome unknown to a client that gave
up), ``malformed`` / ``truncated`` (created, answer broken), ``bomb`` (entity expansion),
``external_entity`` (XXE), ``reset`` (connection closed without an answer, nothing created).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import random
import secrets
import socket
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lxml import etree

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
    WSSE_NS,
    WSU_NS,
    BcsCreation,
    ContractError,
    Contracts,
    TrackEvent,
    TrackInfo,
    b64_pdf,
    bcs_create_response,
    bcs_delete_response,
    bcs_password_expired,
    bcs_version_response,
    default_contracts_dir,
    express_ship_response,
    express_track_response,
    parse_envelope,
    soap_fault,
)

log = logging.getLogger(__name__)

FAULT_KINDS = (
    "soap_fault",
    "http_500",
    "http_503",
    "slow_before",
    "slow_after",
    "malformed",
    "truncated",
    "bomb",
    "external_entity",
    "reset",
)
# Faults a carrier throws at random in the reliability runs: failures that either did nothing
# (fault, 503, a hang before the write) or that the client cannot tell apart (a hang after it).
DEFAULT_RANDOM_FAULTS = ("soap_fault", "http_503", "slow_before", "slow_after")
PRE_FAULTS = frozenset({"soap_fault", "http_500", "http_503", "slow_before", "reset"})
MAX_BODY = 5 * 1024 * 1024
EVENT_SCRIPT = (
    ("PU", "Shipment picked up", "HAM", "HAMBURG - GERMANY"),
    ("PL", "Processed at HAMBURG - GERMANY", "HAM", "HAMBURG - GERMANY"),
    ("DF", "Departed Facility in HAMBURG - GERMANY", "HAM", "HAMBURG - GERMANY"),
    ("AF", "Arrived at Sort Facility BERLIN - GERMANY", "BER", "BERLIN - GERMANY"),
    ("WC", "With delivery courier", "BER", "BERLIN - GERMANY"),
    ("OK", "Delivered - Signed for by: SANDBOX", "BER", "BERLIN - GERMANY"),
)
EXTRA_EVENTS = {
    "BA": "Bad address",
    "NH": "Not home",
    "OH": "On hold",
    "RT": "Returned to shipper",
    "CA": "Closed on arrival",
}
OPERATIONS = {
    f"{{{BCS_NS}}}CreateShipmentOrderRequest": ("bcs", "createShipmentOrder"),
    f"{{{BCS_NS}}}DeleteShipmentOrderRequest": ("bcs", "deleteShipmentOrder"),
    f"{{{BCS_NS}}}Version": ("bcs", "getVersion"),
    f"{{{EXPRESS_REQ_NS}}}ShipmentRequest": ("express/ship", "createShipmentRequest"),
    f"{{{TRACK_NS}}}trackShipmentRequest": ("express/track", "trackShipmentRequest"),
}
CREATE_OPERATIONS = frozenset({"createShipmentOrder", "createShipmentRequest"})


@dataclass(frozen=True)
class CarrierCredentials:
    """What a client must present: BCS application (HTTP Basic) + user, Express user."""

    bcs_app_id: str
    bcs_app_token: str
    bcs_user: str
    bcs_signature: str
    express_username: str
    express_password: str

    ENV = {
        "bcs_app_id": "SANDBOX_CARRIER_BCS_APP_ID",
        "bcs_app_token": "SANDBOX_CARRIER_BCS_APP_TOKEN",
        "bcs_user": "SANDBOX_CARRIER_BCS_USER",
        "bcs_signature": "SANDBOX_CARRIER_BCS_SIGNATURE",
        "express_username": "SANDBOX_CARRIER_EXPRESS_USERNAME",
        "express_password": "SANDBOX_CARRIER_EXPRESS_PASSWORD",
    }

    @classmethod
    def generate(cls) -> CarrierCredentials:
        """Fresh random credentials (user names readable, secrets random)."""
        return cls(
            bcs_app_id="sandbox-app",
            bcs_app_token=secrets.token_urlsafe(16),
            bcs_user="sandbox-user",
            bcs_signature=secrets.token_urlsafe(16),
            express_username="sandbox-express",
            express_password=secrets.token_urlsafe(16),
        )

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> tuple[CarrierCredentials, bool]:
        """(credentials from SANDBOX_CARRIER_* variables, generated where unset; any generated?)."""
        env = os.environ if environ is None else environ
        generated = cls.generate()
        values = {}
        any_generated = False
        for attr, var in cls.ENV.items():
            if env.get(var):
                values[attr] = env[var]
            else:
                values[attr] = getattr(generated, attr)
                any_generated = True
        return cls(**values), any_generated


@dataclass
class SandboxShipment:
    """A shipment the sandbox carrier created."""

    number: str
    awb: str
    api: str
    reference: str | None
    postcode: str | None
    created_at: datetime
    events: list[TrackEvent] = field(default_factory=list)
    deleted: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "awb": self.awb,
            "api": self.api,
            "reference": self.reference,
            "postcode": self.postcode,
            "created_at": self.created_at.isoformat(),
            "deleted": self.deleted,
            "events": [e.code for e in self.events],
        }


@dataclass
class _ForcedFault:
    kind: str
    operation: str | None
    remaining: int


class CarrierState:
    """Everything the sandbox remembers, behind one lock."""

    def __init__(self, fault_rate: float, seed: int, fault_kinds: Sequence[str]) -> None:
        unknown = set(fault_kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"carrier sandbox: unknown fault kinds {sorted(unknown)}")
        if not 0.0 <= fault_rate <= 1.0:
            raise ValueError(f"carrier sandbox: fault_rate {fault_rate} must be within [0, 1]")
        self.lock = threading.Lock()
        self.fault_rate = fault_rate
        self.fault_kinds = tuple(fault_kinds)
        self.rng = random.Random(seed)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.shipments: dict[str, SandboxShipment] = {}
            self.by_awb: dict[str, SandboxShipment] = {}
            self.counter = 0
            self.requests: Counter[str] = Counter()
            self.faults: Counter[str] = Counter()
            self.rejected = 0
            self.forced: list[_ForcedFault] = []
            self.reject_postcodes: set[str] = set()
            self.password_expired = False

    def force(self, kind: str, operation: str | None = None, count: int = 1) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {', '.join(FAULT_KINDS)}")
        with self.lock:
            self.forced.append(_ForcedFault(kind, operation, count))

    def pick_fault(self, operation: str) -> str | None:
        """The fault to inject into this request, if any (forced ones first, then random)."""
        with self.lock:
            self.requests[operation] += 1
            for forced in self.forced:
                if forced.operation in (None, operation) and forced.remaining > 0:
                    forced.remaining -= 1
                    self.forced = [f for f in self.forced if f.remaining > 0]
                    self.faults[forced.kind] += 1
                    return forced.kind
            if self.fault_rate and self.fault_kinds and self.rng.random() < self.fault_rate:
                kind = self.rng.choice(self.fault_kinds)
                self.faults[kind] += 1
                return kind
        return None

    def create(self, api: str, reference: str | None, postcode: str | None) -> SandboxShipment:
        with self.lock:
            self.counter += 1
            number = f"2222{self.counter:014d}" if api == "bcs" else f"{1234500000 + self.counter}"
            awb = f"{1234500000 + self.counter}"
            shipment = SandboxShipment(
                number, awb, api, reference, postcode, datetime.now(UTC).replace(microsecond=0)
            )
            self.shipments[number] = shipment
            self.by_awb[awb] = shipment
            return shipment

    def delete(self, number: str) -> bool:
        with self.lock:
            shipment = self.shipments.get(number)
            if shipment is None or shipment.deleted:
                return False
            shipment.deleted = True
            return True

    def find(self, number: str) -> SandboxShipment | None:
        with self.lock:
            return self.shipments.get(number) or self.by_awb.get(number)

    def advance(self, number: str, event: str | None = None, steps: int = 1) -> list[str]:
        """Append ``steps`` checkpoints (the next scripted ones, or ``event``); the codes now."""
        shipment = self.find(number)
        if shipment is None:
            raise KeyError(f"no sandbox shipment {number!r}")
        with self.lock:
            for _ in range(steps):
                now = datetime.now(UTC)
                if event is not None:
                    if event not in EXTRA_EVENTS and event not in {e[0] for e in EVENT_SCRIPT}:
                        raise ValueError(f"unknown event code {event!r}")
                    script = {e[0]: e for e in EVENT_SCRIPT}
                    code, text, area_code, area = script.get(
                        event, (event, EXTRA_EVENTS.get(event, event), "BER", "BERLIN - GERMANY")
                    )
                else:
                    done = sum(1 for e in shipment.events if e.code in {s[0] for s in EVENT_SCRIPT})
                    if done >= len(EVENT_SCRIPT):
                        break
                    code, text, area_code, area = EVENT_SCRIPT[done]
                shipment.events.append(
                    TrackEvent(
                        now.date().isoformat(),
                        now.time().replace(microsecond=0).isoformat(),
                        code,
                        text,
                        area_code,
                        area,
                    )
                )
            return [e.code for e in shipment.events]

    def advance_all(self, steps: int = 1) -> int:
        with self.lock:
            numbers = [s.number for s in self.shipments.values() if not s.deleted]
        for number in numbers:
            self.advance(number, steps=steps)
        return len(numbers)

    def stats(self) -> dict[str, Any]:
        with self.lock:
            created = Counter(s.reference for s in self.shipments.values())
            active = Counter(s.reference for s in self.shipments.values() if not s.deleted)
            return {
                "shipments": len(self.shipments),
                "deleted": sum(1 for s in self.shipments.values() if s.deleted),
                "created_by_reference": {str(k): v for k, v in created.items()},
                "active_by_reference": {str(k): v for k, v in active.items()},
                "requests": dict(self.requests),
                "faults": dict(self.faults),
                "rejected": self.rejected,
            }

    def shipments_json(self, reference: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                s.as_json()
                for s in self.shipments.values()
                if reference is None or s.reference == reference
            ]


class _Reply(Exception):
    """Short-circuit: send this status/body now."""

    def __init__(self, status: int, body: bytes, headers: dict[str, str] | None = None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def _local_text(element: etree._Element | None, *names: str) -> str | None:
    """Text at a path of local names, whatever namespaces the contract puts on each step."""
    if element is None:
        return None
    xpath = "/".join(f"*[local-name()='{name}']" for name in names)
    found = element.xpath(xpath)
    return found[0].text.strip() if found and found[0].text else None


def _text(element: etree._Element | None, path: str) -> str | None:
    if element is None:
        return None
    found = element.find(path)
    return found.text.strip() if found is not None and found.text else None


class CarrierApp:
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
            raise _Reply(500, soap_fault("soapenv:Client", str(exc))) from exc
        endpoint, operation = OPERATIONS.get(request.tag, (None, None))
        if operation is None or endpoint != path.strip("/"):
            raise _Reply(
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
            raise _Reply(
                500, soap_fault("soapenv:Server", "Internal error, please try again later.")
            )
        if kind == "http_500":
            raise _Reply(500, b"<html><body>500 Internal Server Error</body></html>")
        if kind == "http_503":
            raise _Reply(503, b"", {"Retry-After": "1"})
        if kind == "slow_before":
            self.stopping.wait(self.slow_seconds)
            raise _Reply(503, b"", {"Retry-After": "1"})
        if kind == "reset":
            raise _Reply(0, b"")

    def _check_bcs_auth(self, headers: Any, soap_header: etree._Element | None, op: str) -> None:
        creds = self.credentials
        expected = base64.b64encode(f"{creds.bcs_app_id}:{creds.bcs_app_token}".encode()).decode()
        if not secrets.compare_digest(headers.get("Authorization", ""), f"Basic {expected}"):
            raise _Reply(
                401,
                b"<html><body>401 Authorization Required</body></html>",
                {"WWW-Authenticate": 'Basic realm="DHL Geschaeftskundenversand"'},
            )
        if op == "getVersion":
            return
        auth = None if soap_header is None else soap_header.find(f"{{{CIS_NS}}}Authentification")
        if auth is None:
            raise _Reply(
                500,
                soap_fault(
                    "soapenv:Client", "Authentification header missing (cis:user, cis:signature)"
                ),
            )
        self._validate("bcs", auth)
        user = _text(auth, f"{{{CIS_NS}}}user") or ""
        signature = _text(auth, f"{{{CIS_NS}}}signature") or ""
        if not (
            secrets.compare_digest(user, creds.bcs_user)
            and secrets.compare_digest(signature, creds.bcs_signature)
        ):
            raise _Reply(500, soap_fault("soapenv:Client", "Authentication failed: login failed"))
        if self.state.password_expired:
            raise _Reply(200, bcs_password_expired(self.contracts))

    def _check_wsse(self, soap_header: etree._Element | None) -> None:
        token = (
            None
            if soap_header is None
            else soap_header.find(f"{{{WSSE_NS}}}Security/{{{WSSE_NS}}}UsernameToken")
        )
        failed = _Reply(
            500,
            soap_fault(
                "wsse:FailedAuthentication",
                "The security token could not be authenticated or authorized",
            ),
        )
        if token is None:
            raise failed
        username = _text(token, f"{{{WSSE_NS}}}Username") or ""
        password_el = token.find(f"{{{WSSE_NS}}}Password")
        password = password_el.text if password_el is not None and password_el.text else ""
        creds = self.credentials
        if password_el is not None and password_el.get("Type", "").endswith("#PasswordDigest"):
            nonce = _text(token, f"{{{WSSE_NS}}}Nonce") or ""
            created = _text(token, f"{{{WSU_NS}}}Created") or ""
            try:
                raw_nonce = base64.b64decode(nonce)
            except ValueError:
                raise failed from None
            digest = hashlib.sha1(raw_nonce + created.encode() + creds.express_password.encode())
            expected = base64.b64encode(digest.digest()).decode()
        else:
            expected = creds.express_password
        if not (
            secrets.compare_digest(username, creds.express_username)
            and secrets.compare_digest(password, expected)
        ):
            raise failed

    def _validate(self, endpoint: str, element: etree._Element) -> None:
        schema = {
            "bcs": lambda: self.contracts.bcs_schema,
            "express/ship": lambda: self.contracts.express_ship_schema,
            "express/track": lambda: self.contracts.express_track_schema,
        }[endpoint]()
        try:
            self.contracts.validate(schema, element)
        except ContractError as exc:
            raise _Reply(500, soap_fault("soapenv:Client", str(exc))) from exc

    def _bcs(self, operation: str, request: etree._Element) -> bytes:
        if operation == "getVersion":
            return bcs_version_response(self.contracts)
        if operation == "deleteShipmentOrder":
            numbers = [n.text or "" for n in request.iter(f"{{{CIS_NS}}}shipmentNumber")]
            return bcs_delete_response([(n, self.state.delete(n)) for n in numbers])
        creations = []
        for order in request.findall("ShipmentOrder"):
            sequence = _text(order, "sequenceNumber") or "0"
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
        message_reference = _text(header, "MessageReference")
        shipment_el = request.find("RequestedShipment")
        reference = _text(shipment_el, "Packages/RequestedPackages/CustomerReferences")
        postcode = _text(shipment_el, "Ship/Recipient/Address/PostalCode")
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
        message_reference = _text(tracking, "Request/ServiceHeader/MessageReference") or "0" * 28
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
                raise _Reply(
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
        raise _Reply(404, json.dumps({"error": f"no admin action {method} {action}"}).encode())

    # --- WSDL ------------------------------------------------------------------------------
    def wsdl(self, path: str) -> bytes:
        """GET /wsdl/bcs/<file>, /wsdl/express/<file>, or /bcs?wsdl style aliases."""
        if path.strip("/") in (BCS_XSD, BCS_CIS_XSD):  # relative imports of /bcs?wsdl
            path = f"/wsdl/bcs/{path.strip('/')}"
        parts = path.strip("/").split("/")
        if len(parts) != 3 or parts[1] not in ("bcs", "express"):
            raise _Reply(404, b"not found")
        api, name = parts[1], parts[2]
        address = {
            BCS_WSDL: f"{self.base_url}/bcs",
            EXPRESS_SHIP_WSDL: f"{self.base_url}/express/ship",
            EXPRESS_TRACK_WSDL: f"{self.base_url}/express/track",
        }.get(name)
        try:
            return self.contracts.wsdl_text(api, name, address)
        except FileNotFoundError:
            raise _Reply(404, b"not found") from None


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
            if url.path.startswith("/__sandbox/"):
                result = app.admin("GET", url.path, parse_qs(url.query), b"")
                self._send(200, json.dumps(result).encode(), {}, "application/json")
                return
            path = WSDL_ALIASES.get(url.path, url.path) if url.query.lower() == "wsdl" else url.path
            self._send(200, app.wsdl(path), {}, "text/xml; charset=utf-8")
        except _Reply as reply:
            self._send(reply.status, reply.body, reply.headers, "text/plain")

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
                    raise _Reply(400, json.dumps({"error": str(exc)}).encode()) from exc
                self._send(200, json.dumps(result).encode(), {}, "application/json")
                return
            if url.path not in ("/bcs", "/express/ship", "/express/track"):
                raise _Reply(404, b"not found")
            status, reply, headers, post_fault = app.soap(url.path, self.headers, body)
        except _Reply as answer:
            if answer.status == 0:  # "reset": drop the connection without an answer
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            is_xml = answer.body.startswith(b"<?xml") or answer.body.startswith(b"<soap")
            content_type = "text/xml; charset=utf-8" if is_xml else "text/html"
            self._send(answer.status, answer.body, answer.headers, content_type)
            return
        self._post_fault(post_fault, reply)

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


class _CarrierServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: CarrierApp):
        super().__init__(address, _Handler)
        self.app = app


def _build(
    host: str,
    port: int,
    fault_rate: float,
    seed: int,
    credentials: CarrierCredentials,
    contracts_dir: Path | None,
    slow_seconds: float,
    fault_kinds: Sequence[str],
) -> _CarrierServer:
    contracts = Contracts(contracts_dir or default_contracts_dir())
    app = CarrierApp(
        credentials, contracts, CarrierState(fault_rate, seed, fault_kinds), slow_seconds
    )
    server = _CarrierServer((host, port), app)
    app.base_url = f"http://{host}:{server.server_address[1]}"
    return server


def serve(
    port: int = 0,
    fault_rate: float = 0.0,
    seed: int = 0,
    *,
    host: str = "127.0.0.1",
    credentials: CarrierCredentials | None = None,
    contracts_dir: Path | None = None,
    slow_seconds: float = 5.0,
    fault_kinds: Sequence[str] = DEFAULT_RANDOM_FAULTS,
) -> None:
    """Run the sandbox carrier in the foreground until interrupted (``hub sandbox carrier``).

    Credentials come from the SANDBOX_CARRIER_* environment variables; missing ones are
    generated and printed once, so that a demo can paste them into its connection settings.
    """
    generated = False
    if credentials is None:
        credentials, generated = CarrierCredentials.from_env()
    server = _build(
        host, port, fault_rate, seed, credentials, contracts_dir, slow_seconds, fault_kinds
    )
    base = server.app.base_url
    print(
        f"sandbox carrier on {base}  (BCS {base}/bcs, Express {base}/express/ship, "
        f"{base}/express/track)"
    )
    print(f"WSDLs: {base}/bcs?wsdl  {base}/express/ship?wsdl  {base}/express/track?wsdl")
    if generated:
        print("generated credentials (set SANDBOX_CARRIER_* to choose your own):")
        for attr, var in CarrierCredentials.ENV.items():
            print(f"  {var}={getattr(credentials, attr)}")
    print(f"fault_rate={fault_rate} seed={seed}; admin: {base}/__sandbox/stats", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.app.stopping.set()
        server.server_close()


class SandboxCarrier:
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
        self._server = _build(
            host, port, fault_rate, seed, self.credentials, contracts_dir, slow_seconds, fault_kinds
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return self._server.app.base_url

    @property
    def bcs_url(self) -> str:
        return f"{self.url}/bcs"

    @property
    def express_ship_url(self) -> str:
        return f"{self.url}/express/ship"

    @property
    def express_track_url(self) -> str:
        return f"{self.url}/express/track"

    @property
    def contracts(self) -> Contracts:
        return self._server.app.contracts

    @property
    def state(self) -> CarrierState:
        return self._server.app.state

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

    def start(self) -> SandboxCarrier:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="sandbox-carrier",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.app.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SandboxCarrier:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
