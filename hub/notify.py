"""Airflow notifiers e-mailing IT ops: a task failed, or a flow run filed new dead letters.

Mail goes out through the ``hub_smtp`` connection (``AIRFLOW_CONN_HUB_SMTP``: host, port,
login, password; extra ``from``, ``to`` (comma separated), ``starttls`` (default true when a
login is set)); mails link the ops page at ``$HUB_OPS_URL`` (default
``http://localhost:8080/hub/``). Without that connection the notifiers log a warning and send
nothing, so a development run never fails for want of a mail server. Messages name the DAG,
task, flow, partner and counts and link the ops page; they never carry the exception's
arguments beyond its first line, connection details or any credential.

Imported by ``hub.dag_defaults`` at DAG parse time: only the standard library and
``airflow.sdk`` at module level.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from airflow.sdk import BaseNotifier

log = logging.getLogger(__name__)

SMTP_CONN_ID = "hub_smtp"
DEFAULT_OPS_URL = "http://localhost:8080/hub/"

# DAG id -> the ledger flow names whose dead letters its runs file (default: the DAG id).
DAG_FLOWS: dict[str, tuple[str, ...]] = {
    "crm_sync": ("crm_sync", "crm_push", "crm_pull"),
    "logistics_sync": ("logistics_shipments", "logistics_tracking"),
}


def ops_url() -> str:
    """Where the ops page is, for links in mails."""
    return os.environ.get("HUB_OPS_URL") or DEFAULT_OPS_URL


def send_mail(subject: str, body: str) -> bool:
    """Send one plain-text mail through ``hub_smtp``; False (and a warning) when unconfigured."""
    from hub import settings
    from schemas.errors import PermanentError

    try:
        conn = settings.connection(SMTP_CONN_ID)
    except PermanentError:
        log.warning("no %s connection configured: alert not sent: %s", SMTP_CONN_ID, subject)
        return False
    extra = conn.extra
    recipients = [a.strip() for a in str(extra.get("to", "")).split(",") if a.strip()]
    if not recipients:
        log.warning("%s has no 'to' in its extra: alert not sent: %s", SMTP_CONN_ID, subject)
        return False
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = str(extra.get("from") or "erp-sales-hub@localhost")
    message["To"] = ", ".join(recipients)
    message.set_content(body)
    starttls = str(extra.get("starttls", "true" if conn.login else "false")).lower() == "true"
    timeout = float(extra.get("timeout", 30))
    with smtplib.SMTP(conn.host or "127.0.0.1", conn.port or 25, timeout=timeout) as smtp:
        if starttls:
            smtp.starttls(context=ssl.create_default_context())
        if conn.login:
            smtp.login(conn.login, conn.password or "")
        smtp.send_message(message)
    log.info("alert sent to %d recipient(s): %s", len(recipients), subject)
    return True


def _first_line(exc: BaseException | None) -> str:
    if exc is None:
        return "(no exception recorded)"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}"


def _partner(ti: Any, dag_run: Any) -> str | None:
    """The partner a task worked for: the run's conf, else a mapped task's rendered map index."""
    conf = getattr(dag_run, "conf", None) or {}
    if conf.get("partner"):
        return str(conf["partner"])
    label = getattr(ti, "rendered_map_index", None)
    return str(label) if label else None


class FailureNotifier(BaseNotifier):
    """``on_failure_callback``: one mail per failed task instance."""

    def notify(self, context: Mapping[str, Any]) -> None:
        ti = context.get("ti") or context.get("task_instance")
        dag_run = context.get("dag_run")
        dag_id = getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", "?")
        task_id = getattr(ti, "task_id", "?")
        map_index = getattr(ti, "map_index", -1)
        partner = _partner(ti, dag_run)
        run_id = getattr(dag_run, "run_id", None) or context.get("run_id", "?")
        where = f" partner={partner}" if partner else ""
        subject = f"[hub] FAILED {dag_id}.{task_id}{where} (try {getattr(ti, 'try_number', '?')})"
        body = "\n".join(
            [
                f"Task {task_id} of DAG {dag_id} failed.",
                f"  run: {run_id}",
                f"  map index: {map_index}",
                f"  partner: {partner or '-'}",
                f"  try: {getattr(ti, 'try_number', '?')}",
                f"  error: {_first_line(context.get('exception'))}",
                "",
                f"Ops page: {ops_url()}",
                "Task log: in Airflow, DAG " + str(dag_id) + f", run {run_id}, task {task_id}.",
            ]
        )
        send_mail(subject, body)


def new_dead_letters(flows: Iterable[str], since: datetime) -> Counter[tuple[str, str]]:
    """Open dead letters of ``flows`` filed at or after ``since``: (flow, partner) -> count."""
    from sqlalchemy.exc import ProgrammingError

    from hub.bootstrap import Hub
    from schemas.errors import TransientError

    hub = Hub.from_env(migrate=False)
    counts: Counter[tuple[str, str]] = Counter()
    try:
        for flow in flows:
            for letter in hub.ledger.dead_letters(state="open", flow=flow):
                if letter.updated_at >= since:
                    counts[(letter.flow, letter.partner or "-")] += 1
    except (TransientError, ProgrammingError) as exc:  # no ledger yet: nothing was filed
        log.warning("ledger not readable for dead-letter alerts: %s", type(exc).__name__)
    finally:
        hub.close()
    return counts


class DeadLetterNotifier(BaseNotifier):
    """``on_success_callback``: a mail when the task's flow run filed new dead letters."""

    def notify(self, context: Mapping[str, Any]) -> None:
        ti = context.get("ti") or context.get("task_instance")
        dag_id = getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", "")
        since = getattr(ti, "start_date", None)
        if not dag_id or since is None:
            return
        partner = _partner(ti, context.get("dag_run"))
        counts = new_dead_letters(DAG_FLOWS.get(dag_id, (dag_id,)), since)
        if partner:
            counts = Counter({k: n for k, n in counts.items() if k[1] in (partner, "-")})
        if not counts:
            return
        total = sum(counts.values())
        groups = ", ".join(f"{flow}/{p}: {n}" for (flow, p), n in sorted(counts.items()))
        subject = f"[hub] {total} new dead letter(s) in {groups}"
        filters = sorted({flow for flow, _ in counts})
        body = "\n".join(
            [
                f"Task {getattr(ti, 'task_id', '?')} of DAG {dag_id} filed {total} new dead "
                "letter(s) that need a person:",
                *(f"  flow {flow}, partner {p}: {n}" for (flow, p), n in sorted(counts.items())),
                "",
                f"Ops page: {ops_url()}",
                *(f"List them: hub dead-letters list --flow {flow}" for flow in filters),
            ]
        )
        send_mail(subject, body)
