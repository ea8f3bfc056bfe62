"""Sandbox CRM webhooks: what a person changes in the CRM is POSTed, signed like HubSpot v3.

Events are HubSpot's shape (``subscriptionType`` ``company.propertyChange``,
``deal.creation``, ``company.merge`` ...), sent in batches from a background thread so the
change itself never waits; the signature is base64 HMAC-SHA256 of method + URI + body +
timestamp (ms) with the app's client secret, in ``X-HubSpot-Signature-v3`` with
``X-HubSpot-Request-Timestamp``. Only changes made as a CRM user (the ``user_*`` calls) are
sent: the hub's own API writes would only come back as echoes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import logging
import queue
import threading
import time
import urllib.request
from typing import Any

log = logging.getLogger(__name__)

SINGULAR = {"companies": "company", "contacts": "contact", "deals": "deal",
            "line_items": "line_item", "products": "product", "quotes": "quote"}  # fmt: skip


class WebhookSender:
    """Posts signed event batches to ``url``; ``sent`` counts the batches answered 2xx."""

    def __init__(self, url: str, secret: str, *, portal_id: int = 62515) -> None:
        self.url = url
        self._secret = secret.encode()
        self.portal_id = portal_id
        self.sent = 0
        self.failed = 0
        self._ids = itertools.count(1)
        self._queue: queue.Queue[list[dict[str, Any]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="crm-webhooks", daemon=True)
        self._thread.start()

    def notify(self, object_type: str, object_id: str, change: str, **extra: Any) -> None:
        """Queue one event (``change``: creation, propertyChange, deletion, merge)."""
        kind = SINGULAR.get(object_type, object_type)
        event = {
            "eventId": next(self._ids), "subscriptionId": 1, "portalId": self.portal_id,
            "appId": 1, "occurredAt": int(time.time() * 1000), "attemptNumber": 0,
            "subscriptionType": f"{kind}.{change}", "objectId": int(object_id),
            "changeSource": "CRM_UI", **extra,
        }  # fmt: skip
        self._queue.put([event])

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def signed_request(self, body: bytes, timestamp_ms: int) -> urllib.request.Request:
        """The POST HubSpot would send: body, timestamp and v3 signature headers."""
        signed = b"POST" + self.url.encode() + body + str(timestamp_ms).encode()
        signature = base64.b64encode(hmac.new(self._secret, signed, hashlib.sha256).digest())
        return urllib.request.Request(
            self.url, data=body, method="POST",
            headers={"Content-Type": "application/json",
                     "X-HubSpot-Signature-v3": signature.decode(),
                     "X-HubSpot-Request-Timestamp": str(timestamp_ms)},
        )  # fmt: skip

    def _loop(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            while not self._queue.empty():  # send what queued up meanwhile in one batch
                more = self._queue.get()
                if more is None:
                    self._queue.put(None)
                    break
                batch += more
            body = json.dumps(batch).encode()
            try:
                with urllib.request.urlopen(
                    self.signed_request(body, int(time.time() * 1000)), timeout=30
                ) as answer:
                    self.sent += 1 if answer.status < 300 else 0
            except OSError as exc:  # the hub is down: HubSpot retries, the schedule covers it
                self.failed += 1
                log.info("sandbox crm: webhook to %s failed: %s", self.url, exc)
