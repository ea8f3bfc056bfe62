"""`hub edi` commands: validate partners' EDIFACT files (syntax, envelope, message rules).

With ``--partner ID`` the files are also checked against the partner's profile and, when
the ``hub_erp`` connection is configured, the ERP's parties and products. Imports beyond
typer happen inside the command, so that `hub edi validate` starts fast.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, cast

import typer

from connectors.edi.charsets import CHARSET_POLICIES
from connectors.edi.strictness import STRICTNESS_LEVELS
from hub.cli import acks as acks_cli

if TYPE_CHECKING:
    from rich.console import Console

    from connectors.edi.charsets import CharsetPolicy
    from connectors.edi.errors import Issue
    from connectors.edi.partner_checks import PartnerChecks
    from connectors.edi.result import FileResult, MessageResult
    from connectors.edi.strictness import Strictness
    from connectors.edi.validation import InterchangeCheck, MessageCheck
    from connectors.erp.port import ErpPort

ERP_CONN_ID = "hub_erp"
LIST_MESSAGES_UP_TO = 20  # more messages in an interchange: the clean ones become one line
SHOWN = 70  # characters of a partner's value (reference, type, party) a heading shows

app = typer.Typer(help="EDIFACT tools: validate partners' files.", no_args_is_help=True)
app.command("acks")(acks_cli.acks)
app.command("resend")(acks_cli.resend)

_COLOURS = {"accepted": "green", "rejected": "red", "quarantined": "yellow"}


def _files(paths: Sequence[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.is_file()))
        else:
            out.append(path)
    return out


def _short(value: str, limit: int = SHOWN) -> str:
    """A partner's value for a heading, cut (a 100 kB garbage reference stays one line)."""
    return value if len(value) <= limit else f"{value[:limit]}... ({len(value)} characters)"


def _checked(msg: MessageResult) -> str:
    """What was validated of a message, as the human output says it."""
    if msg.structure_checked:
        return "structure checked"
    return "envelope only: no structure known for this type and version"


def _issue_line(issue: Issue) -> str:
    where = issue.where()
    code = issue.code if isinstance(issue.code, str) else int(issue.code)
    kind = "warning" if issue.warning else f"error {code}"
    return f"{kind}{' at ' + where if where else ''}: {issue.message}"


def _print_part(
    console: Console, indent: str, head: str, verdict: str, issues: list[Issue], tail: str = ""
) -> None:
    """One line ``head: verdict`` (coloured) and a line per finding below it."""
    from rich.markup import escape  # noqa: PLC0415 - human output only

    console.print(f"{indent}{head}: [{_COLOURS[verdict]}]{verdict}[/]{tail}")
    for issue in issues:
        console.print(f"{indent}  {escape(_issue_line(issue))}")


def print_result(result: FileResult, console: Console) -> None:
    """Human report of one file: verdict per file, interchange and message, every finding."""
    from rich.markup import escape  # noqa: PLC0415 - human output only

    _print_part(
        console,
        "",
        f"[bold]{escape(result.file)}[/bold]",
        result.verdict,
        result.errors + result.warnings,
        f" ({len(result.interchanges)} interchange(s), {result.message_count} message(s))",
    )
    for ich in result.interchanges:
        _print_part(
            console,
            "  ",
            f"interchange {escape(_short(ich.control_ref or '?'))} from "
            f"{escape(_short(ich.sender or '?'))} to {escape(_short(ich.recipient or '?'))} "
            f"({escape(_short(ich.syntax_identifier, 8))}:{escape(_short(ich.syntax_version, 8))}"
            f"{', test' if ich.test else ''})",
            ich.verdict,
            ich.errors + ich.warnings,
        )
        quiet = [m for m in ich.messages if m.verdict == "accepted" and not m.errors + m.warnings]
        collapse = len(ich.messages) > LIST_MESSAGES_UP_TO and bool(quiet)
        if collapse:  # thousands of identical "accepted" lines help nobody (rich: seconds)
            kinds = ", ".join(sorted({f"{escape(_short(m.type))} ({_checked(m)})" for m in quiet}))
            console.print(
                f"    {len(quiet)} message(s) [green]accepted[/] without findings: {kinds}"
            )
        for msg in ich.messages:
            if collapse and msg.verdict == "accepted" and not msg.errors + msg.warnings:
                continue
            checked = f" ({_checked(msg)})"
            _print_part(
                console,
                "    ",
                f"message {escape(_short(msg.ref or '?'))} {escape(_short(msg.type))}",
                msg.verdict,
                msg.errors + msg.warnings,
                checked,
            )


def erp_from_settings() -> tuple[ErpPort | None, str | None]:
    """The ERP from the ``hub_erp`` connection, or (None, why not) when it is not configured."""
    from connectors.erp.tryton import TrytonErp  # noqa: PLC0415 - only with --partner
    from hub import settings  # noqa: PLC0415
    from schemas.errors import HubError  # noqa: PLC0415

    try:
        conn = settings.connection(ERP_CONN_ID)
    except HubError as exc:
        return None, (
            f"ERP connection {ERP_CONN_ID!r} is not configured ({exc}): GLNs and GTINs are "
            "not checked against the ERP, only against the partner profile"
        )
    return TrytonErp.from_connection(conn), None


