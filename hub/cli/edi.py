"""`hub edi` commands: validate partners' EDIFACT files (syntax, envelope, message rules)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from connectors.edi.charsets import CHARSET_POLICIES, CharsetPolicy
from connectors.edi.errors import Issue
from connectors.edi.result import FileResult
from connectors.edi.validation import MessageCheck, validate

app = typer.Typer(help="EDIFACT tools: validate partners' files.", no_args_is_help=True)

PartnerChecks = Callable[[str], Sequence[MessageCheck]]
"""Hook for ``--partner``: partner id -> extra message checks (profile, ERP parties/products).

Set ``partner_checks`` to a function once partner profiles exist (issue 3 item 1); it is
called once per command and the checks run on every message, their errors rejecting it.
"""

partner_checks: PartnerChecks | None = None

_COLOURS = {"accepted": "green", "rejected": "red", "quarantined": "yellow"}


def _files(paths: Sequence[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.is_file()))
        else:
            out.append(path)
    return out


def _issue_line(issue: Issue) -> str:
    where = issue.where()
    kind = "warning" if issue.warning else f"error {int(issue.code)}"
    return f"{kind}{' at ' + where if where else ''}: {issue.message}"


def print_result(result: FileResult, console: Console) -> None:
    """Human report of one file: verdict per file, interchange and message, every finding."""
    verdict = result.verdict
    console.print(
        f"[bold]{escape(result.file)}[/bold]: [{_COLOURS[verdict]}]{verdict}[/]"
        f" ({len(result.interchanges)} interchange(s), {result.message_count} message(s))"
    )
    for issue in result.errors + result.warnings:
        console.print(f"  {escape(_issue_line(issue))}")
    for ich in result.interchanges:
        colour = _COLOURS[ich.verdict]
        console.print(
            f"  interchange {escape(ich.control_ref or '?')} from "
            f"{escape(ich.sender or '?')} to {escape(ich.recipient or '?')} "
            f"({ich.syntax_identifier}:{ich.syntax_version}{', test' if ich.test else ''}): "
            f"[{colour}]{ich.verdict}[/]"
        )
        for issue in ich.errors + ich.warnings:
            console.print(f"    {escape(_issue_line(issue))}")
        for msg in ich.messages:
            colour = _COLOURS[msg.verdict]
            checked = "" if msg.structure_checked else " (envelope only: type not known)"
            console.print(
                f"    message {escape(msg.ref or '?')} {escape(msg.type)}: "
                f"[{colour}]{msg.verdict}[/]{checked}"
            )
            for issue in msg.errors + msg.warnings:
                console.print(f"      {escape(_issue_line(issue))}")


@app.command("validate")
def validate_command(
    paths: list[Path] = typer.Argument(..., help="EDIFACT files or folders", exists=True),
    partner: str | None = typer.Option(
        None, "--partner", help="also check against this partner's profile and the ERP"
    ),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per file per line"),
    charset_policy: str = typer.Option(
        "strict",
        "--charset-policy",
        help=f"bytes not matching the UNB character set: {', '.join(CHARSET_POLICIES)}",
    ),
) -> None:
    """Check files for syntax, envelope and message structure; exit 1 unless all accepted."""
    if charset_policy not in CHARSET_POLICIES:
        raise typer.BadParameter(
            f"{charset_policy!r}: use one of {', '.join(CHARSET_POLICIES)}",
            param_hint="--charset-policy",
        )
    checks: Sequence[MessageCheck] = ()
    if partner is not None:
        if partner_checks is None:
            Console(stderr=True).print(
                "[red]error[/red]: --partner needs partner profiles, which are not wired in "
                "yet (hub.cli.edi.partner_checks); run without --partner"
            )
            raise typer.Exit(2)
        checks = partner_checks(partner)
    console = Console()
    all_accepted = True
    policy: CharsetPolicy = charset_policy  # type: ignore[assignment]
    for path in _files(paths):
        result = validate(path, file=str(path), policy=policy, checks=checks)
        all_accepted &= result.verdict == "accepted"
        if as_json:
            sys.stdout.write(result.to_json() + "\n")
            sys.stdout.flush()
        else:
            print_result(result, console)
    raise typer.Exit(0 if all_accepted else 1)
