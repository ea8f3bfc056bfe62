"""The `hub` command line: run flows, operate the hub, manage the ledger.

Command groups that ship with optional parts (the sandbox's `hub demo` and `hub sandbox`)
are found through the ``hub.commands`` entry points: the hub never imports the sandbox, and
a production install without it simply has no such commands.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console

from hub.cli import edi as edi_cli
from hub.cli import ledger as ledger_cli
from hub.cli import ops as ops_cli
from hub.flows.registry import REGISTRY

app = typer.Typer(
    help="ERP sales integration hub: EDI partners, CRM and carriers in sync with the ERP.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(ledger_cli.app, name="ledger")
app.add_typer(edi_cli.app, name="edi")
app.add_typer(ops_cli.dead_letters_app, name="dead-letters")
for _name, _command in ops_cli.COMMANDS.items():
    app.command(name=_name)(_command)

console = Console(stderr=True)


def _plugins() -> None:
    """Add the command groups other installed parts provide (entry points ``hub.commands``)."""
    from importlib.metadata import entry_points

    for entry in entry_points(group="hub.commands"):
        entry.load()(app)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"hub {version('erp-sales-hub')}")
        except PackageNotFoundError:
            typer.echo("hub (not installed as a package)")
        raise typer.Exit()


@app.callback()
def _root(
    _version_flag: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="print the version and exit"
    ),
) -> None:
    """ERP sales integration hub: EDI partners, CRM and carriers in sync with the ERP."""


def _flows_help() -> str:
    lines = ["Flows and their parameters (-p NAME=VALUE):", ""]
    for flow in REGISTRY.values():
        params = ", ".join(f"{p.name} ({p.type})" for p in flow.params) or "none"
        extra = " [--dry-run]" if flow.supports_dry_run else ""
        lines.append(f"{flow.name}{extra}: {flow.summary}. Parameters: {params}")
        lines.append("")
    return "\n".join(lines)


def _params(values: list[str]) -> dict[str, Any]:
    from schemas.errors import PermanentError

    params: dict[str, Any] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise PermanentError(f"-p {item!r}: expected NAME=VALUE", system="cli")
        params[key.strip()] = value
    return params


@contextmanager
def _nothing() -> Iterator[None]:
    yield


@app.command(name="flows")
def flows_cmd(
    as_json: bool = typer.Option(False, "--json", help="print the registry as JSON"),
) -> None:
    """List the flows, their parameters, dry-run/backfill support and the systems they write."""
    rows = [
        {
            "flow": f.name,
            "summary": f.summary,
            "params": [{"name": p.name, "type": p.type, "default": p.default, "help": p.help}
                       for p in f.params],
            "writes": list(f.writes),
            "dry_run": f.supports_dry_run,
            "backfill": f.supports_backfill,
            "per_partner": f.per_partner,
            "dag": f.dag,
        }
        for f in REGISTRY.values()
    ]  # fmt: skip
    if as_json:
        sys.stdout.write(json.dumps(rows) + "\n")
        return
    from rich.table import Table

    hidden = {"dry_run", "since", "until", "cursor_stream"}  # shown as the two yes/- columns
    table = Table("flow", "parameters", "writes", "dry run", "backfill", "DAG")
    for f in REGISTRY.values():
        table.add_row(
            f.name,
            ", ".join(p.name for p in f.params if p.name not in hidden) or "-",
            ", ".join(f.writes) or "-",
            "yes" if f.supports_dry_run else "-",
            "yes" if f.supports_backfill else "-",
            f.dag or "-",
        )
    Console().print(table)


@app.command(epilog=_flows_help())
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
        with (
            console.status(f"running {flow} ...", spinner="dots")
            if console.is_terminal
            else (_nothing())
        ):
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


_plugins()


def main() -> None:
    """Console-script entry point."""
    app()
