"""Sandbox CRM: a real threaded HTTP server on loopback speaking the HubSpot CRM v3/v4 subset.

Bearer-token auth, a rolling per-account request window (429 + Retry-After and the
``X-HubSpot-RateLimit-*`` headers on every answer), seeded fault injection (500/502/503/429,
slow answers, dropped connections; each either before or after the write is applied), admin
endpoints under ``/__sandbox/`` (stats, reset, faults, "CRM user" edits, record dumps) and an
optional contract check of every request and response against the official OpenAPI specs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import secrets
import socket
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from sandbox.crm_lists import pipelines_body
from sandbox.crm_state import (
    FAULT_KINDS,
    FAULT_SIDES,
    FaultPlan,
    SandboxState,
    fault_body,
    rate_limit_body,
)
from sandbox.crm_store import CrmStore, InputError, Record
from sandbox.crm_webhooks import WebhookSender
from sandbox.crm_wire import CrmApiError, iso
from sandbox.server import LoopbackServer, ServerThread

log = logging.getLogger(__name__)

TOKEN_ENV = "HUB_SANDBOX_CRM_TOKEN"
_OBJECTS = re.compile(r"^/crm/v3/objects/(?P<type>[\w-]+)(?:/(?P<rest>.+))?$")
_PIPELINES = re.compile(r"^/crm/v3/pipelines/(?P<type>[\w-]+)$")
_ASSOC_BATCH = re.compile(
    r"^/crm/v4/associations/(?P<from>[\w-]+)/(?P<to>[\w-]+)/batch/(?P<op>.+)$"
)


def _kind_of(method: str, path: str) -> str:
    if method == "GET" or path.endswith(("/batch/read", "/search")):
        return "read"
    return "write"


class _Reply(Exception):
    """Short-circuits handling with a status and JSON body."""

    def __init__(
        self, status: int, body: dict[str, Any] | None, headers: dict[str, str] | None = None
    ):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


class _Drop(Exception):
    """Close the connection without answering."""


class CrmHandler(BaseHTTPRequestHandler):
    """Routes one HTTP request; keep-alive, one write per answer, no access log noise."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "SandboxCRM/1.0"
    sys_version = ""

    @property
    def state(self) -> SandboxState:
        return cast("_Server", self.server).state

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("sandbox crm: " + format, *args)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # -- plumbing ---------------------------------------------------------------------
    def _send(self, status: int, body: dict[str, Any] | None, headers: dict[str, str]) -> bytes:
        data = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if data:
            self.wfile.write(data)
        return data

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        path, query = parts.path, parts.query
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if len(raw) < length:
            # the client went away mid-request (a killed process): as a real server, drop
            # it unprocessed, neither an API call nor a contract violation of the client's
            self._drop()
            return
        if path.startswith("/__sandbox/"):
            self._admin(method, path, query, raw)
            return
        state = self.state
        kind = _kind_of(method, path)
        state.count(f"req:{kind}", "req:total")
        headers: dict[str, str] = {}
        req_headers = {k: v for k, v in self.headers.items()}
        problems: list[str] = []
        body: dict[str, Any] | None
        if state.contract is not None:
            problems = state.contract.check_request(method, path, query, req_headers, raw)
            if problems:
                state.violations.extend(problems)
        try:
            self._authorize()
            headers = self._rate_limit()
            if problems:
                raise _Reply(400, CrmApiError(400, "VALIDATION_ERROR", "; ".join(problems)).body())
            fault = state.faults.draw(kind)
            if fault:
                state.count(f"fault:{fault[0]}:{fault[1]}")
            if fault and fault[1] == "before":
                self._fault_before(fault[0], headers)
            status, body = self._api(method, path, query, raw)
            if fault:
                self._fault_after(fault[0])
        except _Drop:
            self._drop()
            return
        except _Reply as reply:
            status, body = reply.status, reply.body
            headers.update(reply.headers)
        except CrmApiError as exc:
            status, body = exc.status, exc.body()
        except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
            status = 400
            body = CrmApiError(400, "VALIDATION_ERROR", f"Invalid input JSON: {exc!r}").body()
        state.count(f"status:{status}")
        try:
            data = self._send(status, body, headers)
        except OSError:
            return
        if state.contract is not None:
            resp_headers = {"Content-Type": "application/json", **headers}
            problems = state.contract.check_response(
                method, path, query, req_headers, raw, status, resp_headers, data
            )
            state.violations.extend(problems)

    def _authorize(self) -> None:
        auth = self.headers.get("Authorization", "")
        scheme, _, supplied = auth.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(
            supplied.encode(), self.state.token.encode()
        ):
            self.state.count("unauthorized")
            raise _Reply(
                401,
                CrmApiError(
                    401,
                    "INVALID_AUTHENTICATION",
                    "Authentication credentials not found or invalid: send "
                    "'Authorization: Bearer <private app token>'",
                ).body(),
            )

    def _rate_limit(self) -> dict[str, str]:
        state = self.state
        window = state.window
        allowed, remaining, wait = window.hit(state.token)
        headers = {
            "X-HubSpot-RateLimit-Max": str(window.limit),
            "X-HubSpot-RateLimit-Remaining": str(remaining),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(window.interval_ms),
        }
        if not allowed:
            state.count("rate_limited")
            headers["Retry-After"] = self._retry_after(max(1, math.ceil(wait)))
            raise _Reply(429, rate_limit_body(window.limit, window.interval_ms), headers)
        return headers

    def _retry_after(self, seconds: int) -> str:
        if self.state.retry_after_format == "date":
            from email.utils import formatdate

            # an HTTP date has whole seconds: round up so the client never comes back early
            return formatdate(math.ceil(time.time()) + seconds, usegmt=True)
        return str(seconds)

    def _fault_before(self, kind: str, headers: dict[str, str]) -> None:
        state = self.state
        if kind == "slow":  # waits, then drops the connection: nothing done
            state.stopping.wait(state.faults.slow_seconds)
            raise _Drop
        if kind == "429":
            headers["Retry-After"] = self._retry_after(state.faults.retry_after)
            raise _Reply(429, rate_limit_body(state.window.limit, state.window.interval_ms))
        self._fault_after(kind)

    def _fault_after(self, kind: str) -> None:
        if kind == "drop":
            raise _Drop
        if kind == "slow":
            self.state.stopping.wait(self.state.faults.slow_seconds)
            return
        raise _Reply(int(kind), fault_body(int(kind)))

    # -- the HubSpot API subset -------------------------------------------------------
    def _api(
        self, method: str, path: str, query: str, raw: bytes
    ) -> tuple[int, dict[str, Any] | None]:
        store = self.state.store
        body: dict[str, Any] = json.loads(raw) if raw else {}
        params = {k: v[-1] for k, v in parse_qs(query).items()}
        m = _PIPELINES.match(path)
        if m and method == "GET":
            return 200, pipelines_body(m.group("type"))
        m = _OBJECTS.match(path)
        if m:
            name, rest = m.group("type"), m.group("rest")
            if rest is None and method == "GET":
                return 200, store.list_page(name, params, _list_param(query, "properties"))
            if rest == "merge" and method == "POST":
                rec = merge(self.state, name, str(body["primaryObjectId"]),
                            str(body["objectIdToMerge"]))  # fmt: skip
                self._written(1)
                return 200, rec.view(list(rec.props), _canonical(name))
            if rest and "/" not in rest and method == "DELETE":
                store.archive(name, rest)
                self._written(1)
                return 204, None
            if rest is None and method == "POST":
                rec = store.create(name, body.get("properties") or {})
                self._written(1)
                self._associate_on_create(name, rec.id, body.get("associations") or [])
                return 201, rec.view(list(rec.props), "companies")
            if rest == "batch/upsert" and method == "POST":
                inputs = body["inputs"]
                _check_batch_size(inputs)
                results, errors = store.batch_upsert(name, inputs)
                self._written(len(results))
                return _batch(results, errors, ok_status=200)
            if rest == "batch/read" and method == "POST":
                inputs = body["inputs"]
                _check_batch_size(inputs)
                ids = [str(item["id"]) for item in inputs]
                results, errors = store.batch_read(
                    name, ids, body.get("idProperty"), body.get("properties") or []
                )
                return _batch(results, errors, ok_status=200)
            if rest == "search" and method == "POST":
                return 200, store.search(name, body)
            if rest and "/" not in rest and method in ("GET", "PATCH"):
                id_property = params.get("idProperty")
                if method == "PATCH":
                    rec = store.update(name, rest, body.get("properties") or {}, id_property)
                    self._written(1)
                    return 200, rec.view(list(rec.props), "companies")
                with store.lock:
                    found = store.find(name, rest, id_property)
                    if found is None:
                        raise CrmApiError(404, "OBJECT_NOT_FOUND", f"No {name} record {rest}")
                    wanted = _list_param(query, "properties")
                    return 200, found.view(wanted or None, _canonical(name))
        m = _ASSOC_BATCH.match(path)
        if m and method == "POST":
            op, inputs = m.group("op"), body["inputs"]
            _check_batch_size(inputs, limit=2000)
            if op == "create":
                results, errors = store.associate(m.group("from"), m.group("to"), inputs)
                self._written(len(results))
                return _batch(results, errors, ok_status=201)
            if op == "associate/default":
                results, errors = store.associate_default(m.group("from"), m.group("to"), inputs)
                self._written(len(results))
                status, out = _batch(results, errors, ok_status=200)
                return 200, out
            if op == "read":
                ids = [str(item["id"]) for item in inputs]
                results, errors = store.read_associations(m.group("from"), m.group("to"), ids)
                return _batch(results, errors, ok_status=200)
        raise CrmApiError(404, "NOT_FOUND", f"The sandbox CRM does not implement {method} {path}")

    def _associate_on_create(self, name: str, rid: str, assocs: list[dict[str, Any]]) -> None:
        for assoc in assocs:
            to_id = str(assoc["to"]["id"])
            for spec in assoc.get("types") or []:
                to_name = _target_for_type(name, int(spec["associationTypeId"]))
                if to_name:
                    self.state.store.associate(
                        name, to_name, [{"from": {"id": rid}, "to": {"id": to_id}, "types": [spec]}]
                    )

    def _written(self, n: int) -> None:
        with self.state.lock:
            self.state.counters["inputs_written"] += n

    # -- admin ------------------------------------------------------------------------
    def _admin(self, method: str, path: str, query: str, raw: bytes) -> None:
        state = self.state
        body: dict[str, Any] = json.loads(raw) if raw else {}
        parts = path.strip("/").split("/")[1:]
        try:
            if parts == ["stats"] and method == "GET":
                self._send(200, state.stats(), {})
            elif parts == ["reset"] and method == "POST":
                state.reset()
                self._send(200, {"reset": True}, {})
            elif parts == ["faults"] and method == "POST":
                state.configure(body)
                self._send(200, state.stats()["config"], {})
            elif parts[:1] == ["records"] and len(parts) == 2 and method == "GET":
                self._send(200, {"results": state.store.all_records(parts[1])}, {})
            elif parts == ["associations"] and method == "GET":
                self._send(200, {"results": state.store.all_associations()}, {})
            elif parts[:1] == ["user"] and len(parts) == 2 and method == "POST":
                rec = state.store.create(parts[1], body.get("properties") or {})
                state.notify(_canonical(parts[1]), rec.id, "creation")
                self._send(201, rec.full_view(), {})
            elif parts[:1] == ["user"] and len(parts) == 3 and method == "PATCH":
                rec = state.store.update(parts[1], parts[2], body.get("properties") or {})
                state.notify(_canonical(parts[1]), rec.id, "propertyChange")
                self._send(200, rec.full_view(), {})
            elif parts == ["webhooks"] and method == "POST":
                state.start_webhooks(body.get("url"), body.get("secret"))
                self._send(200, {"url": body.get("url")}, {})
            else:
                self._send(404, {"message": f"unknown sandbox admin call {method} {path}"}, {})
        except CrmApiError as exc:
            self._send(exc.status, exc.body(), {})


