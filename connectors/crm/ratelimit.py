"""Request budget shared by every task talking to one CRM account (in-process or Redis).

HubSpot counts requests per account in a rolling window (``X-HubSpot-RateLimit-Max``
requests per ``-Interval-Milliseconds``). A classic token bucket with burst = max can send
up to twice the limit inside one rolling window, which the CRM answers with 429s, so both
implementations keep a sliding log of send times instead: a slot is free when fewer than
``max`` requests were sent in the last interval (plus a small guard for network jitter).
``observe`` feeds the server's view back: the limit and interval are adopted, and when the
CRM reports fewer remaining calls than the log allows (someone else spends the same
account), phantom entries close the gap.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import redis
from redis.exceptions import RedisError

from schemas.errors import TransientError

DEFAULT_LIMIT = 100  # HubSpot's lowest private-app budget: 100 requests / 10 s
DEFAULT_INTERVAL_MS = 10_000


@runtime_checkable
class RateBudget(Protocol):
    """A request budget per CRM account, shared by everything that calls that account."""

    def acquire(self, account: str, n: int = 1) -> None:
        """Block until ``n`` requests may be sent to ``account``, then spend them."""

    def observe(self, account: str, max_requests: int, remaining: int, interval_ms: int) -> None:
        """Feed the CRM's ``X-HubSpot-RateLimit-{Max,Remaining,Interval-Milliseconds}``."""


def guard_ms(interval_ms: int) -> float:
    """Slack added to the window: 2% of it, at least 20 ms (latency jitter between sends)."""
    return max(20.0, interval_ms * 0.02)


class WaitCounter:
    """A budget's waits, taken and counted (benchmarks read ``waited_seconds``/``waits``)."""

    waited_seconds: float
    waits: int
    _sleep: Callable[[float], None]

    def _pause(self, seconds: float) -> None:
        self.waited_seconds += seconds
        self.waits += 1
        self._sleep(seconds)


class UnlimitedBudget:
    """No budget at all (for a CRM without limits, or tests of other things)."""

    def acquire(self, account: str, n: int = 1) -> None:
        return None

    def observe(self, account: str, max_requests: int, remaining: int, interval_ms: int) -> None:
        return None


@dataclass
class _Log:
    limit: int
    interval_ms: int
    sent: deque[float] = field(default_factory=deque)


class InProcessRateBudget:
    """Sliding-window budget shared by the threads of one process."""

    def __init__(
        self,
        default_limit: int = DEFAULT_LIMIT,
        default_interval_ms: int = DEFAULT_INTERVAL_MS,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        keep_history: bool = False,
    ) -> None:
        self._default = (default_limit, default_interval_ms)
        self._clock = clock
        self._sleep = sleep
        self._logs: dict[str, _Log] = {}
        self._lock = threading.Lock()
        self.waited_seconds = 0.0
        self.waits = 0
        # every slot granted, (account, clock time), when asked: tests check the invariant
        # "never more than the limit inside one window" on the budget's own clock
        self.history: list[tuple[str, float]] | None = [] if keep_history else None

    def _log(self, account: str) -> _Log:
        log = self._logs.get(account)
        if log is None:
            log = self._logs[account] = _Log(*self._default)
        return log

    def _prune(self, log: _Log, now: float) -> float:
        span = (log.interval_ms + guard_ms(log.interval_ms)) / 1000
        while log.sent and log.sent[0] <= now - span:
            log.sent.popleft()
        return span

    def acquire(self, account: str, n: int = 1) -> None:
        while True:
            with self._lock:
                log = self._log(account)
                if n > log.limit:
                    raise ValueError(
                        f"crm rate budget: {n} requests at once exceed the account's limit "
                        f"of {log.limit} per {log.interval_ms} ms"
                    )
                now = self._clock()
                span = self._prune(log, now)
                overflow = len(log.sent) + n - log.limit
                if overflow <= 0:
                    log.sent.extend([now] * n)
                    if self.history is not None:
                        self.history.extend([(account, now)] * n)
                    return
                wait = max(log.sent[overflow - 1] + span - now, 0.001)
                self.waited_seconds += wait
                self.waits += 1
            self._sleep(wait)

    def observe(self, account: str, max_requests: int, remaining: int, interval_ms: int) -> None:
        if max_requests <= 0 or interval_ms <= 0:
            return
        with self._lock:
            log = self._log(account)
            log.limit, log.interval_ms = max_requests, interval_ms
            now = self._clock()
            self._prune(log, now)
            free = log.limit - len(log.sent)
            if remaining < free:
                # phantom sends "now" (the log stays sorted: every other entry is older)
                log.sent.extend([now] * (free - max(remaining, 0)))


