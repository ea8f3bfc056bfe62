"""Parsing an inbound file: stream-validate it (``scan_file``: verdicts only, memory bounded by
the largest message), stream its messages again (``iter_messages``), or keep them all
(``parse_file``, for one-message look-ups such as replay)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from connectors.edi import (
    EdifactError,
    EdifactReader,
    FileResult,
    InterchangeHeader,
    InterchangeResult,
    Issue,
    Message,
    MessageResult,
    Validator,
)
from connectors.edi.charsets import CharsetPolicy
from connectors.edi.strictness import Strictness
from connectors.edi.tokenizer import Junk, Source
from transforms import edifact_acks as acks


@dataclass
class ParsedInterchange:
    """One interchange of a file: header, validation result, and its messages."""

    header: InterchangeHeader
    result: InterchangeResult
    messages: list[tuple[Message, MessageResult]] = field(default_factory=list)


def parse_file(
    data: bytes, name: str, policy: CharsetPolicy, *, strictness: Strictness = "strict"
) -> tuple[FileResult, list[ParsedInterchange]]:
    """Stream-validate a file (at the partner's strictness) and keep the messages of each
    interchange for mapping."""
    reader = EdifactReader(data, policy=policy)
    validator = Validator(name, strictness=strictness)
    parsed: list[ParsedInterchange] = []
    try:
        for event in reader:
            mres = validator.feed(event)
            if isinstance(event, InterchangeHeader):
                parsed.append(ParsedInterchange(event, validator.result.interchanges[-1]))
            elif isinstance(event, Message) and mres is not None and parsed:
                parsed[-1].messages.append((event, mres))
    except EdifactError as exc:
        validator.result.errors.append(Issue(exc.syntax_code, "file", f"{name}: {exc.message}"))
    return validator.finish(), parsed


@dataclass
class Scan:
    """Pass one over a file: the validation result, each interchange's header and result
    (no message bodies), and the non-EDIFACT bytes skipped (offset, length, preview)."""

    result: FileResult
    interchanges: list[ParsedInterchange]
    junk: list[Junk]


def scan_file(
    data: Source, name: str, policy: CharsetPolicy, *, strictness: Strictness = "strict"
) -> Scan:
    """Stream-validate a file keeping only verdicts: memory does not grow with its messages
    beyond one small ``MessageResult`` each."""
    validator = Validator(name, strictness=strictness)
    parsed: list[ParsedInterchange] = []
    junk: list[Junk] = []
    try:
        for event in EdifactReader(data, policy=policy):
            validator.feed(event)
            if isinstance(event, InterchangeHeader):
                parsed.append(ParsedInterchange(event, validator.result.interchanges[-1]))
            elif isinstance(event, Junk):
                junk.append(event)
    except EdifactError as exc:
        validator.result.errors.append(Issue(exc.syntax_code, "file", f"{name}: {exc.message}"))
    return Scan(validator.finish(), parsed, junk)


def iter_messages(data: Source, policy: CharsetPolicy) -> Iterator[tuple[int, int, Message]]:
    """Pass two: (interchange index, message index in it, message), in file order, one at a
    time; the indexes are those of ``scan_file``'s result for the same bytes."""
    k, j = -1, 0
    try:
        for event in EdifactReader(data, policy=policy):
            if isinstance(event, InterchangeHeader):
                k, j = k + 1, 0
            elif isinstance(event, Message) and k >= 0:
                yield k, j, event
                j += 1
    except EdifactError:
        return  # reported by the scan already


def findings(issues: Sequence[Issue]) -> list[acks.SyntaxFinding]:
    """Codec issues as CONTRL reports them."""
    return [
        acks.SyntaxFinding(
            int(i.code),
            i.level,
            i.segment_position,
            i.tag,
            i.element_position,
            i.component_position,
        )
        for i in issues
    ]


def s009(type_label: str) -> list[str]:
    """A UNH type label as its S009 components."""
    return type_label.split(":") if type_label else [""]


def find_message(
    parsed: list[ParsedInterchange], interchange_ref: str, message_ref: str
) -> tuple[ParsedInterchange, Message, MessageResult] | None:
    """One message of an archived file, by interchange and message reference."""
    for ich in parsed:
        if ich.result.control_ref != interchange_ref:
            continue
        for msg, mres in ich.messages:
            if msg.ref == message_ref:
                return ich, msg, mres
    return None


def find_message_in(
    data: Source,
    name: str,
    policy: CharsetPolicy,
    interchange_ref: str,
    message_ref: str,
    *,
    strictness: Strictness = "strict",
) -> tuple[ParsedInterchange, Message, MessageResult] | None:
    """One message of an archived file, streaming: only that message is kept (a replay of
    one order of a 100 MB file does not hold the file's other messages)."""
    validator = Validator(name, strictness=strictness)
    current: ParsedInterchange | None = None
    found: tuple[ParsedInterchange, Message, MessageResult] | None = None
    try:
        for event in EdifactReader(data, policy=policy):
            mres = validator.feed(event)
            if isinstance(event, InterchangeHeader):
                current = ParsedInterchange(event, validator.result.interchanges[-1])
            elif (
                isinstance(event, Message)
                and mres is not None
                and current is not None
                and found is None
                and current.result.control_ref == interchange_ref
                and event.ref == message_ref
            ):
                found = (current, event, mres)
    except EdifactError:
        return found
    return found
