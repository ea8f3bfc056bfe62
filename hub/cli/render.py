"""Human rendering of flow reports: a rich table of counts, lists underneath."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()


def print_report(flow: str, report: dict[str, Any]) -> None:
    """Counts as a table; list values (missing items, errors) printed below it."""
    table = Table(title=f"{flow}: {report.get('status', 'ok')}", show_header=True)
    table.add_column("what")
    table.add_column("value", justify="right")
    lists: dict[str, list[Any]] = {}
    for key, value in report.items():
        if key in ("status", "details"):
            continue
        if isinstance(value, list | tuple):
            lists[key] = list(value)
            table.add_row(key, str(len(value)))
        elif isinstance(value, dict):
            for sub, val in value.items():
                table.add_row(f"{key}.{sub}", str(val))
        else:
            table.add_row(key, str(value))
    console.print(table)
    for key, items in lists.items():
        if items:
            console.print(f"[bold]{key}[/bold]:")
            for item in items[:50]:
                console.print(f"  - {item}")
            if len(items) > 50:
                console.print(f"  ... and {len(items) - 50} more")
