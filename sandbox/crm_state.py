"""Sandbox CRM state shared by the handler threads: store, rate window, fault plan, counters."""

from __future__ import annotations

import random
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.crm_store import CrmStore
from sandbox.crm_webhooks import WebhookSender
from sandbox.crm_wire import CrmApiError

FAULT_KINDS = ("500", "502", "503", "429", "slow", "drop")
FAULT_SIDES = ("before", "after")
# 502/503 say the request never reached a worker: they are only ever injected "before".
_BEFORE_ONLY = frozenset({"502", "503", "429"})


@dataclass
class FaultPlan:
    """What to break and how often: a seeded coin per API request."""

    rate: float = 0.0
    seed: int | None = None
    kinds: tuple[str, ...] = FAULT_KINDS
    sides: tuple[str, ...] = FAULT_SIDES
    slow_seconds: float = 2.0
    retry_after: int = 1
    targets: tuple[str, ...] = ("read", "write")
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(FAULT_KINDS) or set(self.sides) - set(FAULT_SIDES)
        if unknown:
            raise ValueError(
                f"sandbox crm: unknown fault kinds/sides {sorted(unknown)}; use {FAULT_KINDS} "
                f"and {FAULT_SIDES}"
            )
        self.rng = random.Random(self.seed)

    def draw(self, request_kind: str) -> tuple[str, str] | None:
        if request_kind not in self.targets:
            return None
        if self.rate <= 0 or self.rng.random() >= self.rate:
            return None
        kind = self.rng.choice(self.kinds)
        side = "before" if kind in _BEFORE_ONLY else self.rng.choice(self.sides)
        return kind, side


class RateWindow:
    """HubSpot's rolling window: at most ``limit`` requests per ``interval_ms`` per account."""

    def __init__(self, limit: int, interval_ms: int, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.interval_ms = interval_ms
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, account: str) -> tuple[bool, int, float]:
        """(allowed, remaining, seconds until a slot frees); a refused call is not counted."""
        now = self._clock()
        span = self.interval_ms / 1000
        with self._lock:
            hits = self._hits.setdefault(account, deque())
            while hits and hits[0] <= now - span:
                hits.popleft()
            if len(hits) >= self.limit:
                return False, 0, max(hits[0] + span - now, 0.0)
            hits.append(now)
            return True, self.limit - len(hits), 0.0

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()


class SandboxState:
    """Everything the handler threads share: store, limits, faults, counters, contract."""

    def __init__(
        self,
        token: str,
        rate_limit: int,
        interval_ms: int,
        faults: FaultPlan,
        clock: Callable[[], float],
        contract: Any | None,
        search_cap: int,
        retry_after_format: str = "seconds",
    ) -> None:
        self.token = token
        self.clock = clock
        self.store = CrmStore(clock=clock, search_cap=search_cap)
        self.window = RateWindow(rate_limit, interval_ms, clock)
        self.faults = faults
        self.contract = contract
        self.retry_after_format = retry_after_format
        self.violations: list[str] = []
        self.counters: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.webhooks: WebhookSender | None = None

    def start_webhooks(self, url: str | None, secret: str | None) -> WebhookSender | None:
        """Send webhooks to ``url`` from now on (None: stop sending); returns the sender."""
        old, self.webhooks = self.webhooks, None
        if old is not None:
            old.close()
        if url and secret:
            self.webhooks = WebhookSender(url, secret)
        return self.webhooks

    def notify(self, object_type: str, rid: str, change: str, **extra: Any) -> None:
        """A signed webhook for a CRM user's change, when webhooks are on."""
        if self.webhooks is not None:
            self.webhooks.notify(object_type, rid, change, **extra)

    def count(self, *keys: str) -> None:
        with self.lock:
            for key in keys:
                self.counters[key] += 1

    def stats(self) -> dict[str, Any]:
        with self.lock:
            counters = dict(self.counters)
        return {
            "requests": {k[4:]: v for k, v in counters.items() if k.startswith("req:")},
            "status": {k[7:]: v for k, v in counters.items() if k.startswith("status:")},
            "faults": {k[6:]: v for k, v in counters.items() if k.startswith("fault:")},
            "rate_limited": counters.get("rate_limited", 0),
            "unauthorized": counters.get("unauthorized", 0),
            "inputs_written": counters.get("inputs_written", 0),
            "records": self.store.counts(),
            "contract_violations": list(self.violations),
            "config": {
                "rate_limit": self.window.limit,
                "interval_ms": self.window.interval_ms,
                "fault_rate": self.faults.rate,
                "fault_kinds": list(self.faults.kinds),
                "fault_sides": list(self.faults.sides),
                "slow_seconds": self.faults.slow_seconds,
                "fault_targets": list(self.faults.targets),
            },
        }

    def reset(self) -> None:
        self.store.reset()
        self.window.reset()
        with self.lock:
            self.counters.clear()
            self.violations.clear()

    def configure(self, body: dict[str, Any]) -> None:
        """Change faults / rate limit at runtime (POST /__sandbox/faults)."""
        plan = self.faults
        self.faults = FaultPlan(
            rate=float(body.get("fault_rate", plan.rate)),
            seed=body.get("seed", plan.seed),
            kinds=tuple(body.get("kinds", plan.kinds)),
            sides=tuple(body.get("sides", plan.sides)),
            slow_seconds=float(body.get("slow_seconds", plan.slow_seconds)),
            retry_after=int(body.get("retry_after", plan.retry_after)),
            targets=tuple(body.get("targets", plan.targets)),
        )
        if "rate_limit" in body or "interval_ms" in body:
            self.window = RateWindow(
                int(body.get("rate_limit", self.window.limit)),
                int(body.get("interval_ms", self.window.interval_ms)),
                self.clock,
            )
        if "retry_after_format" in body:
            self.retry_after_format = str(body["retry_after_format"])


def rate_limit_body(limit: int, interval_ms: int) -> dict[str, Any]:
    return {
        "status": "error",
        "message": f"You have reached your ten_secondly_rolling limit ({limit} requests per "
        f"{interval_ms} ms).",
        "errorType": "RATE_LIMIT",
        "correlationId": CrmApiError(429, "", "").body()["correlationId"],
        "policyName": "TEN_SECONDLY_ROLLING",
        "category": "RATE_LIMITS",
    }


def fault_body(status: int) -> dict[str, Any]:
    return CrmApiError(status, "INTERNAL_ERROR", f"Sandbox injected fault: HTTP {status}").body()
