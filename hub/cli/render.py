"""Human rendering for the CLI: tables that stay readable at 80 columns, flow reports.

Tables use a light box, no wasted padding, and fold (never cut with "…") the columns that
hold free text, so an 80-column terminal shows every value.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

console = Console()


def table(
    *columns: str,
    title: str | None = None,
    keep: Iterable[int] = (),
    right: Iterable[int] = (),
) -> Table:
    """A compact table: long text wraps at spaces (and folds inside a word only if it must);
    columns in ``keep`` are never wrapped (short codes, times); ``right``: numbers."""
    whole, numbers = set(keep), set(right)
    out = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, show_edge=False)
    for index, name in enumerate(columns):
        out.add_column(
            name,
            justify="right" if index in numbers else "left",
            overflow="fold",
            no_wrap=index in whole,
        )
    return out


def show(out: Table, target: Console | None = None) -> None:
    """Print a table whose wrapping columns never split a word: each column is at least as
    wide as its longest word, so rich wraps at spaces and keeps names and codes whole."""
    from rich.text import Text

    for column in out.columns:
        plain = [Text.from_markup(c).plain if isinstance(c, str) else str(c) for c in column.cells]
        words = [len(w) for cell in plain for w in cell.split()]
        column.min_width = max([len(str(column.header)), *words]) if words else None
    (target or console).print(out)


def print_report(flow: str, report: dict[str, Any]) -> None:
    """Counts as a table; list values (missing items, errors) printed below it."""
    out = table("what", "value", title=f"{flow}: {report.get('status', 'ok')}", right=(1,))
    lists: dict[str, list[Any]] = {}
    for key, value in report.items():
        if key in ("status", "details"):
            continue
        if isinstance(value, list | tuple):
            lists[key] = list(value)
            out.add_row(key, str(len(value)))
        elif isinstance(value, dict):
            for sub, val in value.items():
                out.add_row(f"{key}.{sub}", str(val))
        else:
            out.add_row(key, str(value))
    show(out)
    for key, items in lists.items():
        if items:
            console.print(f"[bold]{key}[/bold]:")
            for item in items[:50]:
                console.print(f"  - {item}", soft_wrap=False)
            if len(items) > 50:
                console.print(f"  ... and {len(items) - 50} more")
