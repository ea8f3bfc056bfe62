"""The journal protocol on SQLite and PostgreSQL: once, once_many, unknown-outcome policies,
key fields, and leases of dead owners taken over."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest

from hub.ledger import Effect, Ledger, OnceItem, OnUnknown, Status
from schemas.errors import (
    ConflictError,
    HubError,
    OutcomeUnknownError,
    PermanentError,
    TransientError,
)
from transforms.keys import BookingKey, KeyKind, SaleKey

pytestmark = pytest.mark.integration

EFFECT = Effect(flow="t", system="erp", action="create", ref="PO1")
REPEAT = OnUnknown.repeat()


def test_once_runs_the_effect_once_and_remembers_the_result(ledger: Ledger) -> None:
    calls: list[int] = []

    def effect() -> dict[str, int]:
        calls.append(1)
        return {"sale_id": 42}

    key = SaleKey("4000000000016", "PO1")
    first = ledger.once(key, "h1", effect, on_unknown=REPEAT, effect=EFFECT)
    again = ledger.once(key, "h1", effect, on_unknown=REPEAT, effect=EFFECT)
    assert (first.status, first.result) == (Status.RAN, {"sale_id": 42})
    assert (again.status, again.result) == (Status.DONE_BEFORE, {"sale_id": 42})
    assert len(calls) == 1
    # the key's kind and fields are stored beside its text: queries never parse strings
    rows = ledger.journal_find(KeyKind.SALE, subjects=["PO1"], state="done")
    assert [(r["key"], r["scope"]) for r in rows] == [(str(key), "4000000000016")]
    assert ledger.journal_find(KeyKind.BOOKING, subjects=["PO1"]) == []


def test_same_key_other_content_is_a_conflict(ledger: Ledger) -> None:
    ledger.once("k", "h1", lambda: 1, on_unknown=REPEAT, effect=EFFECT)
    with pytest.raises(ConflictError, match="different content"):
        ledger.once("k", "h2", lambda: 2, on_unknown=REPEAT, effect=EFFECT)


def test_transient_failure_releases_permanent_failure_kills(ledger: Ledger) -> None:
    def flaky() -> int:
        raise TransientError("down", system="erp")

    with pytest.raises(TransientError):
        ledger.once("k1", "h", flaky, on_unknown=REPEAT, effect=EFFECT)
    assert ledger.journal_entry("k1")["state"] == "failed"
    assert ledger.once("k1", "h", lambda: 7, on_unknown=REPEAT, effect=EFFECT).result == 7

    def broken() -> int:
        raise PermanentError("bad", system="erp")

    with pytest.raises(PermanentError):
        ledger.once("k2", "h", broken, on_unknown=REPEAT, effect=EFFECT)
    assert ledger.journal_entry("k2")["state"] == "dead"
    later = ledger.once("k2", "h", lambda: 1, on_unknown=REPEAT, effect=EFFECT)
    assert later.status is Status.DEAD and "dead-lettered earlier" in str(later.error)
    ledger.reopen("k2")
    assert ledger.once("k2", "h", lambda: 1, on_unknown=REPEAT, effect=EFFECT).ran


def test_crash_after_claim_makes_the_next_attempt_look_up_first(ledger: Ledger) -> None:
    claim = ledger.claim("k", "h", flow="t", system="erp", action="create", lease=timedelta(0))
    assert claim.state == "pending" and not claim.reconcile
    # the process dies here: no complete(), no fail(); another worker takes over later
    other = Ledger(ledger.url, owner="worker-2")
    created: list[int] = []
    asked: list[str] = []

    def find(key: str) -> int:
        asked.append(key)
        return 41

    out = other.once(
        "k", "h", lambda: created.append(1) or 99,
        on_unknown=OnUnknown.look_up(find), effect=EFFECT,
    )  # fmt: skip
    assert (out.status, out.result, asked, created) == (Status.FOUND, 41, ["k"], [])
    other.dispose()


def test_unknown_outcome_with_look_up_acts_only_when_the_target_holds_nothing(
    ledger: Ledger,
) -> None:
    calls: list[int] = []
    holds: dict[str, int] = {}

    def timeout_after_send() -> int:
        calls.append(1)
        holds["booked"] = 5  # the target did it, but the answer was lost
        raise OutcomeUnknownError("read timeout after sending", system="carrier")

    policy = OnUnknown.look_up(lambda key: holds.get("booked"))
    key = BookingKey("SHP1")
    first = ledger.once(key, "h", timeout_after_send, on_unknown=policy, effect=EFFECT)
    assert first.status is Status.UNKNOWN and ledger.journal_entry(key)["state"] == "unknown"
    again = ledger.once(key, "h", lambda: calls.append(1) or 6, on_unknown=policy, effect=EFFECT)
    assert (again.status, again.result, len(calls)) == (Status.FOUND, 5, 1)

    # the target provably holds nothing: the next attempt acts
    other = BookingKey("SHP2")
    ledger.fail(str(other), "x", unknown=True)  # no row yet: a no-op
    ledger.claim(other, "h", flow="t", system="carrier", action="book")
    ledger.fail(str(other), "outcome unknown: timeout", unknown=True)
    nothing = OnUnknown.look_up(lambda key: None)
    done = ledger.once(other, "h", lambda: 9, on_unknown=nothing, effect=EFFECT)
    assert (done.status, done.result) == (Status.RAN, 9)


def test_unknown_outcome_with_dead_letter_policy_never_acts_blindly_again(
    ledger: Ledger,
) -> None:
    calls: list[int] = []

    def lost() -> int:
        calls.append(1)
        raise OutcomeUnknownError("connection reset after sending", system="carrier")

    policy = OnUnknown.dead_letter()
    effect = Effect(flow="t", system="carrier", action="book", ref="SHP9", what="shipment SHP9")
    out = ledger.once("b9", "h", lost, on_unknown=policy, effect=effect)
    assert out.status is Status.DEAD and out.dead_letter_id is not None
    letter = ledger.dead_letter_by_id(out.dead_letter_id)
    assert letter is not None and "will NOT be repeated" in letter.reason
    # a replay reopens the entry as unknown: the same policy applies, nothing is called
    ledger.reopen("b9")
    again = ledger.once("b9", "h", lambda: calls.append(1) or 1, on_unknown=policy, effect=effect)
    assert again.status is Status.DEAD and calls == [1]
    # a person confirmed the target holds nothing: now it may act
    ledger.reopen("b9", confirmed_absent=True)
    assert ledger.once("b9", "h", lambda: 2, on_unknown=policy, effect=effect).result == 2


def test_once_many_settles_known_items_and_calls_once_for_the_rest(ledger: Ledger) -> None:
    ledger.once("a", "h", lambda: "A", on_unknown=REPEAT, effect=EFFECT)
    batches: list[list[str]] = []

    def call(todo: list[OnceItem[str]]) -> list[str | HubError]:
        batches.append([str(i.key) for i in todo])
        return ["B", PermanentError("refused", system="erp"), TransientError("x", system="erp")]

    items = [OnceItem(k, "h", EFFECT) for k in ("a", "b", "c", "d")]
    outs = ledger.once_many(items, call, on_unknown=REPEAT)
    assert batches == [["b", "c", "d"]]
    assert [o.status for o in outs] == [Status.DONE_BEFORE, Status.RAN, Status.DEAD, Status.FAILED]
    assert [ledger.journal_entry(k)["state"] for k in "abcd"] == ["done", "done", "dead", "failed"]


def test_lease_of_a_dead_process_on_this_host_is_taken_over_at_once(ledger: Ledger) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(proc.stdout)
    import socket

    crashed = Ledger(ledger.url, owner=f"{socket.gethostname()}:{dead_pid}:abcdef")
    crashed.claim("k", "h", flow="t", system="erp", action="create")  # 10-minute lease
    crashed.dispose()
    live = Ledger(ledger.url, owner=f"{socket.gethostname()}:{__import__('os').getpid()}:live01")
    live.claim("k2", "h", flow="t", system="erp", action="create")
    other = Ledger(ledger.url)
    claim = other.claim("k", "h", flow="t", system="erp", action="create")
    assert claim.state == "pending" and claim.reconcile  # the dead run's call may have gone out
    with pytest.raises(TransientError, match="being processed"):
        other.claim("k2", "h", flow="t", system="erp", action="create")  # its owner lives
    other.dispose()
    live.dispose()


def test_lease_of_an_owner_whose_heartbeat_stopped_is_taken_over(ledger: Ledger) -> None:
    remote = Ledger(ledger.url, owner="other-host:4242:abcdef")
    remote.heartbeat()
    remote.claim("k", "h", flow="t", system="erp", action="create")
    other = Ledger(ledger.url)
    with pytest.raises(TransientError):
        other.claim("k", "h", flow="t", system="erp", action="create")  # fresh heartbeat
    from hub.ledger import utcnow

    remote.heartbeat(at=utcnow() - timedelta(minutes=1))  # the remote host froze a minute ago
    assert other.claim("k", "h", flow="t", system="erp", action="create").reconcile
    other.dispose()
    remote.dispose()
