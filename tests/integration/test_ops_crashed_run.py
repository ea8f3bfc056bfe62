"""A run whose process was killed (kill -9) shows as crashed in `hub status`, on SQLite and
PostgreSQL; read-only operator commands refuse a HUB_HOME or ledger that does not exist."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hub.cli import app
from hub.ledger import Ledger
from hub.ops import runs
from hub.settings import PROJECT_ROOT

# a flow run that records its start, says so, and then hangs until it is killed
WORKER = """
import sys, threading
from hub.ledger import Ledger
from hub.ops import runs
ledger = Ledger(sys.argv[1])
ledger.start_heartbeat()
print(runs.start(ledger, "logistics_shipments", {}), flush=True)
threading.Event().wait()
"""


@pytest.fixture
def cli_env(ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HUB_HOME", str(home))
    monkeypatch.setenv("HUB_DATABASE_URL", ledger.url)
    return home


@pytest.fixture
def worker(ledger: Ledger) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """A real process holding a running run (its id is the first line it prints)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, ledger.url],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until the run is recorded (or the worker died)
    if not line.strip().isdigit():
        proc.kill()
        pytest.fail(f"worker did not start a run: {line!r} {proc.communicate(timeout=60)[1]}")
    try:
        yield proc, int(line)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)


def _status() -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(app, ["status", "--json"])
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def _logistics(data: dict[str, Any]) -> dict[str, Any]:
    return next(e for e in data["flows"] if e["flow"] == "logistics_shipments")


def test_a_killed_run_shows_as_crashed_not_running(
    ledger: Ledger, cli_env: Path, worker: tuple[subprocess.Popen[str], int]
) -> None:
    proc, run_id = worker
    code, alive = _status()
    entry = _logistics(alive)
    assert [r["id"] for r in entry["running"]] == [run_id] and entry["last_run"] is None
    assert code == 0 and alive["healthy"]

    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL

    code, after = _status()
    entry = _logistics(after)
    assert entry["running"] == []
    assert (entry["last_run"]["id"], entry["last_run"]["status"]) == (run_id, "crashed")
    assert code == 1 and any(f"#{run_id} crashed" in p for p in after["problems"])
    [run] = runs.recent(ledger, flow="logistics_shipments")
    assert run.crashed and run.finished_at is None
    metrics = CliRunner().invoke(app, ["metrics"]).stdout
    assert 'hub_flow_runs_total{flow="logistics_shipments",status="crashed"} 1' in metrics
    assert 'hub_flow_errors_total{flow="logistics_shipments"} 1' in metrics
    table = CliRunner().invoke(app, ["status"]).stdout
    assert "crashed" in table


def test_a_finished_run_of_a_dead_process_is_not_crashed(ledger: Ledger) -> None:
    run_id = runs.start(ledger, "crm_push", {})
    runs.finish(ledger, run_id, report={"status": "ok"})
    other = Ledger(ledger.url, owner="somewhere-else:1:abc")  # never beat: not provably dead
    try:
        assert [r.status for r in runs.recent(other)] == ["ok"]
    finally:
        other.dispose()


READ_ONLY = (
    ["status"],
    ["status", "--json"],
    ["trace", "PO-1"],
    ["reconcile"],
    ["metrics"],
    ["dead-letters", "list"],
)


@pytest.mark.parametrize("args", READ_ONLY, ids=lambda a: " ".join(a))
def test_read_only_commands_refuse_a_hub_home_that_does_not_exist(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "typo"
    monkeypatch.setenv("HUB_HOME", str(home))
    monkeypatch.delenv("HUB_DATABASE_URL", raising=False)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    [line] = result.output.strip().splitlines()
    assert f"HUB_HOME {home} does not exist" in line
    assert not home.exists()  # nothing was created


def test_read_only_commands_refuse_a_missing_ledger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HUB_HOME", str(home))
    monkeypatch.setenv("HUB_DATABASE_URL", f"sqlite:///{tmp_path / 'nope.sqlite'}")
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 2 and f"no ledger at {tmp_path / 'nope.sqlite'}" in result.output
    assert not (tmp_path / "nope.sqlite").exists()
    monkeypatch.delenv("HUB_DATABASE_URL")
    result = CliRunner().invoke(app, ["dead-letters", "list"])
    assert result.exit_code == 2 and f"no ledger at {home / 'ledger.sqlite'}" in result.output


def test_read_only_commands_name_an_unreachable_ledger_without_its_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_HOME", str(tmp_path))
    monkeypatch.setenv("HUB_DATABASE_URL", "postgresql://hub:s3cret@127.0.0.1:1/hub")
    result = CliRunner().invoke(app, ["status", "--json"])
    assert result.exit_code == 2, result.output
    [line] = result.output.strip().splitlines()
    assert "postgresql://hub:***@127.0.0.1:1/hub cannot be reached" in line
    assert "s3cret" not in result.output
