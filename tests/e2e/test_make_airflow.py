"""`make airflow` for real: the launcher starts api-server, scheduler, dag-processor and
triggerer on 127.0.0.1 with the hub's DAGs, plugin and pools; a DAG triggered over Airflow's
REST API runs to success; nothing listens beyond loopback; SIGTERM stops every process."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from hub import airflow_env

pytestmark = pytest.mark.e2e

DEADLINE = 400.0  # two busy cores: the first start of four Airflow processes takes minutes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Launcher:
    def __init__(self, root: Path, env_file: dict[str, str] | None = None) -> None:
        self.root, self.port = root, _free_port()
        dotenv = root / ("hub.env" if env_file else "none.env")
        if env_file:  # connections for the DAG runs, as `make airflow` reads them from .env
            dotenv.write_text("".join(f"{k}='{v}'\n" for k, v in env_file.items()))
        self.api = f"http://127.0.0.1:{self.port}"
        self.out = root / "launcher.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update(AIRFLOW_HOME=str(root / "airflow"), HUB_HOME=str(root / "hub"))
        env.pop("HUB_DATABASE_URL", None)
        env.pop("HUB_CONFIG_DIR", None)
        with open(self.out, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hub.airflow_local", "--port", str(self.port),
                 "--env-file", str(dotenv)],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                cwd=airflow_env.PROJECT_ROOT,
            )  # fmt: skip
        self.token = ""

    def log(self) -> str:
        text = self.out.read_text(errors="replace")
        logs = self.root / "airflow" / "local-logs"
        for path in sorted(logs.glob("*.log")) if logs.exists() else []:
            text += f"\n===== {path.name} =====\n" + path.read_text(errors="replace")[-2500:]
        return text

    def wait(self, what: str, ready: Any, deadline: float) -> Any:
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"the launcher exited ({self.proc.returncode}):\n{self.log()}")
            try:
                value = ready()
            except httpx.HTTPError:
                value = None
            if value:
                return value
            time.sleep(1)  # polling servers that are starting, not synchronisation
        pytest.fail(f"timed out waiting for {what}:\n{self.log()}")

    def __enter__(self) -> Launcher:
        return self

    def __exit__(self, *exc: object) -> None:
        """Stops it as a person does (SIGTERM: the launcher stops its components, which run
        in sessions of their own), then kills whatever of its process tree is left."""
        if self.proc.poll() is not None:
            return
        tree = [psutil.Process(self.proc.pid), *psutil.Process(self.proc.pid).children(True)]
        os.killpg(self.proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=90)
        for proc in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        self.proc.wait()

    def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.request(method, f"{self.api}{path}", headers=headers, timeout=30.0, **kw)


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    with Launcher(tmp_path) as started:
        yield started


def test_make_airflow_runs_a_triggered_dag_on_loopback_and_stops_cleanly(
    launcher: Launcher,
) -> None:
    deadline = time.monotonic() + DEADLINE
    password = _logged_in(launcher, deadline)
    text = launcher.out.read_text()
    assert f"Airflow is up: {launcher.api}" in text
    assert password not in text  # not a terminal: the path is printed, not the password

    pools = launcher.call("GET", "/api/v2/pools").json()["pools"]
    assert set(airflow_env.POOLS) <= {p["name"] for p in pools}
    dag = "edi_orders_inbound"
    parsed = lambda: launcher.call("GET", f"/api/v2/dags/{dag}").is_success  # noqa: E731
    launcher.wait(f"DAG {dag} parsed", parsed, deadline)
    assert launcher.call("PATCH", f"/api/v2/dags/{dag}", json={"is_paused": False}).is_success
    conf = {"partner": "kaufhaus-nord"}
    created = launcher.call(
        "POST", f"/api/v2/dags/{dag}/dagRuns", json={"logical_date": None, "conf": conf}
    )
    assert created.is_success, created.text
    run_id = created.json()["dag_run_id"]

    def finished() -> str | None:
        state = launcher.call("GET", f"/api/v2/dags/{dag}/dagRuns/{run_id}").json()["state"]
        return state if state in ("success", "failed") else None

    assert launcher.wait(f"run {run_id}", finished, deadline) == "success", launcher.log()
    plugin = launcher.call("GET", "/hub/health")
    assert plugin.is_success and "flows" in plugin.json()  # the hub's plugin is loaded

    tree = [psutil.Process(launcher.proc.pid), *psutil.Process(launcher.proc.pid).children(True)]
    listening = {
        (c.laddr.ip, c.laddr.port)
        for p in tree
        for c in p.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    }
    assert listening and all(ip == "127.0.0.1" for ip, _ in listening), listening

    os.killpg(launcher.proc.pid, signal.SIGTERM)
    assert launcher.proc.wait(timeout=90) == 0, launcher.log()
    assert not [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def _logged_in(launcher: Launcher, deadline: float) -> str:
    """Waits for the login line, takes a JWT for the REST calls; returns the password."""
    launcher.wait("the login line", lambda: "login: admin" in launcher.out.read_text(), deadline)
    passwords = launcher.root / "airflow" / airflow_env.PASSWORDS_FILE_NAME
    password = str(json.loads(passwords.read_text())["admin"])
    token = httpx.post(f"{launcher.api}/auth/token",
                       json={"username": "admin", "password": password}, timeout=30)  # fmt: skip
    assert token.is_success, token.text
    launcher.token = token.json()["access_token"]
    return password


def test_a_signed_crm_webhook_triggers_a_crm_sync_dag_run_over_the_rest_api(
    tmp_path: Path, erp_server: Any, crm_server: Any
) -> None:
    from hub.webhooks.airflow import AirflowTrigger
    from hub.webhooks.server import SyncTrigger, WebhookServer
    from tests.fixtures.connections import erp_connection
    from tests.fixtures.crm import crm_connection

    env = {
        "AIRFLOW_CONN_HUB_ERP": erp_connection(erp_server.url, erp_server.database,
                                               erp_server.login, erp_server.password),
        "AIRFLOW_CONN_HUB_CRM": crm_connection(crm_server.url, crm_server.token),
    }  # fmt: skip
    with Launcher(tmp_path, env) as started:
        deadline = time.monotonic() + DEADLINE
        password = _logged_in(started, deadline)
        dag = "crm_sync"
        parsed = lambda: started.call("GET", f"/api/v2/dags/{dag}").is_success  # noqa: E731
        started.wait(f"DAG {dag} parsed", parsed, deadline)
        assert started.call("PATCH", f"/api/v2/dags/{dag}", json={"is_paused": False}).is_success
        trigger = SyncTrigger(AirflowTrigger(started.api, "admin", password))
        with WebhookServer("app-client-secret", trigger) as hooks:
            crm_server.send_webhooks(hooks.url, "app-client-secret")
            company = crm_server.user_create("companies", {
                "name": "Webhook Kunde AG", "zip": "20095", "country": "DE",
                "lifecyclestage": "customer",
            })["id"]  # fmt: skip
            triggered = started.wait("the webhook's DAG run", lambda: trigger.runs, deadline)
        changes, run = triggered[0]
        assert [c.ref for c in changes] == [f"companies:{company}"]
        assert isinstance(run, dict), run  # not an error
        assert run["conf"] == {"changes": [f"companies:{company}"]}
        run_id = run["dag_run_id"]

        def finished() -> str | None:
            state = started.call("GET", f"/api/v2/dags/{dag}/dagRuns/{run_id}").json()["state"]
            return state if state in ("success", "failed") else None

        assert started.wait(f"run {run_id}", finished, deadline) == "success", started.log()
        record = next(r for r in crm_server.records("companies") if r["id"] == company)
        assert record["properties"].get("hub_erp_id")  # the pull made the ERP party, linked it
