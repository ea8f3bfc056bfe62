"""Signed webhooks, the real path: the sandbox CRM POSTs HubSpot v3-signed events to the
hub's webhook server, which runs the CRM flow at once; forged or stale requests do nothing."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from bench.crm_sync import seed_erp
from connectors.crm import CrmClient
from hub.bootstrap import Hub
from hub.ledger import Ledger
from hub.webhooks.server import CrmChange, SyncTrigger, WebhookServer, flow_trigger
from sandbox.crm import SandboxCrm
from sandbox.crm_webhooks import WebhookSender
from tests.fixtures.hub import sqlite_ledger_fixture  # noqa: F401 - the SQLite ledger

pytestmark = pytest.mark.integration

SECRET = "sandbox-app-client-secret"


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        threading.Event().wait(0.05)


def test_a_person_s_change_in_the_crm_reaches_the_erp_through_a_signed_webhook(
    crm_server: SandboxCrm, ledger: Ledger
) -> None:
    erp = seed_erp(2, products=2)
    hub = Hub(ledger, erp=erp, crm=CrmClient(crm_server.url, crm_server.token))
    trigger = SyncTrigger(flow_trigger(hub, "crm_pull"))
    with WebhookServer(SECRET, trigger) as server:
        sender = crm_server.send_webhooks(server.url, SECRET)
        crm_server.user_create(
            "companies",
            {
                "name": "Webhook Kunde AG",
                "zip": "28195",
                "country": "DE",
                "lifecyclestage": "customer",
            },
        )
        wait_for(lambda: any(p.name == "Webhook Kunde AG" for p in erp.parties.values()),
                 "the ERP party of the company typed in the CRM")  # fmt: skip

    changes = [c for batch, _ in trigger.runs for c in batch]
    assert CrmChange("companies", changes[0].object_id, "creation") in changes
    assert sender.sent >= 1 and server.refused == 0
    report = trigger.runs[0][1]
    assert report["status"] == "ok" and report["erp_parties_created"] == 1
    assert report["companies_named"] >= 1  # the webhook's company, read by id


def test_forged_and_stale_webhooks_are_refused_and_trigger_nothing() -> None:
    runs: list[Sequence[CrmChange]] = []

    def record(changes: Sequence[CrmChange]) -> dict[str, Any]:
        runs.append(changes)
        return {"status": "ok"}

    with WebhookServer(SECRET, SyncTrigger(record)) as server:
        forged = WebhookSender(server.url, "not-the-secret")
        forged.notify("deals", "42", "propertyChange")
        wait_for(lambda: server.refused == 1, "the forged webhook to be refused")
        forged.close()
        honest = WebhookSender(server.url, SECRET)
        body = json.dumps([{"objectId": 42, "subscriptionType": "deal.creation"}]).encode()
        stale = honest.signed_request(body, int(time.time() * 1000) - 6 * 60 * 1000)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(stale, timeout=30)
        assert refused.value.code == 401 and b"stale" in refused.value.read()
        fresh = honest.signed_request(body, int(time.time() * 1000))
        with urllib.request.urlopen(fresh, timeout=30) as answer:
            assert answer.status == 204
        wait_for(lambda: len(runs) == 1, "the honest webhook's run")
        honest.close()

    assert server.refused == 2
    assert runs == [[CrmChange("deals", "42", "creation")]]