def merge(state: SandboxState, name: str, primary: str, other: str) -> Record:
    """Merge ``other`` into ``primary`` (by the API or a CRM user): a ``merge`` webhook."""
    rec = state.store.merge(name, {"primaryObjectId": primary, "objectIdToMerge": other})
    state.notify(_canonical(name), primary, "merge", mergedObjectIds=[int(other)],
                 primaryObjectId=int(primary))  # fmt: skip
    return rec


def _canonical(name: str) -> str:
    from sandbox.crm_store import object_type

    return object_type(name)


def _target_for_type(name: str, type_id: int) -> str | None:
    from sandbox.crm_store import (
        DEFAULT_ASSOCIATION_TYPES,
        PRIMARY_ASSOCIATION_TYPES,
        object_type,
    )

    source = object_type(name)
    for table in (DEFAULT_ASSOCIATION_TYPES, PRIMARY_ASSOCIATION_TYPES):
        for (frm, to), tid in table.items():
            if frm == source and tid == type_id:
                return to
    return None


def _list_param(query: str, name: str) -> list[str]:
    values = parse_qs(query).get(name, [])
    return [item for value in values for item in value.split(",") if item]


def _check_batch_size(inputs: list[Any], limit: int = 100) -> None:
    if len(inputs) > limit:
        raise CrmApiError(
            400, "VALIDATION_ERROR", f"Batch of {len(inputs)} inputs exceeds the limit of {limit}"
        )