_ACQUIRE = """
local log, cfg, seq, history = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local n = tonumber(ARGV[1])
local limit = tonumber(redis.call('HGET', cfg, 'limit') or ARGV[2])
local interval = tonumber(redis.call('HGET', cfg, 'interval') or ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local span = interval + math.max(20, interval * 0.02)
redis.call('ZREMRANGEBYSCORE', log, '-inf', now - span)
local count = redis.call('ZCARD', log)
local overflow = count + n - limit
if overflow <= 0 then
  for i = 1, n do
    local id = redis.call('INCR', seq)
    redis.call('ZADD', log, now, tostring(now) .. ':' .. id)
    if ARGV[4] == '1' then
      redis.call('ZADD', history, now, tostring(now) .. ':' .. id)
    end
  end
  redis.call('PEXPIRE', log, math.ceil(span * 2))
  redis.call('PEXPIRE', seq, math.ceil(span * 2))
  if ARGV[4] == '1' then
    redis.call('PEXPIRE', history, 600000)
  end
  return 0
end
local oldest = redis.call('ZRANGE', log, overflow - 1, overflow - 1, 'WITHSCORES')
local wait = tonumber(oldest[2]) + span - now
if wait < 1 then wait = 1 end
return math.ceil(wait)
"""

_OBSERVE = """
local log, cfg, seq = KEYS[1], KEYS[2], KEYS[3]
local limit, remaining, interval = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('HSET', cfg, 'limit', limit, 'interval', interval)
redis.call('PEXPIRE', cfg, 86400000)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local span = interval + math.max(20, interval * 0.02)
redis.call('ZREMRANGEBYSCORE', log, '-inf', now - span)
local free = limit - redis.call('ZCARD', log)
if remaining < 0 then remaining = 0 end
for i = 1, free - remaining do
  local id = redis.call('INCR', seq)
  redis.call('ZADD', log, now, tostring(now) .. ':' .. id)
end
redis.call('PEXPIRE', log, math.ceil(span * 2))
return free - remaining
"""


class RedisRateBudget(WaitCounter):
    """Sliding-window budget in Redis, shared by every process (one Lua script per call).

    Redis's own clock (``TIME``) stamps the sends, so workers on different hosts agree.
    Keys: ``{prefix}:{account}:log`` (sorted set of send times), ``:cfg`` (limit, interval),
    ``:seq`` (member counter); all expire on their own. ``keep_history`` also keeps every
    granted slot for ten minutes in ``:history`` (Redis time in ms; see ``history``).
    """

    def __init__(
        self,
        client: Any,
        *,
        prefix: str = "hub:crm:budget",
        default_limit: int = DEFAULT_LIMIT,
        default_interval_ms: int = DEFAULT_INTERVAL_MS,
        sleep: Callable[[float], None] = time.sleep,
        keep_history: bool = False,
    ) -> None:
        self._redis = client
        self._prefix = prefix
        self._keep_history = keep_history
        self._default = (default_limit, default_interval_ms)
        self._sleep = sleep
        self._acquire = client.register_script(_ACQUIRE)
        self._observe = client.register_script(_OBSERVE)
        self.waited_seconds = 0.0
        self.waits = 0

    @classmethod
    def from_url(cls, url: str = "redis://127.0.0.1:6379/0", **kwargs: Any) -> RedisRateBudget:
        return cls(redis.Redis.from_url(url), **kwargs)

    def _keys(self, account: str) -> list[str]:
        base = f"{self._prefix}:{account}"
        return [f"{base}:log", f"{base}:cfg", f"{base}:seq", f"{base}:history"]

    def history(self, account: str) -> list[float]:
        """Seconds (Redis clock) of every slot granted while ``keep_history`` was on."""
        rows = self._redis.zrange(self._keys(account)[3], 0, -1, withscores=True)
        return sorted(score / 1000 for _, score in rows)

    def acquire(self, account: str, n: int = 1) -> None:
        while True:
            try:
                wait_ms = int(
                    self._acquire(
                        keys=self._keys(account),
                        args=[n, *self._default, "1" if self._keep_history else "0"],
                    )
                )
            except RedisError as exc:
                raise TransientError(
                    f"crm rate budget: Redis unavailable ({exc.__class__.__name__}); check the "
                    "Redis server the hub's rate budget points at",
                    system="redis",
                ) from exc
            if wait_ms <= 0:
                return
            self._pause(wait_ms / 1000)

    def observe(self, account: str, max_requests: int, remaining: int, interval_ms: int) -> None:
        if max_requests <= 0 or interval_ms <= 0:
            return
        try:
            self._observe(keys=self._keys(account), args=[max_requests, remaining, interval_ms])
        except RedisError:
            return  # observing is advisory; acquire will report a Redis outage
