"""A client killed mid-request (headers sent, body cut off) leaves the sandbox CRM unchanged.

A real server drops such a request; the sandbox CRM used to process it with an empty body
and record a contract violation against the client (seen when a test SIGKILLs a sync in the
middle of a batch upsert). The fixtures' teardown asserts no contract violation.
"""

from __future__ import annotations

import http.client
import json
import socket
from urllib.parse import urlsplit

import pytest

from sandbox.crm import SandboxCrm

pytestmark = pytest.mark.integration


def _cut_off_post(url: str, path: str, body: bytes, headers: dict[str, str]) -> None:
    """POST ``path`` declaring ``len(body)`` bytes, send a third of them, then close."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        head = [f"POST {path} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body[: len(body) // 3])
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(30)
        while sock.recv(4096):  # until the server closes its side
            pass


def test_the_sandbox_crm_drops_a_request_cut_off_mid_body(crm_server: SandboxCrm) -> None:
    body = json.dumps(
        {"inputs": [{"idProperty": "hub_erp_id", "id": "P1", "properties": {"name": "Cut"}}]}
    ).encode()
    headers = {"Authorization": f"Bearer {crm_server.token}", "Content-Type": "application/json"}
    path = "/crm/v3/objects/companies/batch/upsert"
    _cut_off_post(crm_server.url, path, body, headers)
    assert crm_server.store.all_records("companies") == []
    assert crm_server.contract_violations == []
    # the same request sent whole is served as before
    parts = urlsplit(crm_server.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.request("POST", path, body, headers)
    assert conn.getresponse().status == 200
    conn.close()
    assert [r["properties"]["name"] for r in crm_server.store.all_records("companies")] == ["Cut"]