def _batch(
    results: list[dict[str, Any]], errors: list[InputError], ok_status: int
) -> tuple[int, dict[str, Any]]:
    now = iso(int(time.time() * 1000))
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": now,
        "completedAt": now,
    }
    if errors:
        body["errors"] = [err.body() for err in errors]
        body["numErrors"] = len(errors)
        return 207, body
    return ok_status, body


class _Server(LoopbackServer):
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], state: SandboxState) -> None:
        self.state = state
        super().__init__(address, CrmHandler, state.stopping)


def serve(echo: Callable[[str], None] | None = None, **options: Any) -> None:
    """Run the sandbox CRM in the foreground (``hub sandbox crm``) until interrupted.

    ``options`` are those of ``SandboxCrm``. Without a ``token`` it is $HUB_SANDBOX_CRM_TOKEN,
    else one generated for this run and shown through ``echo`` (default: print).
    """
    if echo is None:

        def echo(line: str) -> None:
            print(line, flush=True)

    token = options.get("token")
    if token is None:
        token = os.environ.get(TOKEN_ENV)
    if not token:
        token = secrets.token_urlsafe(24)
        echo(
            f"No {TOKEN_ENV} set: generated a token for this run. Export it for the hub:\n"
            f"  export {TOKEN_ENV}={token}"
        )
    crm = SandboxCrm(**{**options, "token": token})
    window, faults = crm.state.window, crm.state.faults
    echo(
        f"sandbox CRM listening on {crm.url} (rate limit {window.limit}/"
        f"{window.interval_ms} ms, fault rate {faults.rate}, seed {faults.seed})"
    )
    crm.run_foreground()


