"""Dead-letter replay and discard: replays go through the ledger, twice changes nothing."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from connectors.erp.fake import FakeErp
from hub.bootstrap import Hub
from hub.cli import app
from hub.flows import run_flow
from hub.flows.registry import FlowDescriptor, registered
from hub.ledger import DeadLetter, Effect, OnUnknown
from hub.ops import deadletters
from hub.ops.replay import replay
from sandbox.partner import drop, make_orders, orders_interchange
from schemas.errors import OutcomeUnknownError, PermanentError
from schemas.model import Party, Product
from tests.fixtures.ids import GTINS as ALL_GTINS
from tests.fixtures.ids import NORD, US

GTINS = ALL_GTINS[:3]

LATE_GTIN = "4006380000049"
FLOW = "edi_orders_inbound"


def _product(i: int, gtin: str) -> Product:
    return Product(
        code=f"HUB-{1000 + i}",
        name=f"P{i}",
        gtin=gtin,
        list_price=Decimal("10.00") + i,
        currency="EUR",
    )


@pytest.fixture
def erp() -> FakeErp:
    fake = FakeErp()
    for i, gtin in enumerate(GTINS, start=1):
        fake.add_product(_product(i, gtin), stock=100)
    fake.create_parties([Party(name="Kaufhaus Nord GmbH", gln=NORD, code="CUST-001")])
    return fake


def _box(hub: Hub) -> Any:
    return hub.mailbox(hub.partners["kaufhaus-nord"])


def _order_with_late_gtin(erp: FakeErp, ref: str) -> bytes:
    known = list(erp.products.values())
    order = make_orders(NORD, US, known, count=1, seed=3, lines=1)[0]
    line = order.lines[0].model_copy(update={"gtin": LATE_GTIN, "unit_price": Decimal("14.00")})
    order = order.model_copy(update={"lines": (line,)})
    return orders_interchange([order], sender=NORD, recipient=US, control_ref=ref)


def test_refused_order_replays_once_after_the_product_exists(hub: Hub, erp: FakeErp) -> None:
    drop(_box(hub).inbox, "late.edi", _order_with_late_gtin(erp, "8001"))
    run_flow(FLOW, hub=hub)
    [letter] = hub.ledger.dead_letters(flow=FLOW)
    assert letter.error_class == "OrderRefused" and not erp.sales

    first = replay(hub, letter.id, by="alice")  # still unknown: fails, stays open
    assert first["outcome"] == "failed" and first["state"] == "open"
    assert first["attempts"] == 2 and not erp.sales

    erp.add_product(_product(4, LATE_GTIN), stock=10)  # the operator fixed the master data
    second = replay(hub, letter.id, by="alice")
    assert second["outcome"] == "replayed" and second["state"] == "replayed"
    assert len(erp.sales) == 1
    assert any(p.name.startswith("ORDRSP") for p in _box(hub).outbox.iterdir())

    outbox_before = sorted(p.name for p in _box(hub).outbox.iterdir())
    third = replay(hub, letter.id, by="bob")  # a second replay changes nothing
    assert third["outcome"] == "skipped" and len(erp.sales) == 1
    assert sorted(p.name for p in _box(hub).outbox.iterdir()) == outbox_before
    trail = deadletters.show(hub.ledger, letter.id)["audit"]
    assert [(a["by"], a["outcome"]) for a in trail] == [
        ("alice", "failed"),
        ("alice", "replayed"),
        ("bob", "skipped"),
    ]


def test_refused_order_created_meanwhile_is_resolved_without_writes(hub: Hub, erp: FakeErp) -> None:
    data = _order_with_late_gtin(erp, "8101")
    drop(_box(hub).inbox, "late.edi", data)
    run_flow(FLOW, hub=hub)
    [letter] = hub.ledger.dead_letters(flow=FLOW)
    erp.add_product(_product(4, LATE_GTIN), stock=10)
    drop(_box(hub).inbox, "resent.edi", data.replace(b"8101", b"8102"))  # partner re-sent it
    run_flow(FLOW, hub=hub)
    assert len(erp.sales) == 1
    result = replay(hub, letter.id)
    assert result["outcome"] == "resolved" and result["state"] == "resolved"
    assert len(erp.sales) == 1


def _wrong_profile(hub: Hub) -> dict[str, Any]:
    partners = dict(hub.partners)
    nord = partners["kaufhaus-nord"]
    partners["kaufhaus-nord"] = nord.model_copy(
        update={"unb": nord.unb.model_copy(update={"partner_id": "4300000000991"})}
    )
    return partners


def test_quarantined_file_goes_back_to_the_inbox_after_the_profile_is_fixed(
    tmp_path: Path, hub: Hub, erp: FakeErp
) -> None:
    good = hub.partners
    broken = Hub(hub.ledger, erp=erp, home=hub.home, partners=_wrong_profile(hub))
    orders = make_orders(NORD, US, list(erp.products.values()), count=2, seed=1)
    drop(
        _box(broken).inbox,
        "o.edi",
        orders_interchange(orders, sender=NORD, recipient=US, control_ref="9001"),
    )
    assert run_flow(FLOW, hub=broken)["quarantined"] == 1
    [letter] = hub.ledger.dead_letters(flow=FLOW)
    assert letter.error_class == "QuarantinedFile" and not erp.sales

    fixed = Hub(hub.ledger, erp=erp, home=hub.home, partners=good)
    result = replay(fixed, letter.id, by="ops")
    assert result["outcome"] == "replayed", result
    assert len(erp.sales) == 2
    assert not list(_box(fixed).inbox.iterdir())  # processed and taken out again
    assert replay(fixed, letter.id)["outcome"] == "skipped" and len(erp.sales) == 2


def test_quarantined_garbage_fails_again_and_stays_open(hub: Hub) -> None:
    drop(_box(hub).inbox, "junk.txt", b"this is not EDIFACT")
    run_flow(FLOW, hub=hub)
    [letter] = hub.ledger.dead_letters(flow=FLOW)
    result = replay(hub, letter.id)
    assert result["outcome"] == "failed" and "quarantined again" in result["detail"]
    assert result["state"] == "open" and result["attempts"] == 2


def test_duplicate_interchange_letter_resolves_without_work(hub: Hub, erp: FakeErp) -> None:
    data = orders_interchange(
        make_orders(NORD, US, list(erp.products.values()), count=1),
        sender=NORD,
        recipient=US,
        control_ref="9101",
    )
    drop(_box(hub).inbox, "a.edi", data)
    run_flow(FLOW, hub=hub)
    drop(_box(hub).inbox, "a2.edi", data)
    run_flow(FLOW, hub=hub)
    [letter] = hub.ledger.dead_letters(flow=FLOW, error_class="DuplicateInterchange")
    assert replay(hub, letter.id)["outcome"] == "resolved"
    assert len(erp.sales) == 1


class FakeTarget:
    """The system the test flows write to: refuses, times out after acting, or takes it."""

    def __init__(self) -> None:
        self.mode = "ok"  # ok | refuse | lose_answer
        self.effects = 0

    def write(self) -> str:
        if self.mode == "refuse":
            raise PermanentError("target refused record 1", system="test")
        self.effects += 1
        if self.mode == "lose_answer":
            raise OutcomeUnknownError("timed out after the request was sent", system="test")
        return "ok"


TARGET = FakeTarget()
EFFECT = Effect("ops_test_flow", "test", "write", ref="record 1")


@pytest.fixture
def target() -> FakeTarget:
    TARGET.__init__()  # type: ignore[misc]
    return TARGET


def flaky_flow(hub: Hub, *, partner: str | None = None) -> dict[str, Any]:
    """A flow with one journaled side effect that fails until the target takes it."""
    key = "test.effect:1"
    try:
        hub.ledger.once(key, "h1", TARGET.write, on_unknown=OnUnknown.repeat(), effect=EFFECT)
    except PermanentError as exc:
        hub.ledger.dead_letter("ops_test_flow", key, str(exc), error_class="PermanentError")
        return {"status": "partial", "written": 0}
    return {"status": "ok", "written": 1}


def careful_flow(hub: Hub) -> dict[str, Any]:
    """The same effect, but an unknown outcome goes to a person (never repeated by itself)."""
    outcome = hub.ledger.once(
        "test.effect:1", "h1", TARGET.write, on_unknown=OnUnknown.dead_letter(), effect=EFFECT
    )
    return {"status": "ok" if outcome.ok else "partial", "written": int(outcome.ran)}


FLAKY = FlowDescriptor("ops_test_flow", f"{__name__}:flaky_flow", "test", (), writes=("test",))
CAREFUL = FlowDescriptor("ops_test_flow", f"{__name__}:careful_flow", "test", (), writes=("test",))


def _letter_after_a_failed_run(hub: Hub, target: FakeTarget, mode: str) -> DeadLetter:
    """Run the registered test flow once against a target in ``mode`` (refuse, lose_answer):
    its one dead letter. The target takes every write from then on."""
    target.mode = mode
    run_flow("ops_test_flow", hub=hub)
    [letter] = hub.ledger.dead_letters(flow="ops_test_flow")
    target.mode = "ok"
    return letter


def test_generic_replay_reopens_the_journal_entry_and_reruns(hub: Hub, target: FakeTarget) -> None:
    with registered(FLAKY):
        letter = _letter_after_a_failed_run(hub, target, "refuse")
        assert hub.ledger.journal_entry("test.effect:1")["state"] == "dead"  # type: ignore[index]
        assert replay(hub, letter.id)["outcome"] == "replayed"
        assert target.effects == 1
        assert hub.ledger.journal_entry("test.effect:1")["state"] == "done"  # type: ignore[index]
        assert replay(hub, letter.id)["outcome"] == "skipped"
        run_flow("ops_test_flow", hub=hub)  # the journal keeps later runs from repeating it
    assert target.effects == 1


def test_unknown_outcome_replays_only_when_a_person_confirms_the_target_holds_nothing(
    hub: Hub, target: FakeTarget
) -> None:
    with registered(CAREFUL):
        letter = _letter_after_a_failed_run(hub, target, "lose_answer")
        assert letter.error_class == "OutcomeUnknownError" and target.effects == 1
        # a plain replay goes through the flow's policy again: back to a person, no second write
        again = replay(hub, letter.id, by="dora")
        assert (again["outcome"], again["state"], target.effects) == ("failed", "open", 1)
        # the person looked the reference up at the target: nothing there
        done = replay(hub, letter.id, by="dora", confirm_absent=True)
        assert (done["outcome"], done["state"], target.effects) == ("replayed", "replayed", 2)
        assert replay(hub, letter.id, confirm_absent=True)["outcome"] == "skipped"
    trail = deadletters.audit_trail(hub.ledger, letter.id)
    assert [(a["outcome"], a["by"], (a["detail"] or {}).get("confirm_absent")) for a in trail][
        :2
    ] == [("failed", "dora", None), ("replayed", "dora", True)]


def test_cli_replay_confirm_absent(
    hub: Hub, target: FakeTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.home.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("HUB_HOME", str(hub.home))
    monkeypatch.setenv("HUB_DATABASE_URL", hub.ledger.url)
    runner = CliRunner()
    with registered(CAREFUL):
        letter = _letter_after_a_failed_run(hub, target, "lose_answer")
        every = runner.invoke(app, ["dead-letters", "replay", "--all", "--confirm-absent"])
        assert every.exit_code == 2 and "--confirm-absent" in every.output
        plain = runner.invoke(app, ["dead-letters", "replay", str(letter.id), "--json"])
        assert plain.exit_code == 1 and json.loads(plain.stdout)[0]["outcome"] == "failed"
        assert target.effects == 1
        args = ["dead-letters", "replay", str(letter.id), "--confirm-absent", "--by", "erin"]
        confirmed = runner.invoke(app, [*args, "--json"])
    assert confirmed.exit_code == 0, confirmed.output
    assert json.loads(confirmed.stdout)[0]["outcome"] == "replayed" and target.effects == 2
    assert deadletters.audit_trail(hub.ledger, letter.id)[-1]["by"] == "erin"


def test_confirm_absent_is_refused_for_a_letter_whose_outcome_is_known(
    hub: Hub, target: FakeTarget
) -> None:
    with registered(FLAKY):
        letter = _letter_after_a_failed_run(hub, target, "refuse")
        refused = replay(hub, letter.id, confirm_absent=True)
    assert refused["outcome"] == "failed" and "not an unknown outcome" in refused["detail"]
    assert target.effects == 0 and refused["state"] == "open"


def test_discard_needs_a_reason_and_keeps_the_audit(hub: Hub) -> None:
    drop(_box(hub).inbox, "junk.txt", b"garbage")
    run_flow(FLOW, hub=hub)
    [letter] = hub.ledger.dead_letters(flow=FLOW)
    with pytest.raises(PermanentError, match="--reason"):
        deadletters.discard(hub.ledger, letter.id, reason=" ")
    done = deadletters.discard(hub.ledger, letter.id, reason="test file from partner", by="carol")
    assert done["outcome"] == "discarded"
    closed = hub.ledger.dead_letter_by_id(letter.id)
    assert closed is not None and closed.state == "discarded"
    assert (closed.resolved_by, closed.resolution) == ("carol", "test file from partner")
    assert deadletters.discard(hub.ledger, letter.id, reason="again")["outcome"] == "skipped"
    assert replay(hub, letter.id)["outcome"] == "skipped"
    trail = deadletters.audit_trail(hub.ledger, letter.id)
    assert [(a["action"], a["outcome"]) for a in trail] == [
        ("discard", "discarded"),
        ("discard", "skipped"),
        ("replay", "skipped"),
    ]


def test_list_filters(hub: Hub, erp: FakeErp) -> None:
    drop(_box(hub).inbox, "junk.txt", b"garbage")
    drop(_box(hub).inbox, "late.edi", _order_with_late_gtin(erp, "8201"))
    run_flow(FLOW, hub=hub)
    led = hub.ledger
    assert len(deadletters.list_letters(led)) == 2
    assert [
        d["error_class"] for d in deadletters.list_letters(led, error_class="OrderRefused")
    ] == ["OrderRefused"]
    assert deadletters.list_letters(led, partner="markt-sued") == []
    assert deadletters.list_letters(led, older_than=deadletters.parse_age("1h")) == []
    assert (
        len(deadletters.list_letters(led, flow=FLOW, older_than=deadletters.parse_age("0s"))) == 2
    )
    with pytest.raises(PermanentError, match="30m"):
        deadletters.parse_age("soon")


def test_a_symlink_letter_is_not_replayed_blindly_and_says_what_to_do(
    hub: Hub, tmp_path: Path
) -> None:
    inbox = _box(hub).inbox
    target = tmp_path / "elsewhere.edi"
    target.write_bytes(b"UNA:+.? 'UNB+UNOC:3'")
    (inbox / "linked.edi").symlink_to(target)
    run_flow(FLOW, hub=hub)
    [letter] = hub.ledger.dead_letters(flow=FLOW, error_class="SymlinkInInbox")
    result = replay(hub, letter.id)
    assert result["outcome"] == "failed" and result["state"] == "open"
    assert "Replace it by the file itself" in result["detail"]
    assert (inbox / "linked.edi").is_symlink()  # nothing was moved or followed


def _peak_bytes(run: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], int]:
    """What ``run`` returns and the most memory Python held while it ran."""
    tracemalloc.start()
    try:
        return run(), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_replaying_a_quarantined_file_holds_no_more_than_the_flow_itself(
    hub: Hub, erp: FakeErp
) -> None:
    """Issue 17: inbound files can be 100 MB, and the flow streams them; the replay of a
    quarantined one (hash, interchange references, copy back into the inbox) streams too,
    where it read the whole file and parsed every message into memory."""
    broken = Hub(hub.ledger, erp=erp, home=hub.home, partners=_wrong_profile(hub))
    orders = make_orders(NORD, US, list(erp.products.values()), count=2000, seed=2)
    data = orders_interchange(orders, sender=NORD, recipient=US, control_ref="9003")
    drop(_box(broken).inbox, "big.edi", data)
    assert run_flow(FLOW, hub=broken)["quarantined"] == 1  # the first run warms the caches
    letter = hub.ledger.dead_letters(flow=FLOW)[0]
    drop(_box(broken).inbox, "again.edi", data)
    report, flow_peak = _peak_bytes(lambda: run_flow(FLOW, hub=broken))
    assert report["quarantined"] == 1

    result, replay_peak = _peak_bytes(lambda: replay(broken, letter.id))  # still the wrong UNB

    assert result["outcome"] == "failed" and "quarantined again" in result["detail"]
    # reading it whole and parsing every message cost ~3.6x the file on top of the flow
    assert replay_peak < flow_peak + len(data) // 2, (len(data), flow_peak, replay_peak)
