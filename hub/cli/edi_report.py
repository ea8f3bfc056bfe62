"""`hub edi validate`'s work and output without typer: validate each file, print JSON lines
or the human report (rich, imported only then). Used by the typer command (``hub.cli.edi``)
and by ``hub.cli.fastpath``, which answers the plain command without loading typer.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import replace
from json.encoder import encode_basestring
from pathlib import Path
from typing import TYPE_CHECKING

from connectors.edi.result import MessageResult

if TYPE_CHECKING:
    from rich.console import Console

    from connectors.edi.charsets import CharsetPolicy
    from connectors.edi.errors import Issue
    from connectors.edi.result import FileResult
    from connectors.edi.strictness import Strictness
    from connectors.edi.validation import InterchangeCheck, MessageCheck

LIST_MESSAGES_UP_TO = 20  # more messages in an interchange: the clean ones become one line
SHOWN = 70  # characters of a partner's value (reference, type, party) a heading shows

_COLOURS = {"accepted": "green", "rejected": "red", "quarantined": "yellow"}
# the reference of the message that stands in for an interchange's messages in json_line
_STAND_IN = "\x00the messages of this interchange\x00"


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


def _dumps(value: object) -> str:
    """JSON text as ``FileResult.to_json`` writes it."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _messages_json(messages: list[MessageResult]) -> str:
    """The JSON list of ``messages``, the text ``_dumps`` makes of their ``to_dict()``.

    A message without errors differs from another of its type only by its reference: its
    text is its reference and the tail of the first such message of its type and check.
    """
    tails: dict[tuple[str, bool], str] = {}
    parts: list[str] = []
    for msg in messages:
        head = '{"ref":' + encode_basestring(msg.ref)
        clean = msg.verdict == "accepted"
        tail = tails.get((msg.type, msg.structure_checked)) if clean else None
        if tail is not None:
            parts.append(head + tail)
            continue
        text = _dumps(msg.to_dict())
        parts.append(text)
        if clean and text.startswith(head):
            tails[(msg.type, msg.structure_checked)] = text[len(head) :]
    return "[" + ",".join(parts) + "]"


def _stand_in(messages: list[MessageResult]) -> MessageResult:
    """One message with the errors and warnings of all ``messages``, in their order: in their
    place it gives its interchange the same verdict and its file the same warnings."""
    errors = [e for m in messages for e in m._errors or ()]
    warnings = [w for m in messages for w in m._warnings or ()]
    return MessageResult(_STAND_IN, "", 0, errors or None, warnings or None)


def json_line(result: FileResult) -> str:
    """``result.to_json()``, the same text, without a dict per message (10,000 messages: a
    quarter of the time): the file is dumped with one stand-in message per interchange, and
    the text of each stand-in replaced by its interchange's messages (``_messages_json``)."""
    shells = [replace(ich, messages=[_stand_in(ich.messages)]) for ich in result.interchanges]
    text = replace(result, interchanges=shells).to_json()
    out: list[str] = []
    at = 0
    for ich, shell in zip(result.interchanges, shells, strict=True):
        marker = _dumps([shell.messages[0].to_dict()])  # opens with '[{"ref":"\u0000'
        found = text.find(marker, at)
        if found < 0:  # a shape this function does not know: the plain way
            return result.to_json()
        out += (text[at:found], _messages_json(ich.messages))
        at = found + len(marker)
    out.append(text[at:])
    return "".join(out)


def validate_files(
    paths: Sequence[Path],
    as_json: bool,
    policy: CharsetPolicy,
    level: Strictness,
    checks: Sequence[MessageCheck] = (),
    interchange_checks: Sequence[InterchangeCheck] = (),
    notes: Sequence[Issue] = (),
) -> bool:
    """Validate every file (folders: the files in them) and print each result; True when
    all are accepted. ``notes``: warnings added to every file's result."""
    from connectors.edi.validation import validate  # noqa: PLC0415

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
            sys.stdout.write(json_line(result) + "\n")
            sys.stdout.flush()
        else:
            print_result(result, console)
    return all_accepted
