"""`hub sandbox erp|crm|carrier` start real servers in the foreground that answer on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _hub(*args: str, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _wait_for(check: Callable[[], bool], proc: subprocess.Popen[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the sandbox exited early ({proc.returncode}): {proc.stdout.read()}")  # type: ignore[union-attr]
        try:
            if check():
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    pytest.fail(f"the sandbox did not answer within {timeout} s")


def test_sandbox_crm_answers_with_its_rate_limit() -> None:
    port = _free_port()
    with _hub(
        "sandbox", "crm", "--port", str(port), "--rate-limit", "50", "--seed", "1",
        env={"HUB_SANDBOX_CRM_TOKEN": "sandbox-cli-token"},
    ) as proc:  # fmt: skip
        url = f"http://127.0.0.1:{port}/crm/v3/objects/companies/batch/read"
        headers = {"Authorization": "Bearer sandbox-cli-token"}

        def answers() -> bool:
            resp = requests.post(url, json={"inputs": []}, headers=headers, timeout=2)
            return resp.headers.get("X-HubSpot-RateLimit-Max") == "50"

        _wait_for(answers, proc, 30)


def test_sandbox_carrier_serves_the_wsdl(shared_dir: Path) -> None:
    port = _free_port()
    with _hub("sandbox", "carrier", "--port", str(port)) as proc:

        def answers() -> bool:
            resp = requests.get(f"http://127.0.0.1:{port}/bcs?wsdl", timeout=2)
            return resp.ok and f"127.0.0.1:{port}/bcs" in resp.text

        _wait_for(answers, proc, 30)


def test_sandbox_erp_answers_json_rpc(tmp_path: Path, erp_template: str) -> None:
    port = _free_port()
    with _hub(
        "sandbox", "erp", "--port", str(port), "--db", str(tmp_path / "erp.sqlite"),
        env={"HUB_SANDBOX_ERP_PASSWORD": "sandbox-cli-password"},
    ) as proc:  # fmt: skip

        def answers() -> bool:
            resp = requests.post(
                f"http://127.0.0.1:{port}/erp/rpc/",
                json={
                    "id": 1,
                    "method": "common.db.login",
                    "params": ["admin", {"password": "sandbox-cli-password"}],
                },
                timeout=2,
            )
            return resp.ok and isinstance(resp.json().get("result"), list)

        _wait_for(answers, proc, 90)
