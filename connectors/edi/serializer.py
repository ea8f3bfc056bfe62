"""EDIFACT serializer, the exact inverse of the tokenizer, and the outbound interchange builder."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from connectors.edi.charsets import lookup
from connectors.edi.errors import EdifactError, SyntaxCode
from connectors.edi.tokenizer import DEFAULT_DELIMITERS, Delimiters, Element, Segment


def _escaper(d: Delimiters) -> tuple[str, dict[int, str]]:
    specials = [d.release, d.element, d.component, d.terminator]
    if d.reserved != " ":
        specials.append(d.reserved)  # syntax 4 repetition separator
    return "".join(specials), {ord(c): d.release + c for c in specials}


def _released(value: str, specials: str, table: dict[int, str]) -> str:
    """``value`` with a release character before each of ``specials`` (``_escaper``)."""
    for c in specials:
        if c in value:
            return value.translate(table)
    return value


def escape(value: str, d: Delimiters = DEFAULT_DELIMITERS) -> str:
    """Release every service character inside a data value."""
    specials, table = _escaper(d)
    return _released(value, specials, table)


def serialize_segment(segment: Segment, d: Delimiters = DEFAULT_DELIMITERS) -> str:
    """One segment with its terminator (components and elements kept exactly, no trimming)."""
    specials, table = _escaper(d)

    def text(element: Element) -> str:
        if isinstance(element, list):
            return d.component.join(_released(c, specials, table) for c in element)
        return _released(element, specials, table)

    parts = [segment.tag]
    repeats = segment.repeats or {}
    for index, element in enumerate(segment.elements):
        if index in repeats and d.reserved != " ":  # syntax 4 repetition separator
            parts.append(d.reserved.join(map(text, repeats[index])))
        else:
            parts.append(text(element))
    return d.element.join(parts) + d.terminator


def serialize(
    segments: Sequence[Segment],
    delimiters: Delimiters = DEFAULT_DELIMITERS,
    *,
    una: bool = True,
    newline: bool = False,
) -> str:
    """Segments to text: optional UNA service string advice, optional newline per segment."""
    sep = "\n" if newline else ""
    out: list[str] = []
    if una:
        out.append(delimiters.una() + sep)
    for segment in segments:
        if segment.tag == "UNA":
            continue
        out.append(serialize_segment(segment, delimiters) + sep)
    return "".join(out)


def encode(text: str, syntax_identifier: str) -> bytes:
    """Encode serialized text in the character set of a UNB syntax identifier."""
    charset = lookup(syntax_identifier)
    if charset is None:
        raise EdifactError(
            f"syntax identifier {syntax_identifier!r} is not supported for output: use UNOA, "
            "UNOB, UNOC..UNOK, UNOY or UNOW",
            code=SyntaxCode.CHARACTER_SET_NOT_SUPPORTED,
        )
    try:
        return text.encode(charset.codec)
    except UnicodeEncodeError as exc:
        bad = text[exc.start : exc.end]
        raise EdifactError(
            f"character {bad!r} cannot be sent in {syntax_identifier} ({charset.description}): "
            "choose a wider syntax identifier (UNOC, UNOY) or transliterate the value",
            code=SyntaxCode.INVALID_CHARACTER,
        ) from exc


@dataclass(slots=True)
class OutboundMessage:
    """A message to send: UNH type (``ORDRSP:D:96A:UN:EAN005``), reference, body segments."""

    type: str
    ref: str
    segments: list[Segment] = field(default_factory=list)


def _composite(value: str) -> Element:
    parts = value.split(":")
    return parts if len(parts) > 1 else value


def build_interchange(
    messages: Sequence[OutboundMessage],
    *,
    sender: str,
    recipient: str,
    control_ref: str,
    prepared: datetime,
    sender_qualifier: str = "14",
    recipient_qualifier: str = "14",
    syntax_identifier: str = "UNOC",
    syntax_version: str = "3",
    application_ref: str = "",
    test: bool = False,
) -> list[Segment]:
    """UNB, each message as UNH..UNT with its segment count, UNZ with the message count.

    ``prepared`` is passed in (no clock here) so a retry rebuilds the same bytes.
    """
    if not messages:
        raise EdifactError("an interchange needs at least one message", code=32)
    if not control_ref or len(control_ref) > 14:
        raise EdifactError(f"control reference {control_ref!r} must be 1-14 characters", code=12)
    date_fmt = "%Y%m%d" if syntax_version == "4" else "%y%m%d"
    unb_elements: list[Element] = [
        [syntax_identifier, syntax_version],
        [sender, sender_qualifier] if sender_qualifier else sender,
        [recipient, recipient_qualifier] if recipient_qualifier else recipient,
        [prepared.strftime(date_fmt), prepared.strftime("%H%M")],
        control_ref,
    ]
    if application_ref or test:
        unb_elements += ["", application_ref, "", "", "", "1" if test else ""]
        while unb_elements and unb_elements[-1] == "":
            unb_elements.pop()
    out = [Segment.of("UNB", unb_elements)]
    refs: set[str] = set()
    for message in messages:
        if not message.ref or message.ref in refs:
            raise EdifactError(
                f"message reference {message.ref!r} is empty or used twice: give every "
                "message its own UNH reference",
                code=SyntaxCode.DUPLICATE,
            )
        refs.add(message.ref)
        out.append(Segment.of("UNH", [message.ref, _composite(message.type)]))
        out.extend(message.segments)
        out.append(Segment.of("UNT", [str(len(message.segments) + 2), message.ref]))
    out.append(Segment.of("UNZ", [str(len(messages)), control_ref]))
    return out


def render_interchange(
    segments: Sequence[Segment],
    delimiters: Delimiters = DEFAULT_DELIMITERS,
    *,
    una: bool = True,
    newline: bool = True,
) -> bytes:
    """Serialize and encode in the UNB's character set: the bytes of an outbound file."""
    if not segments or segments[0].tag != "UNB":
        raise EdifactError("an interchange starts with UNB", code=SyntaxCode.MISSING)
    return encode(
        serialize(segments, delimiters, una=una, newline=newline), segments[0].element(1, 1)
    )
