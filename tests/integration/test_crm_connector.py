"""CRM connector against the sandbox CRM over loopback, every call checked against the spec."""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable

import pytest

from connectors.crm import CrmClient, InProcessRateBudget
from connectors.http import RetryPolicy
from sandbox.crm import SandboxCrm
from schemas.errors import OutcomeUnknownError, PermanentError
from tests.fixtures.crm import most_in_any_window

pytestmark = pytest.mark.integration

Factory = Callable[..., SandboxCrm]
# read timeout and injected slow answer: far apart, and both well above what a loaded
# machine adds to an ordinary answer
TIMEOUT = (3.05, 15.0)
SLOW = 40.0


def _client(server: SandboxCrm, **kwargs: object) -> CrmClient:
    return CrmClient(server.url, server.token, **kwargs)  # type: ignore[arg-type]


def _companies(n: int, start: int = 0) -> dict[str, dict[str, str]]:
    return {f"P{i:05d}": {"name": f"Party {i}", "city": "Bremen"} for i in range(start, start + n)}


def _by_erp(server: SandboxCrm, kind: str = "companies") -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for rec in server.records(kind):
        out.setdefault(rec["properties"].get("hub_erp_id", ""), []).append(rec)
    return out


def test_batch_upsert_is_idempotent_and_chunked(crm_server: SandboxCrm) -> None:
    client = _client(crm_server)
    records = _companies(250)

    first = client.upsert("companies", records)
    second = client.upsert("companies", records)

    assert not first.failed and not second.failed
    assert len(first.succeeded) == 250 and all(s.created for s in first.succeeded)
    assert not any(s.created for s in second.succeeded)
    assert first.crm_ids() == second.crm_ids()
    stored = _by_erp(crm_server)
    assert len(stored) == 250 and all(len(v) == 1 for v in stored.values())
    assert stored["P00007"][0]["properties"]["name"] == "Party 7"
    assert client.stats()["requests"] == 6  # 3 chunks of <= 100, twice


def test_207_is_split_into_successes_and_failures(crm_server: SandboxCrm) -> None:
    client = _client(crm_server)
    outcome = client.upsert(
        "contacts",
        {
            "C1": {"email": "anna@example.com", "firstname": "Anna"},
            "C2": {"email": "not-an-email", "firstname": "Bob"},
            "C3": {"email": "carl@example.com", "firstname": "Carl"},
        },
    )

    assert sorted(s.erp_id for s in outcome.succeeded) == ["C1", "C3"]
    assert len(outcome.failed) == 1
    failure = outcome.failed[0]
    assert (failure.erp_id, failure.field, failure.code) == ("C2", "email", "INVALID_EMAIL")
    assert "not-an-email" in failure.message
    assert sorted(_by_erp(crm_server, "contacts")) == ["C1", "C3"]
    assert crm_server.stats()["status"] == {"207": 1}


def test_batch_read_and_get_by_erp_id(crm_server: SandboxCrm) -> None:
    client = _client(crm_server)
    ids = client.upsert("companies", _companies(3)).crm_ids()

    read = client.read("companies", ["P00000", "P00002", "NOPE"], properties=["name"])
    assert {k: v.crm_id for k, v in read.found.items()} == {
        "P00000": ids["P00000"],
        "P00002": ids["P00002"],
    }
    assert read.missing == ["NOPE"]
    assert read.found["P00002"].properties["name"] == "Party 2"
    assert client.get("companies", "P00001").crm_id == ids["P00001"]  # type: ignore[union-attr]
    assert client.get("companies", "NOPE") is None
    updated = client.update("companies", "P00001", {"name": "Renamed"})
    assert updated.properties["name"] == "Renamed"


def test_search_pages_past_the_cap_by_advancing_gte(crm_server_factory: Factory) -> None:
    ticks = itertools.count()
    server = crm_server_factory(search_cap=50, clock=lambda: 1_700_000_000 + next(ticks) / 1000)
    client = _client(server, search_cap=50)
    for start in range(0, 130, 10):
        client.upsert("companies", _companies(10, start))

    seen = list(client.search_modified_since("companies", since=0, page_size=20))

    assert [r.erp_id for r in seen] == sorted(_companies(130))  # ascending, each once
    stamps = [r.modified_at for r in seen]
    assert stamps == sorted(stamps)  # type: ignore[type-var]
    # 130 records, 50 per window -> at least 3 windows, and never a 400 for paging past the cap
    assert client.stats()["status:200"] >= 13 + 7
    assert "400" not in server.stats()["status"]
    later = list(client.search_modified_since("companies", since=seen[100].modified_at))
    assert [r.erp_id for r in later] == [r.erp_id for r in seen[100:]]


