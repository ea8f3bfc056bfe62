"""The production topology for real: CeleryExecutor on local PostgreSQL + Redis, two workers.

api-server (execution API), scheduler, dag-processor and two ``airflow celery worker``
processes with their own hostnames and queues. Partners' inboxes get several ORDERS files;
the real ``edi_orders_inbound`` DAG runs on the workers, and a race DAG makes worker A and
worker B drain the SAME inbox at the same time. The ledger's journal leases and interchange
records must leave exactly one ERP sale per order. Needs PostgreSQL at 127.0.0.1:5432 (trust,
user postgres), Redis at 127.0.0.1:6379 (db 13 is this test's) and the sandbox ERP.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from hub import airflow_env
from hub.settings import connection_json
from tests.fixtures.pg import create_database, drop_database

pytestmark = pytest.mark.integration

REDIS_URL = os.environ.get("HUB_TEST_CELERY_BROKER", "redis://127.0.0.1:6379/13")
PARTNERS = ("kaufhaus-nord", "markt-sued")
FILES_PER_PARTNER = 2
ORDERS_PER_FILE = 3
DEADLINE = 170.0

HOSTS_MODULE = '''"""Hostnames Airflow records on task instances, one per test worker."""


def worker_a() -> str:
    return "worker-a"


def worker_b() -> str:
    return "worker-b"
'''

RACE_DAG = '''"""Test DAG: worker A and worker B drain the same partner inbox at the same moment."""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import dag, task

from hub.dag_defaults import START, default_args


@dag(
    dag_id="hub_edi_race",
    schedule=None,
    start_date=START,
    catchup=False,
    default_args=default_args(retries=6, retry_delay=timedelta(seconds=2)),
)
def hub_edi_race():
    for partner in {partners!r}:
        for queue in ("hub_a", "hub_b"):

            @task(task_id=f"drain_{{queue}}_{{partner.replace('-', '_')}}", queue=queue)
            def drain(partner: str = partner) -> dict:
                from hub.flows import run_flow

                report = run_flow("edi_orders_inbound", partner=partner)
                report.pop("details", None)
                return {{"worker": os.environ["HUB_TEST_WORKER"], "report": report}}

            drain()


hub_edi_race()
'''


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _redis_ready() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping())
    except redis.RedisError:
        return False


@dataclass
class Topology:
    """The running processes, their logs and how to reach them."""

    root: Path
    env: dict[str, str]
    api: str
    meta_url: str
    ledger_url: str
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    token: str = ""

    def start(self, name: str, *args: str, **extra_env: str) -> None:
        log = self.root / "logs-proc" / f"{name}.log"
        log.parent.mkdir(exist_ok=True)
        with open(log, "wb") as out:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "airflow", *args],
                env={**self.env, **extra_env},
                cwd=self.root,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def logs(self) -> str:
        parts = []
        for name in self.procs:
            text = (self.root / "logs-proc" / f"{name}.log").read_text(errors="replace")
            parts.append(f"===== {name} =====\n{text[-3000:]}")
        return "\n".join(parts)

    def check_alive(self) -> None:
        dead = {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}
        if dead:
            pytest.fail(f"processes exited {dead}:\n{self.logs()}")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.request(method, f"{self.api}{path}", headers=headers, timeout=20.0, **kw)

    def wait(self, what: str, ready: Any, deadline: float) -> Any:
        while time.monotonic() < deadline:
            self.check_alive()
            value = ready()
            if value:
                return value
            time.sleep(0.5)  # polling interval, not synchronisation
        pytest.fail(f"timed out waiting for {what}:\n{self.logs()}")


@pytest.fixture
def topology(
    tmp_path: Path, pg_server: str, erp_server: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Topology]:
    if not _redis_ready():
        if os.environ.get("CI"):
            pytest.fail(f"Redis is not reachable at {REDIS_URL} (CI must have it)")
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()  # this test's own db number

    root = tmp_path
    dags = root / "dags"
    dags.mkdir()
    for dag_file in airflow_env.DAGS_FOLDER.glob("*.py"):
        shutil.copy(dag_file, dags / dag_file.name)
    (dags / "hub_edi_race.py").write_text(RACE_DAG.format(partners=list(PARTNERS)))
    pylib = root / "pylib"
    pylib.mkdir()
    (pylib / "hub_test_hosts.py").write_text(HOSTS_MODULE)

    meta_url = create_database(pg_server, "airflowtest")
    ledger_url = create_database(pg_server, "hubledger")
    port = _free_port()
    api = f"http://127.0.0.1:{port}"
    env = {**os.environ, **airflow_env.environment(root / "airflow")}
    env.update(
        {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": meta_url.replace(
                "postgresql://", "postgresql+psycopg://", 1
            ),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": meta_url.replace(
                "postgresql://", "postgresql+psycopg://", 1
            ),
            "AIRFLOW__CELERY__BROKER_URL": REDIS_URL,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+"
            + meta_url.replace("postgresql://", "postgresql+psycopg://", 1),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "120",
            "PYTHONPATH": os.pathsep.join([str(airflow_env.PROJECT_ROOT), str(pylib)]),
            "HUB_HOME": str(root / "hub"),
            "HUB_DATABASE_URL": ledger_url,
            "AIRFLOW_CONN_HUB_ERP": connection_json(**erp_server.hub_connection()),
        }
    )
    env.pop("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", None)
    topo = Topology(root, env, api, meta_url, ledger_url)
    try:
        airflow_env.ensure_db(env)  # airflow db migrate on PostgreSQL + the hub's pools
        topo.start("api-server", "api-server", "-H", "127.0.0.1", "-p", str(port))
        topo.start("scheduler", "scheduler")
        topo.start("dag-processor", "dag-processor")
        for name, queues in (("a", "default,hub_a"), ("b", "default,hub_b")):
            topo.start(
                f"worker-{name}",
                "celery",
                "worker",
                "--celery-hostname",
                f"worker-{name}@%h",
                "--queues",
                queues,
                "--concurrency",
                "2",
                "--skip-serve-logs",
                AIRFLOW__CORE__HOSTNAME_CALLABLE=f"hub_test_hosts.worker_{name}",
                HUB_TEST_WORKER=f"worker-{name}",
            )
        yield topo
    finally:
        topo.stop()
        drop_database(pg_server, meta_url)
        drop_database(pg_server, ledger_url)


def _drop_orders(hub_home: Path, unique: str) -> dict[str, list[str]]:
    """Several ORDERS files per partner inbox; returns partner -> order numbers."""
    from connectors.erp.tryton import TrytonErp
    from hub.config import load_partners
    from hub.settings import parse_connection
    from sandbox.partner import drop, make_orders, orders_interchange

    erp = TrytonErp.from_connection(parse_connection("hub_erp", os.environ["AIRFLOW_CONN_HUB_ERP"]))
    products = erp.list_products()
    profiles = load_partners()
    numbers: dict[str, list[str]] = {}
    for i, pid in enumerate(PARTNERS):
        profile = profiles[pid]
        for f in range(FILES_PER_PARTNER):
            orders = make_orders(
                profile.unb.partner_id,
                profile.unb.our_id,
                products,
                count=ORDERS_PER_FILE,
                lines=2,
                seed=10 * i + f + 1,
                prefix=f"C{unique}{i}{f}-",
            )
            numbers.setdefault(pid, []).extend(o.order_number for o in orders)
            data = orders_interchange(
                orders,
                sender=profile.unb.partner_id,
                recipient=profile.unb.our_id,
                control_ref=f"{unique[:6]}{i}{f}",
                syntax_identifier=profile.syntax_identifier,
                decimal_mark=profile.decimal_mark,
            )
            inbox = hub_home / (profile.channel.inbox or f"partners/{pid}/in")
            drop(inbox, f"orders_{pid}_{f}.edi", data)
    return numbers


def test_two_celery_workers_drain_the_same_inboxes_without_duplicates(
    topology: Topology, erp_operator: Any, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = time.monotonic()
    deadline = started + DEADLINE
    topo = topology
    monkeypatch.setenv("AIRFLOW_CONN_HUB_ERP", topo.env["AIRFLOW_CONN_HUB_ERP"])
    numbers = _drop_orders(Path(topo.env["HUB_HOME"]), unique)
    all_numbers = [n for ns in numbers.values() for n in ns]
    assert len(all_numbers) == len(PARTNERS) * FILES_PER_PARTNER * ORDERS_PER_FILE

    def api_up() -> bool:
        try:
            return httpx.get(f"{topo.api}/api/v2/monitor/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    topo.wait("the api-server", api_up, deadline)
    password = airflow_env.ensure_admin_password(
        topo.root / "airflow" / airflow_env.PASSWORDS_FILE_NAME
    )
    response = httpx.post(
        f"{topo.api}/auth/token", json={"username": "admin", "password": password}, timeout=10
    )
    assert response.status_code in (200, 201), response.text
    topo.token = response.json()["access_token"]

    for dag_id in ("hub_edi_race", "edi_orders_inbound"):
        topo.wait(
            f"DAG {dag_id} parsed",
            lambda d=dag_id: topo.call("GET", f"/api/v2/dags/{d}").status_code == 200,
            deadline,
        )
    runs: dict[str, str] = {}
    for dag_id in ("hub_edi_race", "edi_orders_inbound"):
        assert topo.call("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False}).is_success
        created = topo.call("POST", f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None})
        assert created.is_success, created.text
        runs[dag_id] = created.json()["dag_run_id"]

    def finished() -> dict[str, str] | None:
        states = {
            d: topo.call("GET", f"/api/v2/dags/{d}/dagRuns/{r}").json()["state"]
            for d, r in runs.items()
        }
        return states if all(s in ("success", "failed") for s in states.values()) else None

    states = topo.wait("both DAG runs to finish", finished, deadline)
    elapsed = time.monotonic() - started

    with psycopg.connect(topo.meta_url) as conn:
        tis = conn.execute(
            "SELECT dag_id, task_id, map_index, state, hostname, queue, try_number "
            "FROM task_instance ORDER BY dag_id, task_id, map_index"
        ).fetchall()
    assert states == {"hub_edi_race": "success", "edi_orders_inbound": "success"}, (
        states,
        tis,
        topo.logs(),
    )
    hosts = {row[4] for row in tis if row[3] == "success"}
    assert {"worker-a", "worker-b"} <= hosts, tis  # both workers ran tasks
    race = {(row[1], row[4]) for row in tis if row[0] == "hub_edi_race"}
    assert all(
        host == ("worker-a" if task.startswith("drain_hub_a") else "worker-b")
        for task, host in race
    ), race

    # Exactly one ERP sale per partner order, however many workers drained the inbox.
    sales = erp_operator.search_read(
        "sale.sale", [["reference", "in", all_numbers]], ["reference", "number"]
    )
    references = sorted(s["reference"] for s in sales)
    assert references == sorted(all_numbers), (len(references), len(all_numbers))

    # ...and the ledger journaled each sale once, done.
    with psycopg.connect(topo.ledger_url) as conn:
        rows = conn.execute(
            "SELECT key, state FROM journal WHERE key LIKE 'erp.sale%%' AND state = 'done'"
        ).fetchall()
        letters = conn.execute("SELECT error_class, payload FROM dead_letters").fetchall()
    keys = [k for k, _ in rows if any(k.endswith(":" + n) for n in all_numbers)]
    assert len(keys) == len(set(keys)) == len(all_numbers), rows
    # A race leaves no dead letter: the second drainer of the very same file sees its
    # interchange done, re-sends nothing new (the outbox writes each file once) and moves on.
    assert letters == [], letters
    # Every inbox is empty: each file taken out once, after its orders were acknowledged.
    for pid in PARTNERS:
        inbox = Path(topo.env["HUB_HOME"]) / "partners" / pid / "in"
        assert [p.name for p in inbox.iterdir() if p.is_file()] == []
    # Real worker task logs, process logs and the hub's files never carry the ERP password.
    secret = json.loads(topo.env["AIRFLOW_CONN_HUB_ERP"])["password"].encode()
    task_logs = list((topo.root / "airflow" / "logs").rglob("*.log"))
    assert task_logs, "the workers wrote no task logs"
    scanned = [p for p in topo.root.rglob("*") if p.is_file() and "pylib" not in p.parts]
    assert [str(p) for p in scanned if secret in p.read_bytes()] == []
    print(f"celery topology: {len(all_numbers)} orders, {len(tis)} task instances, {elapsed:.0f} s")
