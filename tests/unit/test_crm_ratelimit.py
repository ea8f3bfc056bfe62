"""The in-process CRM rate budget: sliding window, learning from the CRM's headers."""

from __future__ import annotations

import pytest

from connectors.crm.ratelimit import InProcessRateBudget, RateBudget, guard_ms


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _budget(clock: _Clock, limit: int = 3, interval_ms: int = 1000) -> InProcessRateBudget:
    return InProcessRateBudget(limit, interval_ms, clock=clock, sleep=clock.sleep)


def test_is_a_rate_budget() -> None:
    assert isinstance(InProcessRateBudget(), RateBudget)


def test_waits_for_the_oldest_send_to_leave_the_window() -> None:
    clock = _Clock()
    budget = _budget(clock)
    for _ in range(3):
        budget.acquire("a")
    assert clock.sleeps == []
    budget.acquire("a")
    assert clock.sleeps == [pytest.approx(1.0 + guard_ms(1000) / 1000)]
    budget.acquire("b")  # another account has its own window
    assert len(clock.sleeps) == 1


def test_never_more_than_limit_in_any_window() -> None:
    clock = _Clock()
    budget = _budget(clock, limit=5)
    sent: list[float] = []
    for _ in range(40):
        budget.acquire("a")
        sent.append(clock.now)
        clock.now += 0.01
    for t in sent:
        assert sum(1 for s in sent if t <= s < t + 1.0) <= 5


def test_observe_adopts_the_crm_limit_and_remaining() -> None:
    clock = _Clock()
    budget = _budget(clock, limit=100, interval_ms=10_000)
    budget.observe("a", 2, 0, 1000)  # someone else spent the account: nothing left
    budget.acquire("a")
    assert clock.sleeps and clock.sleeps[0] == pytest.approx(1.0 + guard_ms(1000) / 1000)
    budget.observe("a", 2, 5, 1000)  # more remaining than we think: keep our own count
    budget.acquire("a")
    assert len(clock.sleeps) == 1


def test_refuses_a_request_larger_than_the_limit() -> None:
    with pytest.raises(ValueError, match="exceed"):
        _budget(_Clock(), limit=2).acquire("a", 3)
