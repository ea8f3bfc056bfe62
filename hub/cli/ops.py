"""`hub status | dead-letters | trace | reconcile | metrics | backfill`: the operator's commands."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

console = Console()
err = Console(stderr=True)

dead_letters_app = typer.Typer(
    help="Records the hub could not process: list, show, replay, discard."
)


def _dump(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=str, indent=2) + "\n")


def _existing_hub() -> Any:
    """The hub of an existing HUB_HOME and ledger, for commands that only read: a typo in
    HUB_HOME or HUB_DATABASE_URL is an error naming the path, never an empty "healthy" hub."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    from hub import settings
    from hub.bootstrap import Hub
    from hub.ledger import Ledger
    from schemas.errors import PermanentError, TransientError

    home = Path(os.environ.get("HUB_HOME") or settings.PROJECT_ROOT / ".hub")
    if not home.is_dir():
        raise PermanentError(
            f"HUB_HOME {home} does not exist: nothing has run there (check the path)",
            system="cli",
        )
    url = settings.database_url()
    where = make_url(url).render_as_string(hide_password=True)
    database = make_url(url).database if url.startswith("sqlite") else None
    if database and database != ":memory:" and not Path(database).is_file():
        raise PermanentError(
            f"no ledger at {database}: nothing has run with this HUB_HOME/HUB_DATABASE_URL "
            "(check the path)",
            system="cli",
        )
    ledger = Ledger(url)
    try:
        if ledger.revision() is None:
            raise PermanentError(
                f"the ledger at {where} has no tables: nothing has run with it (check "
                "HUB_DATABASE_URL, or create it with `hub ledger upgrade`)",
                system="cli",
            )
        ledger.upgrade()  # an older ledger is brought up to date, as every command does
    except (OperationalError, TransientError) as exc:
        # the ledger may hand the database error over as a TransientError (its cause)
        ledger.dispose()
        db_error = exc if isinstance(exc, OperationalError) else exc.__cause__
        why = db_error.orig if isinstance(db_error, OperationalError) else exc
        raise TransientError(
            f"the ledger at {where} cannot be reached: {' '.join(str(why).split())[:200]}",
            system="ledger",
        ) from exc
    except BaseException:
        ledger.dispose()
        raise
    return Hub(ledger, home=home)


