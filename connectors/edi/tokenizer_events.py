"""What the tokenizer yields: envelope events and messages whose plain segments parse lazily."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

from connectors.edi.charsets import SyntaxCharset
from connectors.edi.errors import Issue
from connectors.edi.tokenizer_segments import (
    DEFAULT_DELIMITERS,
    Delimiters,
    Segment,
    parse_text,
    segment_from_text,
)


@dataclass(slots=True)
class Junk:
    """Bytes that are not EDIFACT, skipped before or between interchanges."""

    offset: int
    length: int
    preview: str


@dataclass(slots=True)
class InterchangeHeader:
    """UNB (and the UNA before it, if any)."""

    unb: Segment
    delimiters: Delimiters
    una: bool
    syntax_identifier: str
    syntax_version: str
    charset: SyntaxCharset | None
    issues: list[Issue] = field(default_factory=list)


@dataclass(slots=True)
class GroupHeader:
    """UNG, at interchange segment ``position``."""

    ung: Segment
    position: int


@dataclass(slots=True)
class GroupTrailer:
    """UNE, at interchange segment ``position``."""

    une: Segment
    position: int


class MessageRun:
    """Bodies of consecutive whole plain messages, read in one tokenizer step, shared by them.

    Checks that only look for values (check digits, dates) run once over all the bodies
    instead of once per message; ``verdicts`` keeps what they said, per check (a
    validator's key): True means every body passes, so each message does.
    """

    __slots__ = ("bodies", "verdicts")

    def __init__(self, bodies: list[str]) -> None:
        self.bodies = bodies
        self.verdicts: dict[object, bool] = {}


def message_type(s009: str | list[str]) -> str:
    """A UNH's S009 element (a string, or its components) as the message type: components
    joined with ':' without trailing empty ones, e.g. ``ORDERS:D:96A:UN:EAN008``."""
    parts = s009 if isinstance(s009, list) else [s009]
    while len(parts) > 1 and parts[-1] == "":
        parts = parts[:-1]
    return ":".join(parts)


def usual_unt(text: str, count: int, unh: Segment, es: str, cs: str) -> Segment:
    """The UNT of a whole message: ``segment_from_text``, with no splitting when it reads
    UNT+<its segment count>+<the UNH's reference> (a reference without a component
    separator, as the UNH's first element is then a string)."""
    ref = unh.elements[0] if unh.elements else None
    if ref.__class__ is str and text == f"UNT{es}{count}{es}{ref}":
        unt = Segment.of("UNT", [str(count), ref])  # what splitting ``text`` gives
        unt.text = text
        return unt
    return segment_from_text(text, es, cs)


class WholeRun:
    """Consecutive whole plain messages as texts, for a reader that only validates
    (``EdifactReader(runs=True)``): no ``Message`` is built unless one is asked for.

    Message ``k`` is the UNH text ``unhs[k]``, the body ``run.bodies[k]`` (terminators and
    release characters in; "" when it has none), ``counts[k]`` body segments, the UNT
    text ``unts[k]``, its body's segment heads ``shapes[k]`` (``Message.shape``) and the
    UNH's interchange position ``positions[k]``. All of it is ASCII and holds no character
    the interchange's character set refuses; the UNH and UNT hold no release character.
    """

    __slots__ = ("counts", "delimiters", "positions", "repetition", "run", "shapes", "unhs", "unts")

    def __init__(self, delimiters: Delimiters, repetition: str) -> None:
        self.delimiters = delimiters
        self.repetition = repetition
        self.unhs: list[str] = []
        self.unts: list[str] = []
        self.counts: list[int] = []
        self.shapes: list[bytes] = []
        self.positions: list[int] = []
        self.run = MessageRun([])

    def __len__(self) -> int:
        return len(self.unhs)

    def message(self, k: int) -> Message:
        """Message ``k``, built in one step (``Message.whole``), sharing the run."""
        d, rep, position = self.delimiters, self.repetition, self.positions[k]
        es, cs = d.element, d.component
        unh = segment_from_text(self.unhs[k], es, cs)
        count = self.counts[k]
        unt = usual_unt(self.unts[k], count + 2, unh, es, cs)
        if not count:
            return Message(unh, [], unt, position, delimiters=d, repetition=rep)
        msg = Message.whole(unh, unt, position, d, rep, self.run.bodies[k], count)
        msg.run = self.run
        msg.shape = self.shapes[k]
        return msg

    def messages(self) -> list[Message]:
        """Every message of the run, built (``message``)."""
        return [self.message(k) for k in range(len(self.unhs))]


class Message:
    """One message: UNH, the body segments in order, UNT (None when missing).

    ``position`` is the UNH's position in the interchange (UNB = 1). Inside the message
    positions count from UNH = 1, so ``segments[i]`` is at message position ``i + 2``.
    ``issues`` holds what the tokenizer found (character set, bad tags) with such positions.

    Plain body segments (ASCII, a valid tag, no released terminator) are kept as their text
    and only become ``Segment`` objects when ``segments`` is first read: validation works on
    the texts (``plain_texts``), so a file that is only validated never builds them.
    """

    __slots__ = (
        "_block",
        "_block_count",
        "_items",
        "_texts",
        "delimiters",
        "issues",
        "position",
        "repetition",
        "run",
        "shape",
        "unh",
        "unt",
    )

    def __init__(
        self,
        unh: Segment,
        segments: list[Segment | str],
        unt: Segment | None,
        position: int,
        issues: list[Issue] | None = None,
        *,
        delimiters: Delimiters = DEFAULT_DELIMITERS,
        repetition: str = "",
    ) -> None:
        self.unh = unh
        self.repetition = repetition  # the syntax 4 repetition separator ('' none)
        self._items = segments
        self._texts = 0  # how many of ``_items`` are still texts
        # the whole body as one text (segments joined by the terminator, release characters
        # in), when the tokenizer read it in one block; split into ``_items`` on demand
        self._block: str | None = None
        self._block_count = 0
        self.unt = unt
        self.position = position
        self.issues: list[Issue] = [] if issues is None else issues
        self.delimiters = delimiters
        # the run of whole messages this one was read with (its body is among its bodies)
        self.run: MessageRun | None = None
        # its body's segment heads joined (tag + element separator, or the bare tag),
        # when the tokenizer read it as a whole message (``tokenizer_scan.whole_run``)
        self.shape: bytes | None = None

    @classmethod
    def whole(
        cls,
        unh: Segment,
        unt: Segment,
        position: int,
        delimiters: Delimiters,
        repetition: str,
        body: str,
        count: int,
    ) -> Message:
        """The tokenizer's fastest path: a message read whole, its ``count`` (> 0) body
        segments as one text; what ``__init__`` then ``add_block`` make, in one step."""
        msg = cls.__new__(cls)
        msg.unh = unh
        msg.repetition = repetition
        msg._items = []
        msg._texts = 0
        msg._block = body
        msg._block_count = count
        msg.unt = unt
        msg.position = position
        msg.issues = []
        msg.delimiters = delimiters
        msg.run = None
        msg.shape = None
        return msg

    def add_block(self, text: str, count: int) -> None:
        """The tokenizer's fast path: ``count`` plain segments as one text (terminators in)."""
        if self._items or self._block is not None:
            self._unblock()
            self.add_texts(_split_texts(text, self.delimiters))
        else:
            self._block = text
            self._block_count = count

    def _unblock(self) -> None:
        block = self._block
        if block is not None:
            self._block = None
            self.run = None  # the body is no longer one of the run's
            self.shape = None
            texts = _split_texts(block, self.delimiters)
            self._items.extend(texts)
            self._texts += len(texts)

    def add_texts(self, texts: list[str]) -> None:
        """Append plain segment texts (the tokenizer's fast path)."""
        if self._block is not None:
            self._unblock()
        self._items.extend(texts)
        self._texts += len(texts)

    def add(self, segment: Segment) -> None:
        """Append a parsed segment."""
        if self._block is not None:
            self._unblock()
        self._items.append(segment)

    def plain_body(self) -> str | None:
        """The body as one text when the tokenizer read it in one plain block, else None."""
        return self._block

    @property
    def segments(self) -> list[Segment]:
        """The body segments (UNH and UNT excluded), parsed on first access."""
        if self._block is not None:
            self._unblock()
        items = self._items
        if self._texts:
            d = self.delimiters
            es, cs, rel, rep = d.element, d.component, d.release, self.repetition
            for i, item in enumerate(items):
                if item.__class__ is str:
                    if rel in item or (rep and rep in item):
                        items[i] = parse_text(item, d, rep)
                    else:
                        items[i] = segment_from_text(item, es, cs)
            self._texts = 0
        return cast("list[Segment]", items)  # every text was parsed above

    @property
    def segment_count(self) -> int:
        """How many body segments (UNH and UNT excluded)."""
        return self._block_count if self._block is not None else len(self._items)

    def plain_texts(self) -> list[str] | None:
        """The body as segment texts (release characters still in) when every segment is
        plain, else None."""
        if self._block is not None:
            self._unblock()
        items = self._items
        # all items are texts when as many texts as items remain
        return cast("list[str]", items) if self._texts == len(items) else None

    @property
    def ref(self) -> str:
        """UNH 0062, the message reference number."""
        return self.unh.element(1)

    @property
    def type(self) -> str:
        """UNH S009 joined with ':', e.g. ``ORDERS:D:96A:UN:EAN008``."""
        return message_type(self.unh.elements[1] if len(self.unh.elements) > 1 else "")

    def all_segments(self) -> list[Segment]:
        """UNH, body and UNT (when present) as one list."""
        tail = [self.unt] if self.unt is not None else []
        return [self.unh, *self.segments, *tail]

    def __repr__(self) -> str:
        return (
            f"Message(ref={self.ref!r}, type={self.type!r}, position={self.position}, "
            f"segments={self.segment_count}, unt={self.unt is not None})"
        )


def _split_texts(block: str, d: Delimiters) -> list[str]:
    """Segment texts of a block: split at terminators that are not released."""
    term, rel = d.terminator, d.release
    texts = block.split(term)
    if rel + term not in block:
        return texts
    out: list[str] = []
    pending: str | None = None
    for text in texts:
        if pending is not None:
            text = pending + term + text
            pending = None
        if text.endswith(rel) and (len(text) - len(text.rstrip(rel))) % 2 == 1:
            pending = text
            continue
        out.append(text)
    if pending is not None:
        out.append(pending)
    return out


@dataclass(slots=True)
class StraySegment:
    """A data segment found inside an interchange but outside any UNH..UNT."""

    segment: Segment
    position: int


@dataclass(slots=True)
class InterchangeTrailer:
    """UNZ, or ``unz=None`` when the interchange ended without one."""

    unz: Segment | None
    position: int
    issues: list[Issue] = field(default_factory=list)


Event = (
    Junk
    | InterchangeHeader
    | GroupHeader
    | GroupTrailer
    | Message
    | StraySegment
    | InterchangeTrailer
    | WholeRun
)