def test_search_refuses_a_window_that_cannot_advance(crm_server_factory: Factory) -> None:
    server = crm_server_factory(search_cap=50, clock=lambda: 1_700_000_000.0)  # one timestamp
    client = _client(server, search_cap=50)
    client.upsert("companies", _companies(60))
    with pytest.raises(PermanentError, match="share hs_lastmodifieddate"):
        list(client.search_modified_since("companies", page_size=20))


def test_user_changes_show_up_in_incremental_search(crm_server: SandboxCrm) -> None:
    client = _client(crm_server)
    client.upsert("contacts", {"C1": {"email": "a@example.com"}})
    cursor = max(r.modified_at for r in client.search_modified_since("contacts"))  # type: ignore[type-var]
    rec = crm_server.user_create("contacts", {"email": "new@example.com", "firstname": "New"})

    changed = [r for r in client.search_modified_since("contacts", since=cursor)]
    assert rec["id"] in [r.crm_id for r in changed]


def test_429_waits_retry_after_seconds_and_http_date(crm_server_factory: Factory) -> None:
    now = [1_700_000_000.0]
    server = crm_server_factory(rate_limit=2, interval_ms=10_000, clock=lambda: now[0])
    waits: list[float] = []

    def fake_sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds  # the sandbox's clock moves with our "sleep"

    client = _client(server, sleep=fake_sleep)
    for _ in range(3):
        assert client.get("companies", "X") is None

    assert waits == [10.0]
    assert server.stats()["rate_limited"] == 1
    assert client.stats()["rate_limited"] == 1

    server.set_faults(retry_after_format="date")
    waits.clear()
    limited = server.stats()["rate_limited"]
    for _ in range(3):
        assert client.get("companies", "X") is None
    # each wait runs until the HTTP date (real clock + 10 s, rounded up to a second): at most
    # 11 s, less when a busy machine read the answer late; a retry that came back early by
    # that delay meets one more 429 and waits the rest. So: every 429 was waited out once,
    # and together the waits covered the window (the sandbox's clock moves only with them)
    assert waits and all(0.0 < w <= 11.5 for w in waits)
    assert sum(waits) >= 10.0
    assert server.stats()["rate_limited"] - limited == len(waits)


def test_create_reconciles_instead_of_repeating(crm_server: SandboxCrm) -> None:
    client = _client(crm_server, sleep=lambda s: None)
    crm_server.set_faults(fault_rate=1.0, kinds=("drop",), sides=("after",), targets=("write",))

    result = client.create("companies", "P1", {"name": "Acme"})

    assert result.created and result.record.erp_id == "P1"
    assert crm_server.stats()["requests"]["write"] == 1  # the create was not sent again
    assert client.stats()["reconciliations"] == 1
    assert len(crm_server.records("companies")) == 1

    crm_server.set_faults(fault_rate=1.0, kinds=("500",), sides=("before",), targets=("write",))
    with pytest.raises(OutcomeUnknownError, match="reconciled"):
        client.create("companies", "P2", {"name": "Never"})
    assert [r["properties"]["hub_erp_id"] for r in crm_server.records("companies")] == ["P1"]

    crm_server.set_faults(fault_rate=0.0)
    crm_server.user_create("companies", {"name": "Typed by a user", "hub_erp_id": "P3"})
    existing = client.create("companies", "P3", {"name": "From ERP"})
    assert not existing.created and existing.record.properties["name"] == "Typed by a user"


