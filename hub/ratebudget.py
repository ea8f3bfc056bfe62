"""The CRM request budget shared through the ledger database (or Redis when configured).

Every process and task on the same ledger takes its request slots from one token bucket per
CRM account (``Ledger.take_tokens``), so four Airflow tasks in the ``crm`` pool together
stay inside the account's budget instead of each spending all of it.

HubSpot counts a rolling window (``max`` requests per ``interval``). A token bucket with
capacity C and refill r sends at most C + r * interval in any window, so C + r * interval
must not exceed ``max``: the burst is a small share of the window and the refill the rest
(spread over the interval plus a guard for network jitter). The CRM's rate-limit headers
adopt the real limit and interval on the first answer.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from connectors.crm.ratelimit import (
    DEFAULT_INTERVAL_MS,
    DEFAULT_LIMIT,
    RateBudget,
    RedisRateBudget,
    WaitCounter,
    guard_ms,
)

if TYPE_CHECKING:
    from hub.ledger import Ledger

REDIS_URL_ENV = "HUB_REDIS_URL"
BURST_SHARE = 0.02


class LedgerRateBudget(WaitCounter):
    """A RateBudget whose bucket lives in the ledger DB: one budget per account for all."""

    def __init__(
        self,
        ledger: Ledger,
        default_limit: int = DEFAULT_LIMIT,
        default_interval_ms: int = DEFAULT_INTERVAL_MS,
        *,
        prefix: str = "crm",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._ledger = ledger
        self._prefix = prefix
        self._sleep = sleep
        self._limits: dict[str, tuple[int, int]] = {}
        self._default = (default_limit, default_interval_ms)
        self._lock = threading.Lock()
        self.waited_seconds = 0.0
        self.waits = 0

    def bucket(self, account: str) -> tuple[float, float]:
        """(capacity, tokens per second) for ``account``, from its last known limit."""
        with self._lock:
            limit, interval_ms = self._limits.get(account, self._default)
        capacity = max(1.0, float(int(limit * BURST_SHARE)))
        window = (interval_ms + guard_ms(interval_ms)) / 1000
        return capacity, max(limit - capacity, 1.0) / window

    def acquire(self, account: str, n: int = 1) -> None:
        capacity, rate = self.bucket(account)
        if n > capacity:
            capacity = float(n)
        while True:
            wait = self._ledger.take_tokens(f"{self._prefix}:{account}", capacity, rate, n)
            if wait <= 0:
                return
            self._pause(wait)

    def observe(self, account: str, max_requests: int, remaining: int, interval_ms: int) -> None:
        if max_requests <= 0 or interval_ms <= 0:
            return
        with self._lock:
            self._limits[account] = (max_requests, interval_ms)


def rate_budget(ledger: Ledger, *, redis_url: str | None = None) -> RateBudget:
    """The budget for this deployment: Redis when ``HUB_REDIS_URL`` is set, else the ledger."""
    url = redis_url if redis_url is not None else os.environ.get(REDIS_URL_ENV)
    if url:
        return RedisRateBudget.from_url(url)
    return LedgerRateBudget(ledger)