@contextmanager
def _hub(*, read_only: bool = False) -> Iterator[Any]:
    """The configured hub; hub errors become a red line naming the fix and exit code 2.

    ``read_only`` commands need an existing hub home and ledger (see ``_existing_hub``)."""
    from hub.bootstrap import Hub
    from schemas.errors import HubError

    hub = None
    try:
        hub = _existing_hub() if read_only else Hub.from_env()
        yield hub
    except HubError as exc:
        kind = "transient, retry later" if exc.retryable else "permanent"
        err.print(f"[red]error[/red] ({kind}): {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from exc
    finally:
        if hub is not None:
            hub.close()


def _age(text: str | None) -> timedelta | None:
    from hub.ops.deadletters import parse_age

    return parse_age(text) if text else None


def _fmt_age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    from hub.ops.status import _fmt_age as fmt

    return fmt(seconds)


# -- status ----------------------------------------------------------------------------------


def status(
    as_json: bool = typer.Option(False, "--json", help="print the status as JSON"),
    max_lag: str = typer.Option("1h", help="unhealthy when the oldest unprocessed item is older"),
    dead_letter_age: str = typer.Option(
        "24h", help="unhealthy when an open dead letter is older than this"
    ),
    max_cursor_age: str = typer.Option(
        "", help="unhealthy when a cursor has not moved for this long (off by default)"
    ),
) -> None:
    """Health per flow and partner/system; exit code 1 when something needs a person."""
    from hub.ops.status import Thresholds, collect

    with _hub(read_only=True) as hub:
        th = Thresholds(
            max_lag=_age(max_lag) or timedelta(hours=1),
            dead_letter_age=_age(dead_letter_age) or timedelta(hours=24),
            max_cursor_age=_age(max_cursor_age),
        )
        data = collect(hub, th)
    if as_json:
        _dump(data)
    else:
        _status_table(data)
        for problem in data["problems"]:
            console.print(f"[red]problem[/red] {escape(problem)}", soft_wrap=True)
    if not data["healthy"]:
        raise typer.Exit(1)


def _status_table(data: dict[str, Any]) -> None:
    """The status as a table; under 120 columns the cursors column goes and times are
    shortened (MM-DD HH:MM), so the table reads on an 80-column terminal."""
    from hub.cli.render import show, table

    wide = console.width >= 120
    title = "[green]healthy[/green]" if data["healthy"] else "[red]UNHEALTHY[/red]"
    cols = ["flow", "scope", "last run", "last success", "lag", "items 24h", "dead letters"]
    cols += ["inbox", "cursors"] if wide else ["inbox"]
    out = table(*cols, title=f"hub status: {title}", right=(4, 5))
    cut = (0, 16) if wide else (5, 16)
    for e in data["flows"]:
        last, ok = e["last_run"], e["last_success"]
        inbox = e["inbox"] or {}
        row = [
            ("" if e["healthy"] else "[red]") + e["flow"],
            e["scope"],
            _last_run_cell(last, e.get("running") or [], cut),
            ok["started_at"][cut[0] : cut[1]].replace("T", " ") if ok else "-",
            _fmt_age(e["lag_seconds"]),
            str(e["items_24h"]),
            str(e["dead_letters_open"])
            + (
                f" (oldest {_fmt_age(e['oldest_dead_letter_age_seconds'])})"
                if e["dead_letters_open"]
                else ""
            ),
            str(inbox.get("files_waiting", "-")) if inbox.get("checked") else "-",
        ]
        if wide:
            cursors = [f"{c['stream']}={(c['value'] or '')[:19]}" for c in e["cursors"][:3]]
            row.append(", ".join(cursors) or "-")
        out.add_row(*row)
    show(out)


def _last_run_cell(
    last: dict[str, Any] | None, running: list[dict[str, Any]], cut: tuple[int, int] = (0, 16)
) -> str:
    """The last run's status and start ("crashed" when its process died), and any run
    still going."""
    when = last["started_at"][cut[0] : cut[1]].replace("T", " ") if last else ""
    text = f"{last['status']} {when}" if last else "never"
    if last and last["status"] in ("failed", "crashed"):
        text = f"[red]{text}[/red]"
    if running:
        text += f"; running since {running[0]['started_at'][11:16]}"
    return text


# -- dead letters ----------------------------------------------------------------------------


@dead_letters_app.command("list")
def dl_list(
    flow: str = typer.Option(None, "--flow"),
    partner: str = typer.Option(None, "--partner"),
    error_class: str = typer.Option(None, "--error-class"),
    older_than: str = typer.Option(None, "--older-than", help="e.g. 30m, 2h, 3d"),
    state: str = typer.Option("open", "--state", help="open, replayed, resolved, discarded, all"),
    limit: int = typer.Option(1000, "--limit"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Dead letters matching the filters, oldest first."""
    from hub.ops.deadletters import list_letters

    with _hub(read_only=True) as hub:
        letters = list_letters(
            hub.ledger,
            state=state,
            flow=flow,
            partner=partner,
            error_class=error_class,
            older_than=_age(older_than),
            limit=limit,
        )
    if as_json:
        _dump(letters)
        return
    from hub.cli.render import show
    from hub.cli.render import table as new_table

    table = new_table(
        "id", "flow", "partner", "class", "age", "tries", "state", "reason",
        title=f"dead letters ({state}): {len(letters)}", right=(0, 5),
    )  # fmt: skip
    for d in letters:
        table.add_row(
            str(d["id"]),
            d["flow"],
            d["partner"] or "-",
            d["error_class"],
            _fmt_age(d["age_seconds"]),
            str(d["attempts"]),
            d["state"],
            d["reason"][:160],
        )
    show(table)


@dead_letters_app.command("show")
def dl_show(
    letter_id: int = typer.Argument(..., help="the dead letter's id (see list)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """One dead letter: reason, payload and audit trail."""
    from hub.ops.deadletters import show

    with _hub(read_only=True) as hub:
        data = show(hub.ledger, letter_id)
    if as_json:
        _dump(data)
        return
    from hub.cli.render import show as show_table
    from hub.cli.render import table as new_table

    table = new_table("field", "value", title=f"dead letter {letter_id}")
    for key in (
        "flow",
        "record_key",
        "partner",
        "system",
        "error_class",
        "state",
        "attempts",
        "created_at",
        "updated_at",
        "resolved_by",
        "resolution",
        "reason",
    ):
        table.add_row(key, str(data[key]))
    table.add_row("payload", json.dumps(data["payload"], indent=1, default=str))
    show_table(table)
    for a in data["audit"]:
        console.print(
            f"  {a['at'][:19]} {a['action']} by {a['by']}: {a['outcome']}"
            + (f" ({a['reason']})" if a["reason"] else "")
        )


def _selected(hub: Any, ids: list[int], every: bool, **filters: Any) -> list[int]:
    from hub.ops.deadletters import list_letters

    if ids:
        return ids
    if not every:
        raise typer.BadParameter("name dead letter ids, or --all with filters")
    return [d["id"] for d in list_letters(hub.ledger, state="open", **filters)]


def _letter_action(rows: list[dict[str, Any]], as_json: bool, title: str) -> None:
    if as_json:
        _dump(rows)
        return
    from hub.cli.render import show
    from hub.cli.render import table as new_table

    table = new_table("id", "outcome", "state", "detail", title=title, right=(0,))
    for r in rows:
        colour = {"replayed": "green", "resolved": "green", "discarded": "yellow"}.get(
            r["outcome"], "red" if r["outcome"] == "failed" else "white"
        )
        table.add_row(
            str(r["id"]),
            f"[{colour}]{r['outcome']}[/{colour}]",
            str(r.get("state", r["outcome"])),
            str(r.get("detail") or r.get("reason")),
        )
    show(table)


@dead_letters_app.command("replay")
def dl_replay(
    letter_ids: list[int] = typer.Argument(None, help="ids to replay"),
    every: bool = typer.Option(False, "--all", help="every open letter matching the filters"),
    flow: str = typer.Option(None, "--flow"),
    partner: str = typer.Option(None, "--partner"),
    error_class: str = typer.Option(None, "--error-class"),
    older_than: str = typer.Option(None, "--older-than"),
    by: str = typer.Option(None, "--by", help="who replays (default $USER)"),
    confirm_absent: bool = typer.Option(
        False,
        "--confirm-absent",
        help="unknown-outcome letters named by id: you checked the target system holds "
        "nothing under the letter's reference, so act again at once",
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Redo the work of dead letters through the ledger (a second replay changes nothing).

    An unknown-outcome letter goes through its flow's policy again (look the reference up
    first, or back to a person) unless --confirm-absent says the target holds nothing."""
    from hub.ops.replay import replay

    if confirm_absent and (every or not letter_ids):
        raise typer.BadParameter(
            "--confirm-absent needs the letters named by id (a person checked each one), not --all",
            param_hint="--confirm-absent",
        )
    with _hub(read_only=True) as hub:
        ids = _selected(
            hub,
            letter_ids or [],
            every,
            flow=flow,
            partner=partner,
            error_class=error_class,
            older_than=_age(older_than),
        )
        from hub.cli.run import progress

        rows = []
        with progress(f"replaying {len(ids)} dead letter(s)", total=len(ids)) as step:
            for i in ids:
                rows.append(replay(hub, i, by=by, confirm_absent=confirm_absent))
                step()
    _letter_action(rows, as_json, f"replayed {len(rows)} dead letter(s)")
    if any(r["outcome"] == "failed" for r in rows):
        raise typer.Exit(1)


@dead_letters_app.command("discard")
def dl_discard(
    letter_ids: list[int] = typer.Argument(..., help="ids to discard"),
    reason: str = typer.Option(..., "--reason", help="why nothing will be done (kept for audit)"),
    by: str = typer.Option(None, "--by", help="who discards (default $USER)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Close dead letters without action, keeping who, when and why."""
    from hub.ops.deadletters import discard

    with _hub(read_only=True) as hub:
        rows = [discard(hub.ledger, i, reason=reason, by=by) for i in letter_ids]
    _letter_action(rows, as_json, f"discarded {len(rows)} dead letter(s)")


# -- trace, reconcile, metrics, backfill -----------------------------------------------------


def trace(
    ref: str = typer.Argument(
        ..., help="partner order number, ERP sale number, shipment or tracking number"
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The timeline of one order across partner, ERP, carrier and CRM; exit 1 if unknown."""
    from hub.ops.trace import trace as run_trace

    with _hub(read_only=True) as hub:
        data = run_trace(hub, ref)
    if as_json:
        _dump(data)
    else:
        heads = ", ".join(
            f"{k} {', '.join(data[k])}"
            for k in ("orders", "sales", "shipments", "tracking_numbers")
            if data[k]
        )
        from hub.cli.render import show
        from hub.cli.render import table as new_table

        # the heading as one line above the table (a table title would wrap and centre)
        console.print(escape(f"trace {ref}" + (f": {heads}" if heads else "")), soft_wrap=True)
        table = new_table("time (UTC)", "step", "system", "state", "what", "document")
        for item in data["timeline"]:
            doc = item["document"] or {}
            table.add_row(
                (item["at"] or "")[:19],
                item["title"],
                item["system"],
                item["state"] or "",
                item["summary"][:200],
                doc.get("path") or doc.get("outbox_file") or "",
            )
        show(table)
    if not data["found"]:
        err.print(
            f"nothing in the ledger refers to {ref!r}: check the number, or search the "
            "dead letters (hub dead-letters list --state all)"
        )
        raise typer.Exit(1)


def reconcile(as_json: bool = typer.Option(False, "--json")) -> None:
    """ERP against CRM, carrier and partner outboxes: counts, hashes, every difference."""
    from hub.ops.reconcile import reconcile as run_reconcile

    with _hub(read_only=True) as hub:
        data = run_reconcile(hub)
    if as_json:
        _dump(data)
    else:
        print_reconcile(data)
    if not data["clean"]:
        raise typer.Exit(1)


def metrics() -> None:
    """The hub's metrics in Prometheus text format."""
    from hub.ops.metrics import render

    with _hub(read_only=True) as hub:
        sys.stdout.write(render(hub))


def _params(values: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"{item!r}: expected KEY=VALUE")
        params[key.strip()] = value
    return params


def backfill(
    flow: str = typer.Argument(..., help="flow name"),
    since: str = typer.Option(..., "--since", help="ISO date/time, start of the window"),
    until: str = typer.Option(None, "--until", help="ISO date/time, end (exclusive)"),
    param: list[str] = typer.Option([], "--param", "-p", help="KEY=VALUE passed to the flow"),
    dry_run: bool = typer.Option(False, "--dry-run", help="only say what would change"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Re-sync a bounded window without touching the live cursor, through the same ledger."""
    from hub.cli.render import print_report
    from hub.cli.run import progress
    from hub.ops.backfill import backfill as run_backfill
    from hub.ops.backfill import parse_time

    with _hub() as hub, progress(f"backfill {flow} since {since}"):
        params = _params(param)
        if dry_run:
            params["dry_run"] = True
        report = run_backfill(
            hub,
            flow,
            since=parse_time(since, "--since"),
            until=parse_time(until, "--until") if until else None,
            **params,
        )
    if as_json:
        _dump(report)
    else:
        print_report(f"backfill {flow}", report)
    if report.get("status") == "failed":
        raise typer.Exit(1)


COMMANDS: dict[str, Callable[..., None]] = {
    "status": status,
    "trace": trace,
    "reconcile": reconcile,
    "metrics": metrics,
    "backfill": backfill,
}


def print_reconcile(data: dict[str, Any]) -> None:
    """The reconcile report as a table plus one line per difference."""
    from hub.cli.render import show
    from hub.cli.render import table as new_table

    wide = console.width >= 120  # the content hashes only where they fit
    cols = ["section", "left", "right", *(["hash left", "hash right"] if wide else []), "diffs"]
    table = new_table(*cols, title=f"reconcile: {data['differences']} difference(s)")
    for s in data["sections"]:
        left, right = s["systems"]
        hashes = [s["hashes"][left][:12], s["hashes"][right][:12]] if wide else []
        table.add_row(
            s["section"] + ("" if s["active"] else " (inactive)"),
            f"{left} {s['counts'][left]}",
            f"{right} {s['counts'][right]}",
            *hashes,
            str(len(s["differences"])),
        )
    show(table)
    for s in data["sections"]:
        for d in s["differences"]:
            console.print(f"[red]{s['section']}[/red] {d['record']}: {d['kind']}: {d['detail']}")
