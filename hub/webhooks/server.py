"""The hub's webhook server: signed CRM change events trigger the CRM DAG (or a sync) at once.

``POST /webhooks/crm`` takes HubSpot's event batches (``[{"objectId", "subscriptionType":
"deal.propertyChange", ...}]``), refuses any request without a fresh, valid v3 signature
(401, nothing triggered), answers 204 at once and hands the changed objects to a
``SyncTrigger``: one background worker, coalescing what arrives while it works into one
more call. With the ``hub_airflow_api`` connection configured the call triggers a run of
the ``crm_sync`` DAG over Airflow's REST API, its conf naming the changed objects
(``hub/webhooks/airflow.py``); without it, ``crm_sync`` runs in this process through the
flow registry, like the DAG's tasks. The 15-minute schedule stays the safety net (a lost
webhook is picked up by it; the pull reads everything changed since its cursor). The
secret is the HubSpot app's client secret: ``$HUB_CRM_WEBHOOK_SECRET`` or the password of
the ``hub_crm_webhook`` connection, never config. Standard library ``http.server``: one
endpoint needs no web framework.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from hub.webhooks.changes import CHANGES, CrmChange, conf_changes, parse_events
from hub.webhooks.signature import SignatureError, verify
from schemas.errors import HubError, PermanentError

log = logging.getLogger(__name__)

PATH = "/webhooks/crm"
SECRET_ENV = "HUB_CRM_WEBHOOK_SECRET"
SECRET_CONN = "hub_crm_webhook"
MAX_BODY = 1_000_000


def webhook_secret() -> str:
    """The app's client secret from the environment or the ``hub_crm_webhook`` connection."""
    secret = os.environ.get(SECRET_ENV)
    if secret:
        return secret
    from hub import settings

    try:
        secret = settings.connection(SECRET_CONN).password
    except PermanentError:
        secret = None
    if not secret:
        raise PermanentError(
            f"no CRM webhook secret: set {SECRET_ENV} or the password of the {SECRET_CONN} "
            "connection to the HubSpot app's client secret",
            system="webhooks",
        )
    return secret


@dataclass
class SyncTrigger:
    """Runs ``run(changes)`` in one background thread; changes arriving meanwhile are
    coalesced into the next run. ``runs`` keeps each run's changes and report (or error)."""

    run: Callable[[Sequence[CrmChange]], dict[str, Any]]
    runs: list[tuple[list[CrmChange], Any]] = field(default_factory=list)
    _pending: list[CrmChange] = field(default_factory=list)
    _wake: threading.Condition = field(default_factory=threading.Condition)
    _stopped: bool = False
    _thread: threading.Thread | None = None

    def start(self) -> SyncTrigger:
        self._thread = threading.Thread(target=self._loop, name="crm-webhook-sync", daemon=True)
        self._thread.start()
        return self

    def submit(self, changes: Sequence[CrmChange]) -> None:
        with self._wake:
            self._pending.extend(changes)
            self._wake.notify_all()

    def wait(self, runs: int, timeout: float) -> bool:
        """Block until ``runs`` calls have finished; False if ``timeout`` seconds pass first."""
        with self._wake:
            return self._wake.wait_for(lambda: len(self.runs) >= runs, timeout)

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def _loop(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._stopped:
                    self._wake.wait()
                if self._stopped:
                    return
                batch, self._pending = self._pending, []
            try:
                outcome: Any = self.run(batch)
            except HubError as exc:  # the schedule retries; the next webhook too
                log.warning("crm webhook sync failed: %s", exc)
                outcome = exc
            with self._wake:
                self.runs.append((batch, outcome))
                self._wake.notify_all()


def flow_trigger(hub: Any, flow: str = "crm_sync") -> Callable[[Sequence[CrmChange]], Any]:
    """Run ``flow`` through the flow registry, as the CRM DAG's task does, with the changed
    objects as its ``changes`` parameter when it takes one (the pull reads them by id)."""
    from hub.flows.registry import descriptor

    named = descriptor(flow).param(CHANGES) is not None

    def run(changes: Sequence[CrmChange]) -> dict[str, Any]:
        from hub.flows import run_flow

        log.info("crm webhook: %d changed objects, running %s", len(changes), flow)
        params = {CHANGES: conf_changes(changes)} if named else {}
        return run_flow(flow, hub=hub, **params)

    return run


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "HubWebhooks/1.0"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("webhooks: " + format, *args)

    def do_POST(self) -> None:
        server = cast("WebhookServer", self.server)
        length = int(self.headers.get("Content-Length") or 0)
        if self.path.split("?")[0] != PATH or length > MAX_BODY:
            self._answer(404 if length <= MAX_BODY else 413, "not here")
            return
        body = self.rfile.read(length)
        uri = f"{server.public_base or 'http://' + (self.headers.get('Host') or '')}{self.path}"
        try:
            verify(server.secret, "POST", uri, body, dict(self.headers.items()))
            changes = parse_events(body)
        except SignatureError as exc:
            server.refused += 1
            self._answer(401, f"refused: {exc}")
            return
        except (ValueError, AttributeError) as exc:
            self._answer(400, f"not a HubSpot event batch: {exc}")
            return
        if changes:
            server.trigger.submit(changes)
        self._answer(204, None)

    def _answer(self, status: int, text: str | None) -> None:
        data = json.dumps({"message": text}).encode() if text else b""
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        if data:
            self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(data)


class WebhookServer(ThreadingHTTPServer):
    """``with WebhookServer(secret, trigger) as server: server.url`` (loopback by default;
    put a TLS proxy in front and pass its ``public_base``, the URL HubSpot signs)."""

    daemon_threads = True

    def __init__(
        self,
        secret: str,
        trigger: SyncTrigger,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        public_base: str | None = None,
    ) -> None:
        super().__init__((host, port), _Handler)
        self.secret = secret
        self.trigger = trigger
        self.public_base = public_base.rstrip("/") if public_base else None
        self.refused = 0
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}{PATH}"

    def __enter__(self) -> WebhookServer:
        self.trigger.start()
        self._thread = threading.Thread(target=self.serve_forever, name="webhooks", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
        self.trigger.stop()


def serve_command(port: int = 8787, host: str = "127.0.0.1", public_base: str = "") -> None:
    """Receive signed HubSpot webhooks at /webhooks/crm: trigger the crm_sync DAG (with the
    hub_airflow_api connection), else run crm_sync here, for each batch of changes."""
    from hub.webhooks.airflow import airflow_trigger

    run: Callable[[Sequence[CrmChange]], dict[str, Any]] | None = airflow_trigger()
    target = f"a crm_sync DAG run ({run!r})"
    if run is None:
        from hub.bootstrap import Hub

        run, target = flow_trigger(Hub.from_env()), "crm_sync in this process"
    with WebhookServer(webhook_secret(), SyncTrigger(run), host=host, port=port,
                       public_base=public_base or None) as server:  # fmt: skip
        print(f"CRM webhooks at {server.url} -> {target}; Ctrl-C stops", flush=True)
        threading.Event().wait()
