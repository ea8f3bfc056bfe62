"""Alerts by e-mail: the shared DAG defaults' notifiers against a real local SMTP server."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from hub.ledger import Ledger, utcnow

pytestmark = pytest.mark.integration

SMTP_LOGIN = "hub-alerts"
# Generated, so that no file holding this module's source (Airflow keeps DAG source code in
# its metadata DB) contains the values: the secrets scan then finds only real leaks.
SMTP_PASSWORD = f"SMTP-pw-{uuid.uuid4().hex[:12]}"
ERP_PASSWORD = f"ERP-pw-{uuid.uuid4().hex[:12]}"
OPS_URL = "http://ops.example.test:8080/hub/"


@dataclass
class Mailbox:
    """What the local SMTP server received, and who logged in."""

    messages: list[EmailMessage] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    def wait(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)  # polling the server's inbox, not synchronisation by sleep
        return list(self.messages)


@pytest.fixture
def smtp_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    """aiosmtpd on 127.0.0.1 requiring AUTH; AIRFLOW_CONN_HUB_SMTP points at it."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    box = Mailbox()
    with socket.socket() as sock:  # aiosmtpd's readiness probe needs a real port, not 0
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            raw = envelope.content
            message = email.message_from_bytes(raw, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            box.messages.append(message)
            return "250 OK"

    def authenticator(
        server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == SMTP_LOGIN
            and auth_data.password.decode() == SMTP_PASSWORD
        )
        if ok:
            box.logins.append(SMTP_LOGIN)
        return AuthResult(success=ok)

    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    try:
        from hub.settings import connection_json

        monkeypatch.setenv(
            "AIRFLOW_CONN_HUB_SMTP",
            connection_json(
                conn_type="smtp",
                host="127.0.0.1",
                port=port,
                login=SMTP_LOGIN,
                password=SMTP_PASSWORD,
                extra={"from": "hub@example.test", "to": "ops@example.test", "starttls": False},
            ),
        )
        monkeypatch.setenv("HUB_OPS_URL", OPS_URL)
        yield box
    finally:
        controller.stop()


@pytest.fixture
def hub_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ledger]:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    monkeypatch.setenv("HUB_HOME", str(tmp_path / "hub"))
    monkeypatch.setenv("HUB_DATABASE_URL", url)
    monkeypatch.setenv(
        "AIRFLOW_CONN_HUB_ERP",
        json.dumps({"conn_type": "tryton", "host": "127.0.0.1", "password": ERP_PASSWORD}),
    )
    ledger = Ledger(url)
    ledger.upgrade()
    yield ledger
    ledger.dispose()


def run_probe(dag: Any, tmp_path: Path, conf: dict[str, Any] | None = None) -> str:
    """``dag.test()`` a DAG defined in a test: serialize it into the metadata DB first (dag.test
    only serializes DAGs found in a bundle); return the run's state."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    empty = tmp_path / "no-dags"
    empty.mkdir(exist_ok=True)
    bag = DagBag(dag_folder=str(empty))
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)
    run = dag.test(run_conf=conf)
    return str(getattr(run.state, "value", run.state))


def one_task_dag(dag_id: str, task_id: str, body: Callable[[], object]) -> Any:
    """A DAG (the project's default args, no retries) whose one task ``task_id`` runs ``body``."""
    from airflow.sdk import dag, task

    from hub.dag_defaults import START, default_args

    @dag(dag_id=dag_id, schedule=None, start_date=START, default_args=default_args(retries=0))
    def probe() -> None:
        task(task_id=task_id)(body)()

    return probe()


def _one_mail(smtp_server: Mailbox) -> tuple[EmailMessage, str]:
    """The one mail the run sent, and its subject unfolded."""
    messages = smtp_server.wait(1)
    assert len(messages) == 1, [m["Subject"] for m in messages]
    return messages[0], " ".join(str(messages[0]["Subject"]).split())


def _text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def _assert_no_secrets(message: EmailMessage) -> None:
    raw = message.as_string()
    for secret in (SMTP_PASSWORD, ERP_PASSWORD):
        assert secret not in raw


def test_a_failed_task_sends_one_mail_naming_dag_task_and_partner(
    airflow_home: Path, smtp_server: Mailbox, hub_ledger: Ledger, tmp_path: Path
) -> None:
    def push_orders() -> None:
        from schemas.errors import PermanentError

        raise PermanentError(
            "ERP refused the order PO-4711: unknown customer\n"
            f"(connection details: password={ERP_PASSWORD})",
            system="erp",
        )

    probe = one_task_dag("notify_probe_failure", "push_orders", push_orders)
    assert run_probe(probe, tmp_path, {"partner": "kaufhaus-nord"}) == "failed"

    mail, subject = _one_mail(smtp_server)
    assert "FAILED" in subject
    assert "notify_probe_failure.push_orders" in subject
    assert "partner=kaufhaus-nord" in subject
    text = _text(mail)
    assert "PermanentError: [erp] ERP refused the order PO-4711: unknown customer" in text
    assert OPS_URL in text
    assert mail["To"] == "ops@example.test"
    assert smtp_server.logins == [SMTP_LOGIN]  # it logged in with the connection's password
    _assert_no_secrets(mail)


def test_new_dead_letters_send_a_mail_with_flow_partner_and_count(
    airflow_home: Path, smtp_server: Mailbox, hub_ledger: Ledger, tmp_path: Path
) -> None:
    flow = "notify_probe_dead_letters"
    # An older open letter is not news: only what this run files counts.
    hub_ledger.dead_letter(flow, "old-1", "old", error_class="PermanentError", partner="markt-sued")
    hub_ledger.backdate_dead_letters(utcnow() - timedelta(hours=3))

    def process_partner() -> dict[str, int]:
        from hub.bootstrap import Hub

        hub = Hub.from_env()
        for order in ("PO-1", "PO-2"):
            hub.ledger.dead_letter(
                flow,
                f"erp.sale:4000001000001:{order}",
                f"unknown GTIN on {order}",
                error_class="PermanentError",
                system="erp",
                partner="kaufhaus-nord",
            )
        hub.close()
        return {"dead_letters": 2}

    probe = one_task_dag(flow, "process_partner", process_partner)
    assert run_probe(probe, tmp_path) == "success"

    mail, subject = _one_mail(smtp_server)
    assert subject == f"[hub] 2 new dead letter(s) in {flow}/kaufhaus-nord: 2"
    text = _text(mail)
    assert f"flow {flow}, partner kaufhaus-nord: 2" in text
    assert OPS_URL in text
    assert f"hub dead-letters list --flow {flow}" in text
    assert "markt-sued" not in text
    _assert_no_secrets(mail)


def test_a_clean_run_sends_nothing(
    airflow_home: Path, smtp_server: Mailbox, hub_ledger: Ledger, tmp_path: Path
) -> None:
    assert run_probe(one_task_dag("notify_probe_clean", "noop", lambda: 1), tmp_path) == "success"
    # The notifier ran synchronously inside dag.test(): had it mailed, the mail would be here.
    assert smtp_server.wait(1, timeout=1.0) == []
