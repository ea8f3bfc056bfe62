"""The ledger on SQLite and PostgreSQL: migrations, journal, bindings, cursors, numbers."""

from __future__ import annotations

import multiprocessing as mp
from typing import Any

import pytest

from hub.ledger import Effect, Ledger, OnUnknown
from hub.ledger.migrate import head
from schemas.errors import ConflictError, TransientError

pytestmark = pytest.mark.integration


def test_migrations_up_down_up(ledger: Ledger) -> None:
    assert ledger.revision() == head()
    names = set(ledger.table_names())
    assert {
        "bindings",
        "journal",
        "interchanges",
        "cursors",
        "control_numbers",
        "dead_letters",
    } <= names
    ledger.downgrade("base")
    assert "journal" not in set(ledger.table_names())
    ledger.upgrade()
    assert ledger.revision() == head()


def test_live_lease_held_elsewhere_is_transient(ledger: Ledger) -> None:
    ledger.claim("k", "h", flow="t", system="erp", action="create")
    other = Ledger(ledger.url, owner="worker-2")
    with pytest.raises(TransientError, match="being processed"):
        other.claim("k", "h", flow="t", system="erp", action="create")
    other.dispose()


def test_bindings_and_conflicting_rebind(ledger: Ledger) -> None:
    ledger.bind("crm", "company", "c-1", "17", "hash1")
    ledger.bind("crm", "company", "c-1", "17", "hash2")
    found = ledger.lookup("crm", "company", "c-1")
    assert found is not None and found.erp_id == "17" and found.content_hash == "hash2"
    assert ledger.lookup_erp("crm", "company", "17").external_id == "c-1"
    with pytest.raises(ConflictError, match="already bound"):
        ledger.bind("crm", "company", "c-1", "18")


def test_cursor_moves_only_with_its_transaction(ledger: Ledger) -> None:
    assert ledger.cursor("erp.parties") == (None, [])
    with pytest.raises(RuntimeError), ledger.transaction() as conn:
        ledger.advance_cursor("erp.parties", "2026-01-01T00:00:00", conn=conn)
        raise RuntimeError("crash before commit")
    assert ledger.cursor("erp.parties") == (None, [])
    with ledger.transaction() as conn:
        ledger.advance_cursor("erp.parties", "2026-01-02T00:00:00", ["b", "a"], conn=conn)
    assert ledger.cursor("erp.parties") == ("2026-01-02T00:00:00", ["a", "b"])


def test_control_numbers_allocated_once_per_document(ledger: Ledger) -> None:
    a = ledger.control_number("unb:P1", "INVOIC:INV1")
    b = ledger.control_number("unb:P1", "INVOIC:INV2")
    assert (a, b) == (1, 2)
    assert ledger.control_number("unb:P1", "INVOIC:INV1") == 1
    assert ledger.control_number("unb:P2", "INVOIC:INV1") == 1


def test_interchange_registered_once(ledger: Ledger) -> None:
    row, new = ledger.record_interchange("P1", "in", "000123", "hash", file_name="a.edi")
    assert new and row["state"] == "received"
    ledger.update_interchange("P1", "in", "000123", state="accepted", ack="UNA:+.? 'UNB...")
    row2, new2 = ledger.record_interchange("P1", "in", "000123", "hash2", file_name="b.edi")
    assert not new2 and row2["ack"].startswith("UNA") and row2["file_name"] == "a.edi"


def test_dead_letters_one_open_per_record(ledger: Ledger) -> None:
    first = ledger.dead_letter(
        "edi_in",
        "P1:PO1",
        "unknown GTIN 4006381333931",
        error_class="PermanentError",
        payload={"line": 1},
        partner="P1",
    )
    again = ledger.dead_letter(
        "edi_in", "P1:PO1", "unknown GTIN 4006381333931", error_class="PermanentError"
    )
    assert first == again
    letter = ledger.dead_letter_by_id(first)
    assert letter.attempts == 2 and letter.payload == {"line": 1} and letter.partner == "P1"
    ledger.close_dead_letter(first, "discarded", by="ops", note="partner resent")
    assert ledger.dead_letters() == []
    assert ledger.dead_letters(state="discarded")[0].resolved_by == "ops"
    assert ledger.dead_letter("edi_in", "P1:PO1", "again", error_class="PermanentError") != first


def test_token_bucket_shared_budget(ledger: Ledger) -> None:
    granted = [ledger.take_tokens("crm:acct", capacity=5, per_second=0.001) for _ in range(7)]
    assert granted[:5] == [0.0] * 5
    assert all(w > 0 for w in granted[5:])
    other = Ledger(ledger.url)
    assert other.take_tokens("crm:acct", capacity=5, per_second=0.001) > 0
    other.dispose()


def test_token_bucket_clock_read_before_the_lock_never_goes_back(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that read the clock, then waited for the bucket's lock while another wrote a
    later stamp, neither loses the tokens in between nor moves the stamp back."""
    clock = {"now": 1000.0}
    monkeypatch.setattr("hub.ledger.rate_buckets.time.time", lambda: clock["now"])
    assert ledger.take_tokens("crm:skew", capacity=5, per_second=1.0) == 0.0  # 4 left @1000
    clock["now"] = 990.0  # this caller's clock reading is behind the stamp now stored
    assert ledger.take_tokens("crm:skew", capacity=5, per_second=1.0) == 0.0  # 3 left
    clock["now"] = 1000.0
    granted = [ledger.take_tokens("crm:skew", capacity=5, per_second=1.0) for _ in range(4)]
    assert granted[:3] == [0.0] * 3
    assert granted[3] == pytest.approx(1.0)  # empty at 1000: one token a second from then


# -- two processes racing on the same keys (PostgreSQL) -------------------------------------


def _racer(url: str, keys: list[str], barrier: Any, out: Any) -> None:
    import psycopg

    ledger = Ledger(url)
    done = 0
    barrier.wait(timeout=60)
    with psycopg.connect(url, autocommit=True) as side:

        def effect(key: str) -> str:
            side.execute("INSERT INTO effects(key) VALUES (%s)", (key,))
            return key

        for key in keys:
            while True:
                try:
                    outcome = ledger.once(
                        key,
                        "same-payload",
                        lambda k=key: effect(k),
                        on_unknown=OnUnknown.repeat(),
                        effect=Effect(flow="race", system="erp", action="create"),
                    )
                    done += int(outcome.ran)
                    break
                except TransientError:
                    continue  # the other worker holds the lease: ask again, it will be done
    ledger.dispose()
    out.put(done)


def test_two_processes_racing_cause_one_side_effect_per_key(pg_url: str) -> None:
    import psycopg

    Ledger(pg_url).upgrade()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE effects (id serial primary key, key text not null)")
    keys = [f"erp.sale:4012345000009:PO{i}" for i in range(150)]
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    out = ctx.Queue()
    # one walks the keys forwards, the other backwards, and they race through the middle;
    # a third pass over all keys in both makes every key contended at least once
    orders = [keys + keys[::-1], keys[::-1] + keys]
    procs = [ctx.Process(target=_racer, args=(pg_url, o, barrier, out)) for o in orders]
    for proc in procs:
        proc.start()
    counts = [out.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
        assert proc.exitcode == 0
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT key, count(*) FROM effects GROUP BY key").fetchall()
        states = conn.execute("SELECT state, count(*) FROM journal GROUP BY state").fetchall()
    assert sum(counts) == len(keys)
    assert min(counts) > 0, f"no contention happened: {counts}"
    assert len(rows) == len(keys) and all(n == 1 for _, n in rows)
    assert states == [("done", len(keys))]
