"""Bad input to `hub run` is one line naming the flow, parameter or setting and the fix, exit 2:
never a traceback, never a run that silently does nothing (issue "Reliability", item 7)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.cli import app
from hub.flows.registry import REGISTRY


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HUB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HUB_DATABASE_URL", raising=False)
    return tmp_path / "home"


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["-p", "partnr=kaufhaus-nord"], "has no parameter 'partnr'; did you mean 'partner'?"),
        (["-p", "max_files=abc"], "max_files='abc' is not a whole number"),
        (["-p", "max_files"], "expected NAME=VALUE"),
        (["-p", "partner=nobody"], "unknown partner 'nobody'; configured partners: "),
    ],
)
def test_bad_run_parameters_are_one_line_and_exit_2(home: Path, args: list[str], says: str) -> None:
    code, out = _run("run", "edi_orders_inbound", *args)
    assert code == 2
    assert says in " ".join(out.split())
    assert "Traceback" not in out


def test_an_unknown_flow_names_the_close_one(home: Path) -> None:
    code, out = _run("run", "edi_order_inbound")
    assert code == 2 and "did you mean 'edi_orders_inbound'" in " ".join(out.split())


def test_a_non_numeric_port_in_a_connection_is_named(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_HUB_ERP", "http://admin:secret@127.0.0.1:80x0/tryton")
    code, out = _run("run", "erp_reference_check")
    text = " ".join(out.split())
    assert code == 2 and "AIRFLOW_CONN_HUB_ERP: the port is not a number" in text
    assert "secret" not in out
    monkeypatch.setenv("AIRFLOW_CONN_HUB_ERP", json.dumps({"host": "127.0.0.1", "port": "x"}))
    code, out = _run("run", "erp_reference_check")
    assert code == 2 and "port 'x' is not a number from 1 to 65535" in " ".join(out.split())


def test_an_unwritable_hub_home_names_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("HUB_HOME", str(blocker / "home"))  # cannot be created, even by root
    monkeypatch.delenv("HUB_DATABASE_URL", raising=False)
    code, out = _run("run", "erp_reference_check")
    text = " ".join(out.split())
    assert code == 2 and f"HUB_HOME {blocker / 'home'} cannot be created" in text
    assert "Traceback" not in out


def test_hub_flows_lists_the_registry(home: Path) -> None:
    code, out = _run("flows", "--json")
    assert code == 0
    listed = {row["flow"]: row for row in json.loads(out)}
    assert set(listed) == set(REGISTRY)
    assert listed["edi_orders_inbound"]["dry_run"] and listed["edi_orders_inbound"]["backfill"]
    assert [p["name"] for p in listed["edi_orders_inbound"]["params"]][:2] == [
        "partner",
        "max_files",
    ]
