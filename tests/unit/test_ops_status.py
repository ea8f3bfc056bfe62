"""`hub status`, metrics and the operator CLI on a fake ERP and a SQLite ledger."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from connectors.erp.fake import FakeErp
from hub.bootstrap import Hub
from hub.cli import app
from hub.flows import run_flow
from hub.flows.registry import FlowDescriptor, registered
from hub.ledger import utcnow
from hub.ops import runs
from hub.ops.metrics import render
from hub.ops.status import Thresholds, collect
from sandbox.partner import drop, make_orders, orders_interchange
from schemas.errors import TransientError
from tests.fixtures.hub import NORD, US


def _inbox(hub: Hub) -> Path:
    return hub.mailbox(hub.partners["kaufhaus-nord"]).inbox  # type: ignore[attr-defined]


def _entry(data: dict[str, Any], flow: str, scope: str) -> dict[str, Any]:
    return next(e for e in data["flows"] if (e["flow"], e["scope"]) == (flow, scope))


def _orders(erp: FakeErp, ref: str) -> bytes:
    orders = make_orders(NORD, US, list(erp.products.values()), count=2, seed=1, lines=1)
    return orders_interchange(orders, sender=NORD, recipient=US, control_ref=ref)


def test_runs_are_recorded_and_status_is_healthy_after_a_clean_run(hub: Hub, erp: FakeErp) -> None:
    drop(_inbox(hub), "a.edi", _orders(erp, "1001"))
    run_flow("edi_orders_inbound", hub=hub)
    [run] = runs.recent(hub.ledger, flow="edi_orders_inbound")
    assert run.status == "ok" and run.counts["orders_created"] == 2 and run.finished_at
    data = collect(hub)
    assert data["healthy"] and data["problems"] == []
    nord = _entry(data, "edi_orders_inbound", "kaufhaus-nord")
    assert nord["last_success"]["id"] == run.id
    assert nord["items_24h"] == run.items > 0
    assert nord["inbox"]["files_waiting"] == 0


def test_failed_run_waiting_files_and_old_letters_make_it_unhealthy(hub: Hub, erp: FakeErp) -> None:
    drop(_inbox(hub), "a.edi", _orders(erp, "2001"), age_seconds=7200)
    erp.fail_next(TransientError("ERP down", system="erp"))
    with pytest.raises(TransientError):
        run_flow("edi_orders_inbound", hub=hub)
    drop(_inbox(hub), "junk.txt", b"garbage", age_seconds=7200)
    data = collect(hub)
    nord = _entry(data, "edi_orders_inbound", "kaufhaus-nord")
    assert not data["healthy"]
    assert nord["last_run"]["status"] == "failed" and "ERP down" in nord["last_run"]["error"]
    assert nord["inbox"]["files_waiting"] == 2 and nord["lag_seconds"] >= 7200
    assert len([p for p in data["problems"] if "last run" in p and "failed" in p]) == 1
    assert any("lag" in p for p in data["problems"])
    assert _entry(data, "edi_orders_inbound", "markt-sued")["lag_seconds"] == 0

    run_flow("edi_orders_inbound", hub=hub)  # the rerun succeeds, the junk is dead-lettered
    later = collect(
        hub, Thresholds(dead_letter_age=timedelta(hours=1)), now=utcnow() + timedelta(hours=2)
    )
    assert [p for p in later["problems"] if "dead letter" in p]
    assert not [p for p in later["problems"] if "failed" in p or "lag" in p]
    assert collect(hub)["healthy"]  # the letter is young: within the default 24 h


def boom(hub: Hub) -> dict[str, Any]:
    """A flow that always fails (for the metrics of errors)."""
    raise TransientError("target down", system="test")


def test_metrics_expose_runs_errors_dead_letters_and_lag(hub: Hub, erp: FakeErp) -> None:
    drop(_inbox(hub), "a.edi", _orders(erp, "3001"))
    drop(_inbox(hub), "junk.txt", b"garbage")
    run_flow("edi_orders_inbound", hub=hub)
    with (
        registered(FlowDescriptor("ops_boom", f"{__name__}:boom", "fails")),
        pytest.raises(TransientError),
    ):
        run_flow("ops_boom", hub=hub)
    text = render(hub)
    lines = set(text.splitlines())
    assert 'hub_flow_runs_total{flow="edi_orders_inbound",status="partial"} 1.0' in lines
    assert 'hub_flow_errors_total{flow="ops_boom"} 1.0' in lines
    done = hub.ledger.journal_counts()[("edi_orders_inbound", "done")]  # 2 sales (+ ORDRSPs)
    assert (
        done >= 2
        and f'hub_journal_entries{{flow="edi_orders_inbound",state="done"}} {float(done)}' in lines
    )
    assert (
        'hub_dead_letters_open{error_class="QuarantinedFile",flow="edi_orders_inbound",'
        'partner="kaufhaus-nord"} 1.0'
    ) in lines
    assert 'hub_inbox_files{partner="kaufhaus-nord"} 0.0' in lines
    assert any(x.startswith('hub_records_synced_total{flow="edi_orders_inbound"} ') for x in lines)
    assert 'hub_lag_seconds{flow="edi_orders_inbound",scope="kaufhaus-nord"} 0.0' in lines
    for line in lines:  # every sample line is "name{labels} number" with a TYPE above it
        if line and not line.startswith("#"):
            name = line.split("{")[0].split(" ")[0]
            assert f"# TYPE {name} " in text
            float(line.rsplit(" ", 1)[1])


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "clihome"
    home.mkdir()
    monkeypatch.setenv("HUB_HOME", str(home))
    monkeypatch.setenv("HUB_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite'}")
    monkeypatch.setenv("USER", "operator1")
    assert CliRunner().invoke(app, ["ledger", "upgrade"]).exit_code == 0
    return home


def test_cli_status_dead_letters_and_metrics(cli_env: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["status", "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["healthy"] is True
    drop(cli_env / "partners" / "kaufhaus-nord" / "in", "junk.txt", b"garbage", age_seconds=7200)
    bad = runner.invoke(app, ["status", "--max-lag", "30m"])
    assert bad.exit_code == 1 and "lag" in bad.stdout
    assert runner.invoke(app, ["run", "edi_orders_inbound"]).exit_code == 0
    listed = runner.invoke(
        app, ["dead-letters", "list", "--json", "--error-class", "QuarantinedFile"]
    )
    [letter] = json.loads(listed.stdout)
    shown = runner.invoke(app, ["dead-letters", "show", str(letter["id"])])
    assert "junk.txt" in shown.stdout and shown.exit_code == 0
    no_reason = runner.invoke(app, ["dead-letters", "discard", str(letter["id"])])
    assert no_reason.exit_code != 0
    gone = runner.invoke(
        app, ["dead-letters", "discard", str(letter["id"]), "--reason", "test upload", "--json"]
    )
    assert json.loads(gone.stdout)[0]["by"] == "operator1"
    assert json.loads(runner.invoke(app, ["dead-letters", "list", "--json"]).stdout) == []
    metrics = runner.invoke(app, ["metrics"])
    assert (
        'hub_dead_letters_total{error_class="QuarantinedFile",flow="edi_orders_inbound"} 1.0'
        in metrics.stdout
    )
    unknown = runner.invoke(app, ["dead-letters", "show", "999"])
    assert unknown.exit_code == 2 and "does not exist" in unknown.output
    assert os.environ["USER"] == "operator1"
