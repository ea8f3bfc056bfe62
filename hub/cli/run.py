"""`hub run FLOW` and `hub flows`: run one registered flow once, list what is registered.

`hub run FLOW --help` prints that flow's own parameters from the registry (the generic help
lists every flow); long work shows a rich spinner with the elapsed time on a terminal.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from typer.core import TyperCommand

from hub.flows.registry import REGISTRY, FlowDescriptor

HIDDEN = {"dry_run", "since", "until", "cursor_stream"}  # shown as the dry-run/backfill columns


def flow_help(flow: FlowDescriptor) -> str:
    """The help text of one flow: summary, parameters with type, default and meaning."""
    lines = [f"{flow.name}: {flow.summary}.", ""]
    lines.append(f"DAG: {flow.dag or '-'}; writes: {', '.join(flow.writes) or 'nothing'}")
    lines.append(
        f"dry run: {'yes (--dry-run)' if flow.supports_dry_run else 'no'}; "
        f"backfill: {'yes (hub backfill)' if flow.supports_backfill else 'no'}"
    )
    lines += ["", "Parameters (-p NAME=VALUE):"]
    shown = [p for p in flow.params if p.name not in HIDDEN]
    for p in shown:
        default = "" if p.default is None else f", default {p.default}"
        lines.append(f"  {p.name} ({p.type}{default}): {p.help}")
    if not shown:
        lines.append("  none")
    return "\n".join(lines)


def _flows_help() -> str:
    lines = ["Flows and their parameters (hub run FLOW --help for one):", ""]
    for flow in REGISTRY.values():
        params = ", ".join(p.name for p in flow.params if p.name not in HIDDEN) or "none"
        extra = " [--dry-run]" if flow.supports_dry_run else ""
        lines.append(f"{flow.name}{extra}: {params}")
    return "\n".join(lines)


class RunCommand(TyperCommand):
    """`hub run FLOW --help` prints the flow's parameters instead of the generic help."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        wants_help = any(a in ("--help", "-h") for a in args)
        named = [a for a in args if not a.startswith("-")]
        if wants_help and named and named[0] in REGISTRY:
            typer.echo(f"Usage: hub run {named[0]} [-p NAME=VALUE]... [--dry-run] [--json]\n")
            typer.echo(flow_help(REGISTRY[named[0]]))
            ctx.exit(0)
        return super().parse_args(ctx, args)


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
def progress(what: str, total: int | None = None) -> Iterator[Callable[[], None]]:
    """A rich progress line on a terminal (stderr): a bar when ``total`` is known, else a
    spinner, with the elapsed time; yields ``step()`` to advance it. Nothing when piped."""
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        yield lambda: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
    if total is not None:
        columns += [BarColumn(), MofNCompleteColumn()]
    with Progress(*columns, TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task(what, total=total)
        yield lambda: bar.advance(task)


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
    from hub.cli.render import console, show, table

    wide = console.width >= 100  # the DAG column only where it fits
    out = table("flow", "parameters", "writes", "modes", *(["DAG"] if wide else []))
    for f in REGISTRY.values():
        modes = [
            m
            for m, ok in (("dry-run", f.supports_dry_run), ("backfill", f.supports_backfill))
            if ok
        ]
        out.add_row(
            f.name,
            ", ".join(p.name for p in f.params if p.name not in HIDDEN) or "-",
            ", ".join(f.writes) or "-",
            " ".join(modes) or "-",
            *([f.dag or "-"] if wide else []),
        )
    show(out)


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
    from rich.console import Console

    from hub.flows import run_flow
    from schemas.errors import HubError

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING)
    try:
        params = _params(param)
        if dry_run:
            params["dry_run"] = True
        with progress(f"running {flow}"):
            report = run_flow(flow, **params)
    except HubError as exc:
        kind = "transient, retry later" if exc.retryable else "permanent"
        Console(stderr=True).print(f"[red]error[/red] ({kind}): {exc}", soft_wrap=True)
        raise typer.Exit(2) from exc
    if as_json:
        sys.stdout.write(json.dumps(report, default=str) + "\n")
    else:
        from hub.cli.render import print_report

        print_report(flow, report)
    if report.get("status") == "failed":
        raise typer.Exit(1)


# the command the root's table names: `run` with the flow-aware help (RunCommand)
_run_app = typer.Typer()
_run_app.command("run", cls=RunCommand, epilog=_flows_help())(run)
run_command = typer.main.get_command(_run_app)
