"""The ledger-backed CRM rate budget: one bucket for every process on the same ledger."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.crm import RedisRateBudget
from hub.ledger import Ledger
from hub.ratebudget import LedgerRateBudget, rate_budget


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    led = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    led.upgrade()
    return led


def test_two_budgets_on_one_ledger_share_one_bucket(ledger: Ledger) -> None:
    waits: list[float] = []
    # a window of 1000 s refills a token every ~10 s: however slow a busy machine runs the
    # three acquires, the third still finds the bucket empty (no timing assumption)
    a = LedgerRateBudget(ledger, 100, 1_000_000, sleep=waits.append)
    b = LedgerRateBudget(Ledger(ledger.url), 100, 1_000_000, sleep=waits.append)
    capacity, rate = a.bucket("acct")
    assert capacity == 2.0
    assert capacity + rate * 1000 <= 100  # never more than the CRM's rolling window allows
    a.acquire("acct")
    b.acquire("acct")
    assert waits == []
    b.acquire("acct")  # the third request: the shared bucket is empty for both
    assert waits and 0 < waits[0] <= 1 / rate + 0.01
    assert ledger.take_tokens("crm:acct", capacity, rate) > 0
    assert ledger.take_tokens("crm:other", capacity, rate) == 0.0  # accounts are separate


def test_observed_limits_are_adopted(ledger: Ledger) -> None:
    budget = LedgerRateBudget(ledger)
    budget.observe("acct", 190, 150, 10_000)
    capacity, rate = budget.bucket("acct")
    assert capacity == 3.0 and 18.0 < rate < 18.5


def test_redis_is_used_when_configured(ledger: Ledger) -> None:
    assert isinstance(rate_budget(ledger, redis_url=""), LedgerRateBudget)
    assert isinstance(rate_budget(ledger, redis_url="redis://127.0.0.1:1/0"), RedisRateBudget)
