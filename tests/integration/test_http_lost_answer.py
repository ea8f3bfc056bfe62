"""Lost HTTP answers over loopback: retried when the call is idempotent, an unknown outcome
when it is not; only a request that provably never left is retried either way.

A loopback server reads each request whole, then misbehaves as the first path segment says:
cuts its answer off (Content-Length or a chunk longer than what it sends), hangs up or resets
without answering, or answers too late. The calls go through the hub's own HTTP pieces
(``new_session``, ``translate_transport_error``, ``with_retries``) and through the ERP's
JSON-RPC transport, whose batch create this once made twice.
"""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import ssl
import struct
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import requests
import urllib3.exceptions

from connectors.erp.jsonrpc import TrytonRpc
from connectors.http import RetryPolicy, new_session, translate_transport_error, with_retries
from sandbox.server import LoopbackServer, ServerThread
from schemas.errors import HubError, OutcomeUnknownError, PermanentError, TransientError

pytestmark = pytest.mark.integration

POLICY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, total_timeout=60.0)
TIMEOUT = (5.0, 2.0)  # a slow answer waits for the test's end, far past the 2 s read timeout
LOGIN = ("common.db.login", "model.res.user.get_preferences")


class Misbehaving(LoopbackServer):
    """The loopback server; ``seen(mode)`` lists the JSON-RPC methods it got under a mode."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler, threading.Event())
        self._seen: list[tuple[str, str]] = []  # (mode, JSON-RPC method or "") per request
        self._guard = threading.Lock()

    def note(self, mode: str, method: str) -> None:
        with self._guard:
            self._seen.append((mode, method))

    def seen(self, mode: str) -> list[str]:
        with self._guard:
            return [method for m, method in self._seen if m == mode]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Misbehaving

    def do_POST(self) -> None:
        self.close_connection = True
        mode = self.path.strip("/").split("/")[0]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))  # all of it
        method = str(json.loads(body or b"{}").get("method", ""))
        self.server.note(mode, method)
        if method in LOGIN:  # the ERP transport logs in first: that part works
            result: Any = [1, "token"] if method == LOGIN[0] else {}
            self._answer(json.dumps({"id": 1, "result": result}).encode(), missing=0)
        elif mode == "cut-off":
            self._answer(b'{"id": 1, "res', missing=64)
        elif mode == "cut-chunk":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"40\r\n" + b'{"id": 1, "res')
        elif mode == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        elif mode == "slow":
            self.server.stopping.wait(120)
        # "hang-up": nothing written, the connection is closed

    def _answer(self, data: bytes, *, missing: int) -> None:
        """A 200 whose Content-Length promises ``missing`` bytes more than it sends."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data) + missing))
        self.send_header("Connection", "close")  # never a pooled connection it has closed
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


@pytest.fixture
def server() -> Iterator[Misbehaving]:
    httpd = Misbehaving()
    running = ServerThread(httpd, "http-lost-answer").start()
    try:
        yield httpd
    finally:
        running.stop()  # sets ``stopping`` first: the slow answers end


