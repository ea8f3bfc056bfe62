"""The `hub` command line: run flows, start sandbox systems, manage the ledger."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import typer
from rich.console import Console

from hub.cli import demo as demo_cmd
from hub.cli import edi as edi_cli
from hub.cli import ledger as ledger_cli
from hub.cli import ops as ops_cli
from hub.cli import sandbox as sandbox_cli

app = typer.Typer(
    help="ERP sales integration hub: EDI partners, CRM and carriers in sync with the ERP.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(sandbox_cli.app, name="sandbox")
app.add_typer(ledger_cli.app, name="ledger")
app.add_typer(edi_cli.app, name="edi")
app.command(name="demo")(demo_cmd.demo)
app.add_typer(ops_cli.dead_letters_app, name="dead-letters")
for _name, _command in ops_cli.COMMANDS.items():
    app.command(name=_name)(_command)

console = Console(stderr=True)


def _params(values: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"{item!r}: expected KEY=VALUE")
        params[key.strip()] = value
    return params


@app.command()
def run(
    flow: str = typer.Argument(..., help="flow name, e.g. erp_reference_check"),
    param: list[str] = typer.Option([], "--param", "-p", help="KEY=VALUE passed to the flow"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="read, validate and transform; print what would be written"
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Run one flow once, outside Airflow, through the same code the DAG task calls."""
    from hub.flows import run_flow
    from schemas.errors import HubError

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING)
    try:
        params = _params(param)
        if dry_run:
            params["dry_run"] = True
        report = run_flow(flow, **params)
    except HubError as exc:
        kind = "transient, retry later" if exc.retryable else "permanent"
        console.print(f"[red]error[/red] ({kind}): {exc}")
        raise typer.Exit(2) from exc
    if as_json:
        sys.stdout.write(json.dumps(report, default=str) + "\n")
    else:
        from hub.cli.render import print_report

        print_report(flow, report)
    if report.get("status") == "failed":
        raise typer.Exit(1)


def main() -> None:
    """Console-script entry point."""
    app()