def test_twenty_percent_faults_converge_to_one_record_per_id(crm_server_factory: Factory) -> None:
    # a slow answer (SLOW) outlasts the read timeout; an ordinary one on a busy machine does
    # not, so a timeout here is an injected fault, never the machine's load
    server = crm_server_factory(fault_rate=0.2, seed=7, slow_seconds=SLOW)
    client = _client(
        server,
        sleep=lambda s: None,
        timeout=TIMEOUT,
        policy=RetryPolicy(attempts=10, base_delay=0.0, total_timeout=300.0),
    )
    companies = _companies(300)
    outcome = client.upsert("companies", companies)
    assert not outcome.failed
    for i in range(15):
        client.create("contacts", f"C{i}", {"email": f"c{i}@example.com"})
    client.upsert("companies", companies)  # and again: still one each

    stats = server.stats()
    assert sum(stats["faults"].values()) >= 3, stats["faults"]
    stored = _by_erp(server)
    assert sorted(stored) == sorted(companies)
    assert all(len(v) == 1 and v[0]["properties"]["name"] == companies[k]["name"]
               for k, v in stored.items())  # fmt: skip
    assert sorted(_by_erp(server, "contacts")) == sorted(f"C{i}" for i in range(15))


def test_associations_batch_create_and_read(crm_server: SandboxCrm) -> None:
    client = _client(crm_server)
    companies = client.upsert("companies", _companies(2)).crm_ids()
    contacts = client.upsert(
        "contacts", {"K1": {"email": "k1@example.com"}, "K2": {"email": "k2@example.com"}}
    ).crm_ids()
    pairs = [(contacts["K1"], companies["P00000"]), (contacts["K2"], companies["P00000"])]

    outcome = client.associate("contacts", "companies", pairs + [(contacts["K1"], "999999")])
    again = client.associate("contacts", "companies", pairs)

    assert sorted(outcome.created) == sorted(pairs) and sorted(again.created) == sorted(pairs)
    assert len(outcome.failed) == 1 and outcome.failed[0].category == "OBJECT_NOT_FOUND"
    back = client.associations("companies", "contacts", [companies["P00000"], companies["P00001"]])
    assert back == {companies["P00000"]: sorted([contacts["K1"], contacts["K2"]])}


def test_token_never_reaches_logs_or_errors(
    crm_server_factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    server = crm_server_factory(fault_rate=0.3, seed=3, slow_seconds=SLOW)
    caplog.set_level(logging.DEBUG)
    # many attempts: the point is what reaches the logs, not whether 30% faults run out
    patient = RetryPolicy(attempts=25, base_delay=0.0, total_timeout=300.0)
    client = _client(server, sleep=lambda s: None, timeout=TIMEOUT, policy=patient)
    client.upsert("companies", _companies(120))
    client.create("companies", "Z1", {"name": "Z"})
    wrong = CrmClient(server.url, "wrong-" + server.token, sleep=lambda s: None)
    with pytest.raises(PermanentError) as refused:
        wrong.get("companies", "P00000")

    assert "401" in str(refused.value) and "token" in str(refused.value)
    for text in (caplog.text, str(refused.value), repr(client), repr(wrong), repr(client.__dict__)):
        assert server.token not in text
    assert caplog.records  # something was logged, so the check above means something


def test_rate_budget_is_shared_between_two_clients(crm_server_factory: Factory) -> None:
    server = crm_server_factory(rate_limit=8, interval_ms=1000)
    budget = InProcessRateBudget(default_limit=8, default_interval_ms=1000, keep_history=True)
    clients = [_client(server, budget=budget, account="portal-1") for _ in range(2)]

    def work(client: CrmClient) -> None:
        for _ in range(12):
            client.get("companies", "X")

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)

    assert not any(t.is_alive() for t in threads)
    stats = [c.stats() for c in clients]
    # exactly once: 12 reads answered per client; a 429 (if any) was waited out and repeated
    assert [s.get("status:404", 0) for s in stats] == [12, 12]
    refused = sum(s.get("status:429", 0) for s in stats)
    assert sum(s["requests"] for s in stats) == 24 + refused
    # the shared budget never granted more than 8 slots in any second (its own clock): the
    # budget prevented every 429 it could; a busy machine delaying a request between its
    # slot and the server may still meet one, and it is retried
    assert budget.history is not None and len(budget.history) == 24 + refused
    assert most_in_any_window([at for _, at in budget.history], 1.0) <= 8
    assert server.stats()["rate_limited"] == refused
    assert budget.waits > 0  # 24 reads at 8 per second: the clients had to wait
