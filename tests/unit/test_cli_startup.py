"""`hub` starts fast: commands load lazily from one table, nothing heavy is imported for
`hub --help` or `hub edi validate`, `hub run FLOW --help` lists the flow's parameters, and
tables stay readable at 80 columns (issue 12, CLI). Speed itself is measured by
`bench/cli_startup.py`, never asserted here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from hub.cli import COMMANDS, app
from hub.cli.fastparams import install

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
sys.argv = ["hub", *json.loads(sys.argv[1])]
from hub.cli import main
try:
    main()
except SystemExit:
    pass
heavy = ["pydantic", "airflow", "hub.flows.registry", "sqlalchemy", "schemas.model",
         "typer._adapters", "sandbox.demo"]
sys.stderr.write("LOADED " + json.dumps([m for m in heavy if m in sys.modules]) + "\\n")
"""


def _loaded(*args: str) -> tuple[list[str], str]:
    env = {**os.environ, "COLUMNS": "80"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(list(args))],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
    )  # fmt: skip
    line = next(ln for ln in done.stderr.splitlines() if ln.startswith("LOADED "))
    return json.loads(line.removeprefix("LOADED ")), done.stdout


def test_help_lists_every_command_and_imports_nothing_heavy() -> None:
    loaded, out = _loaded("--help")
    assert loaded == []
    for name in [*COMMANDS, "demo", "sandbox"]:  # the table, then the sandbox's entry points
        assert f"  {name} " in out, name
    # an entry point's help is read from its source, without importing it
    assert "Sandbox systems for the demo and tests" in " ".join(out.split())


def test_edi_validate_imports_no_pydantic_registry_or_airflow(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from bench.edi_parse import interchange

    small = tmp_path / "small.edi"
    small.write_bytes(interchange(3))
    loaded, out = _loaded("edi", "validate", str(small))
    assert "accepted" in out
    assert loaded == []


def test_run_flow_help_lists_its_parameters() -> None:
    result = CliRunner().invoke(app, ["run", "edi_orders_inbound", "--help"])
    assert result.exit_code == 0
    assert "max_files (int, default 200): files per partner per run" in result.output
    assert "partner (str): a partner id" in result.output
    generic = CliRunner().invoke(app, ["run", "--help"])
    assert "crm_push [--dry-run]: sale_ids, page_size" in " ".join(generic.output.split())


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("hub ")


def test_a_command_is_one_line_in_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(COMMANDS, "hello", (f"{__name__}:hello", "say hello"))
    result = CliRunner().invoke(app, ["hello", "--times", "2"])
    assert result.exit_code == 0 and result.output == "hello\nhello\n"
    bad = CliRunner().invoke(app, ["hello", "--times", "x"])
    assert bad.exit_code == 2 and "'x' is not a whole number" in bad.output
    typo = CliRunner().invoke(app, ["statsu"])
    assert typo.exit_code == 2 and "Did you mean 'status'" in typo.output


def hello(times: int = typer.Option(1, "--times")) -> None:
    """Test command."""
    for _ in range(times):
        typer.echo("hello")


def test_plain_coercion_keeps_typer_semantics(tmp_path: Path) -> None:
    demo = typer.Typer()

    @demo.command()
    def cmd(
        paths: list[Path] = typer.Argument(..., exists=True),
        count: int = typer.Option(3),
        name: str | None = typer.Option(None),
        flag: bool = typer.Option(False),
    ) -> None:
        typer.echo(json.dumps([[p.name for p in paths], count, name, flag]))

    install(typer.main.get_command(demo))
    there = tmp_path / "there.edi"
    there.write_text("x")
    ok = CliRunner().invoke(demo, [str(there), "--count", "7", "--flag"])
    assert ok.exit_code == 0 and json.loads(ok.output) == [["there.edi"], 7, None, True]
    gone = subprocess.run(  # the real command line: a path that does not exist is refused
        [sys.executable, "-m", "hub.cli", "edi", "validate", str(tmp_path / "nope.edi")],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert gone.returncode == 2 and "does not exist" in gone.stderr


def test_flows_table_is_readable_at_80_columns() -> None:
    env = {**os.environ, "COLUMNS": "80"}
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", "flows"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
    )  # fmt: skip
    lines = done.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert "…" not in done.stdout
    for flow in ("edi_documents_outbound", "logistics_shipments", "erp_reference_check"):
        assert any(line.lstrip().startswith(flow + " ") for line in lines), flow