class SandboxCrm(ServerThread[_Server]):
    """Runs the sandbox CRM in a background thread: ``with SandboxCrm() as crm: crm.url``."""

    def __init__(
        self,
        *,
        port: int = 0,
        rate_limit: int = 190,
        fault_rate: float = 0.0,
        seed: int | None = None,
        token: str | None = None,
        interval_ms: int = 10_000,
        fault_kinds: tuple[str, ...] = FAULT_KINDS,
        fault_sides: tuple[str, ...] = FAULT_SIDES,
        slow_seconds: float = 2.0,
        clock: Callable[[], float] = time.time,
        contract: Any | None = None,
        search_cap: int = 10_000,
    ) -> None:
        self.token = token or secrets.token_urlsafe(24)
        faults = FaultPlan(fault_rate, seed, fault_kinds, fault_sides, slow_seconds)
        state = SandboxState(
            self.token, rate_limit, interval_ms, faults, clock, contract, search_cap
        )
        server = _Server(("127.0.0.1", port), state)
        super().__init__(server, "sandbox-crm")
        self.url = server.url

    @property
    def state(self) -> SandboxState:
        return self._server.state

    def stop(self) -> None:
        self.state.start_webhooks(None, None)
        super().stop()

    @property
    def store(self) -> CrmStore:
        return self._server.state.store

    # -- in-process admin (same as the /__sandbox/ endpoints) --------------------------
    def stats(self) -> dict[str, Any]:
        return self.state.stats()

    def reset(self) -> None:
        self.state.reset()

    def set_faults(self, **config: Any) -> None:
        """fault_rate, seed, kinds, sides, targets ("read"/"write"), slow_seconds, retry_after,
        rate_limit, interval_ms, retry_after_format ("seconds" or "date")."""
        self.state.configure(config)

    def send_webhooks(self, url: str, secret: str) -> WebhookSender:
        """From now on, POST signed HubSpot webhooks for every change a CRM user makes."""
        sender = self.state.start_webhooks(url, secret)
        assert sender is not None
        return sender

    def _notify(self, object_name: str, rid: str, change: str, **extra: Any) -> None:
        self.state.notify(_canonical(object_name), rid, change, **extra)

    def user_create(self, object_name: str, properties: dict[str, str]) -> dict[str, Any]:
        """Create a record as a CRM user would (no auth, no limits, no faults)."""
        view = self.store.create(object_name, properties).full_view()
        self._notify(object_name, view["id"], "creation")
        return view

    def user_update(self, object_name: str, rid: str, properties: dict[str, str]) -> dict[str, Any]:
        view = self.store.update(object_name, rid, properties).full_view()
        for name, value in properties.items():
            self._notify(object_name, rid, "propertyChange", propertyName=name,
                         propertyValue=value)  # fmt: skip
        return view

    def user_merge(self, object_name: str, primary: str, other: str) -> dict[str, Any]:
        """Merge ``other`` into ``primary`` as a CRM user would (``other`` is archived)."""
        return merge(self.state, object_name, primary, other).full_view()

    def user_archive(self, object_name: str, rid: str) -> None:
        """Delete (archive) a record as a CRM user would."""
        self.store.archive(object_name, rid)
        self._notify(object_name, rid, "deletion")

    def records(self, object_name: str) -> list[dict[str, Any]]:
        return self.store.all_records(object_name)

    @property
    def contract_violations(self) -> list[str]:
        return list(self.state.violations)