def post(url: str, *, idempotent: bool) -> tuple[HubError, int]:
    """POST the way the connectors do, retried by the policy: the error raised and how many
    requests were made."""
    session = new_session()
    attempts = 0

    def attempt() -> requests.Response:
        nonlocal attempts
        attempts += 1
        try:
            return session.post(url, json={"create": [1, 2]}, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise translate_transport_error(
                exc, system="test", url=url, idempotent=idempotent
            ) from exc

    with pytest.raises(HubError) as info:
        with_retries(attempt, POLICY)
    session.close()
    return info.value, attempts


def caused_by(error: BaseException, *kinds: type[BaseException]) -> bool:
    """True when ``error`` was raised from an error of each of ``kinds`` (wrapped ones too)."""
    found: list[BaseException] = []
    stack: list[Any] = [error.__cause__]
    while stack:
        item = stack.pop()
        if isinstance(item, BaseException):
            found.append(item)
            stack.extend([item.__cause__, getattr(item, "reason", None), *item.args])
    return all(any(isinstance(item, kind) for item in found) for kind in kinds)


# mode -> the requests exception it must produce, and an error somewhere beneath it
LOST = {
    "cut-off": (requests.exceptions.ChunkedEncodingError, http.client.IncompleteRead),
    "cut-chunk": (requests.exceptions.ChunkedEncodingError, urllib3.exceptions.ProtocolError),
    "hang-up": (requests.ConnectionError, http.client.RemoteDisconnected),
    "reset": (requests.ConnectionError, ConnectionResetError),
    "slow": (requests.ReadTimeout, urllib3.exceptions.ReadTimeoutError),
}


@pytest.mark.parametrize("mode", list(LOST))
def test_a_lost_answer_is_retried_when_idempotent(server: Misbehaving, mode: str) -> None:
    error, attempts = post(f"{server.url}/{mode}/", idempotent=True)
    assert caused_by(error, *LOST[mode]), repr(error.__cause__)
    assert type(error) is TransientError and error.retryable
    assert error.system == "test" and f"{server.url}/{mode}/" in str(error)
    assert attempts == POLICY.attempts and len(server.seen(mode)) == POLICY.attempts


@pytest.mark.parametrize("mode", list(LOST))
def test_a_lost_answer_to_a_non_idempotent_call_is_an_unknown_outcome_sent_once(
    server: Misbehaving, mode: str
) -> None:
    error, attempts = post(f"{server.url}/{mode}/", idempotent=False)
    assert caused_by(error, *LOST[mode]), repr(error.__cause__)
    assert type(error) is OutcomeUnknownError and not error.retryable
    assert "outcome unknown" in str(error) and f"{server.url}/{mode}/" in str(error)
    assert attempts == 1 and len(server.seen(mode)) == 1


@pytest.mark.parametrize("idempotent", [True, False])
def test_a_refused_connection_is_retried_even_when_not_idempotent(
    closed_port: int, idempotent: bool
) -> None:
    error, attempts = post(f"http://127.0.0.1:{closed_port}/x", idempotent=idempotent)
    assert caused_by(error, ConnectionRefusedError), repr(error.__cause__)
    assert type(error) is TransientError and "cannot connect" in str(error)
    assert attempts == POLICY.attempts


def test_a_name_that_does_not_resolve_is_retried_even_when_not_idempotent() -> None:
    error, attempts = post("http://hub-lost-answer-test.invalid/x", idempotent=False)
    assert caused_by(error, urllib3.exceptions.NameResolutionError), repr(error.__cause__)
    assert type(error) is TransientError and "cannot connect" in str(error)
    assert attempts == POLICY.attempts


def test_a_request_that_cannot_be_built_is_permanent_not_unknown() -> None:
    error, attempts = post("http://[::1/x", idempotent=False)
    assert caused_by(error, requests.exceptions.InvalidURL), repr(error.__cause__)
    assert type(error) is PermanentError and "cannot send" in str(error)
    assert attempts == 1


def _rpc(server: Misbehaving, mode: str) -> TrytonRpc:
    return TrytonRpc(f"{server.url}/{mode}/", "db", "admin", "pw", timeout=TIMEOUT, policy=POLICY)


@pytest.mark.parametrize("mode", ["cut-off", "hang-up"])
def test_erp_create_without_an_answer_is_unknown_and_sent_once(
    server: Misbehaving, mode: str
) -> None:
    rpc = _rpc(server, mode)
    with pytest.raises(OutcomeUnknownError, match="outcome unknown") as info:
        rpc.model("sale.sale", "create", [{"reference": "PO-1"}], idempotent=False)
    assert info.value.system == "erp"
    assert server.seen(mode) == [*LOGIN, "model.sale.sale.create"]


def test_erp_read_without_an_answer_is_retried_then_transient(server: Misbehaving) -> None:
    rpc = _rpc(server, "cut-off")
    with pytest.raises(TransientError):
        rpc.model("sale.sale", "search_read", [], 0, None, None, ["id"], idempotent=True)
    assert server.seen("cut-off") == [*LOGIN, *["model.sale.sale.search_read"] * POLICY.attempts]


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[Misbehaving]:
    """The loopback server behind TLS with a self-signed certificate no CA bundle trusts."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make the test's self-signed certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    httpd = Misbehaving()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    running = ServerThread(httpd, "http-untrusted-tls").start()
    try:
        yield httpd
    finally:
        running.stop()


@pytest.mark.parametrize("idempotent", [True, False])
def test_an_untrusted_certificate_is_permanent_and_nothing_is_sent(
    tls_server: Misbehaving, idempotent: bool
) -> None:
    url = tls_server.url.replace("http://", "https://") + "/tls/"
    error, attempts = post(url, idempotent=idempotent)
    assert caused_by(error, ssl.SSLCertVerificationError), repr(error.__cause__)
    assert type(error) is PermanentError and error.code == "tls" and not error.retryable
    assert "cannot verify the TLS certificate" in str(error) and "nothing was sent" in str(error)
    assert attempts == 1 and tls_server.seen("tls") == []