def partner_checks(partner: str, erp: ErpPort | None) -> PartnerChecks:
    """The checks for ``--partner``; raises HubError when the profile cannot be loaded."""
    from connectors.edi.partner_checks import PartnerChecks  # noqa: PLC0415
    from hub.config import load_partners  # noqa: PLC0415
    from schemas.errors import HubError  # noqa: PLC0415

    profiles = load_partners()
    profile = profiles.get(partner)
    if profile is None:
        known = ", ".join(sorted(profiles)) or "none"
        raise HubError(f"unknown partner {partner!r} (profiles: {known})", system="config")
    return PartnerChecks(profile, erp)


@app.command("validate")
def validate_command(
    paths: list[Path] = typer.Argument(..., help="EDIFACT files or folders", exists=True),
    partner: str | None = typer.Option(
        None, "--partner", help="also check against this partner's profile and the ERP"
    ),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per file per line"),
    charset_policy: str | None = typer.Option(
        None,
        "--charset-policy",
        help=f"bytes not matching the UNB character set: {', '.join(CHARSET_POLICIES)} "
        "(default: the partner's policy with --partner, else strict)",
    ),
    strictness: str | None = typer.Option(
        None,
        "--strictness",
        help=f"how strictly to judge: {', '.join(STRICTNESS_LEVELS)} (default: the "
        "partner's setting with --partner, else standard)",
    ),
) -> None:
    """Check files for syntax, envelope and message structure; exit 1 unless all accepted."""
    run_validate(
        paths,
        partner=partner,
        as_json=as_json,
        charset_policy=charset_policy,
        strictness=strictness,
    )


def _erp_note(why: str) -> Issue:
    from rich.console import Console  # noqa: PLC0415
    from rich.markup import escape  # noqa: PLC0415

    from connectors.edi.errors import Issue, SyntaxCode  # noqa: PLC0415

    Console(stderr=True).print(f"[yellow]warning[/yellow]: {escape(why)}")
    return Issue(SyntaxCode.UNSPECIFIED, "file", why, warning=True)


def run_validate(
    paths: Sequence[Path],
    *,
    partner: str | None = None,
    as_json: bool = False,
    charset_policy: str | None = None,
    erp: ErpPort | None = None,
    strictness: str | None = None,
) -> None:
    """The command's body; ``erp`` replaces the ``hub_erp`` connection (tests pass a fake)."""
    from connectors.edi.validation import validate  # noqa: PLC0415

    if charset_policy is not None and charset_policy not in CHARSET_POLICIES:
        raise typer.BadParameter(
            f"{charset_policy!r}: use one of {', '.join(CHARSET_POLICIES)}",
            param_hint="--charset-policy",
        )
    if strictness is not None and strictness not in STRICTNESS_LEVELS:
        raise typer.BadParameter(
            f"{strictness!r}: use one of {', '.join(STRICTNESS_LEVELS)}",
            param_hint="--strictness",
        )
    checks: Sequence[MessageCheck] = ()
    interchange_checks: Sequence[InterchangeCheck] = ()
    notes: list[Issue] = []
    policy = cast("CharsetPolicy", charset_policy or "strict")  # checked above
    level = cast("Strictness", strictness or "standard")
    if partner is not None:
        from schemas.errors import HubError  # noqa: PLC0415

        try:
            found = partner_checks(partner, None)
        except HubError as exc:
            from rich.console import Console  # noqa: PLC0415
            from rich.markup import escape  # noqa: PLC0415

            Console(stderr=True).print(f"[red]error[/red]: {escape(str(exc))}")
            raise typer.Exit(2) from exc
        if erp is None:
            erp, why = erp_from_settings()
            if why is not None:
                notes.append(_erp_note(why))
        found.erp = erp
        checks, interchange_checks = [found.message], [found.interchange]
        if charset_policy is None:
            policy = found.profile.charset_policy
        if strictness is None:
            level = found.profile.strictness
    all_accepted = True
    files = list(_files(paths))
    console = progress = None
    if not as_json:
        from rich.console import Console  # noqa: PLC0415

        console = Console()
        progress = Console(stderr=True)  # a spinner on a terminal; silent when piped
    for number, path in enumerate(files, start=1):
        with (
            progress.status(f"validating {path} ({number}/{len(files)})", spinner="dots")
            if progress is not None and progress.is_terminal
            else nullcontext()
        ):
            result = validate(
                path,
                file=str(path),
                policy=policy,
                checks=checks,
                interchange_checks=interchange_checks,
                strictness=level,
            )
        result.warnings.extend(notes)
        all_accepted &= result.verdict == "accepted"
        if console is None:
            sys.stdout.write(result.to_json() + "\n")
            sys.stdout.flush()
        else:
            print_result(result, console)
    raise typer.Exit(0 if all_accepted else 1)
