"""Parsing an inbound file: stream-validate it (``scan_file``: verdicts only, memory bounded by
the largest message), stream its messages again (``iter_messages``), or keep them all
(``parse_file``, for one-message look-ups such as replay)."""

from __future__ import annotations

from array import array
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


class CompactResults(list[MessageResult]):
    """The results of an interchange's messages at a few bytes each, in place of the list
    the validator appends them to: a clean message (no error, no warning: nearly all of a
    large file) is kept as its reference in one shared buffer, its position and its type's
    number, and built again when read; a message with findings is kept whole. What the
    acknowledgements need (reference, type, verdict, findings) is kept for every message,
    so CONTRL is still exact for the whole interchange while memory barely grows with it.

    Only ``append``, ``len``, iteration and indexing are supported (all the validator and
    the flow use); the list itself stays empty."""

    __slots__ = ("_checked", "_ends", "_findings", "_positions", "_refs", "_type_ids",
                 "_type_of", "_types")  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self._refs = bytearray()
        self._ends = array("Q")
        self._positions = array("Q")
        self._type_of = array("I")
        self._types: list[str] = []
        self._checked: list[bool] = []  # per type: its structure was checked
        self._type_ids: dict[str, int] = {}
        self._findings: dict[int, MessageResult] = {}

    def append(self, mres: MessageResult) -> None:
        index = len(self._ends)
        if mres.errors or mres.warnings:
            self._findings[index] = mres
        self._refs += mres.ref.encode("utf-8", "surrogatepass")
        self._ends.append(len(self._refs))
        self._positions.append(mres.position)
        type_id = self._type_ids.get(mres.type)
        if type_id is None:
            type_id = self._type_ids[mres.type] = len(self._types)
            self._types.append(mres.type)
            self._checked.append(mres.structure_checked)
        self._type_of.append(type_id)

    def __len__(self) -> int:
        return len(self._ends)

    def __bool__(self) -> bool:
        return bool(self._ends)

    def __iter__(self) -> Iterator[MessageResult]:
        return (self[i] for i in range(len(self._ends)))

    def __getitem__(self, index: int) -> MessageResult:  # type: ignore[override]
        found = self._findings.get(index)
        if found is not None:
            return found
        start = self._ends[index - 1] if index else 0
        ref = self._refs[start : self._ends[index]].decode("utf-8", "surrogatepass")
        type_id = self._type_of[index]
        return MessageResult(
            ref,
            self._types[type_id],
            self._positions[index],
            structure_checked=self._checked[type_id],
        )

    def types(self) -> list[str]:
        """Every message type label of the interchange, once each."""
        return list(self._types)


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
    beyond a few bytes each (``CompactResults``)."""
    validator = Validator(name, strictness=strictness)
    parsed: list[ParsedInterchange] = []
    junk: list[Junk] = []
    try:
        for event in EdifactReader(data, policy=policy):
            validator.feed(event)
            if isinstance(event, InterchangeHeader):
                ich = validator.result.interchanges[-1]
                ich.messages = CompactResults()  # the validator appends to it from here on
                parsed.append(ParsedInterchange(event, ich))
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


def message_types(ich: ParsedInterchange) -> list[str]:
    """The message type labels of an interchange, once each, in order of appearance."""
    messages = ich.result.messages
    if isinstance(messages, CompactResults):
        return messages.types()
    return list(dict.fromkeys(m.type for m in messages))


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


def interchange_messages(
    data: Source,
    name: str,
    policy: CharsetPolicy,
    interchange_ref: str,
    *,
    strictness: Strictness = "strict",
) -> Iterator[tuple[ParsedInterchange, Message, MessageResult]]:
    """The messages of the interchanges under ``interchange_ref`` of an archived file, each
    with its validation result, one at a time: memory does not grow with the file (backfill
    and replay of a 100 MB file)."""
    validator = Validator(name, strictness=strictness)
    current: ParsedInterchange | None = None
    try:
        for event in EdifactReader(data, policy=policy):
            mres = validator.feed(event)
            if isinstance(event, InterchangeHeader):
                result = validator.result.interchanges[-1]
                result.messages = CompactResults()
                current = ParsedInterchange(event, result)
            elif (
                isinstance(event, Message)
                and mres is not None
                and current is not None
                and current.result.control_ref == interchange_ref
            ):
                yield current, event, mres
    except EdifactError:
        return  # what was read before the damage is all there is


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
    messages = interchange_messages(data, name, policy, interchange_ref, strictness=strictness)
    return next((found for found in messages if found[1].ref == message_ref), None)
