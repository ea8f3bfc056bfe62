"""EDIFACT segments and delimiters: the Segment model, UNA service characters, segment splitting."""

from __future__ import annotations

from dataclasses import dataclass

from pydifact.segments import Segment as PydifactSegment

from connectors.edi.errors import EdifactError, SyntaxCode

Element = str | list[str]


class Segment(PydifactSegment):
    """A pydifact Segment with a constructor cheap enough for millions of segments.

    pydifact's own constructor validates the tag and warns on empty segments on every call;
    the codec checks tags once, in the tokenizer, and reports them as issues instead.
    """

    __omitted__ = True  # keep pydifact from registering this class as a segment plugin
    text: str | None = None  # the decoded source text (no terminator) when tokenized
    # syntax 4 repeated data elements: element index (0-based) -> every repetition; the
    # element itself in ``elements`` is the first one (None: no element repeats)
    repeats: dict[int, list[str | list[str]]] | None = None

    def __init__(self, tag: str, *elements: Element):
        self.tag = tag
        self.elements = list(elements)

    @classmethod
    def of(cls, tag: str, elements: list[Element]) -> Segment:
        """Build without copying ``elements`` (the tokenizer's hot path)."""
        segment = cls.__new__(cls)
        segment.tag = tag
        segment.elements = elements
        return segment

    def element(self, position: int, component: int = 1) -> str:
        """The value at 1-based ``position`` (and component), '' when absent."""
        if position > len(self.elements):
            return ""
        value = self.elements[position - 1]
        if isinstance(value, list):
            return value[component - 1] if component <= len(value) else ""
        return value if component == 1 else ""

    def __repr__(self) -> str:
        return f"Segment({self.tag!r}, {', '.join(repr(e) for e in self.elements)})"


@dataclass(frozen=True, slots=True)
class Delimiters:
    """The six UNA service characters (level A defaults)."""

    component: str = ":"
    element: str = "+"
    decimal: str = "."
    release: str = "?"
    reserved: str = " "
    terminator: str = "'"

    @classmethod
    def from_una(cls, chars: str) -> Delimiters:
        """From the six characters after ``UNA``; raises EdifactError (code 22) when unusable."""
        if len(chars) != 6:
            raise EdifactError(
                f"UNA must be followed by exactly 6 service characters, got {chars!r}",
                code=SyntaxCode.INVALID_SERVICE_CHARACTER,
            )
        d = cls(*chars)
        used = [d.component, d.element, d.release, d.terminator]
        if len(set(used)) != 4 or any(c.isalnum() for c in used):
            raise EdifactError(
                f"UNA service characters {chars!r} are not usable: component, element, "
                "release and terminator must be 4 distinct non-alphanumeric characters",
                code=SyntaxCode.INVALID_SERVICE_CHARACTER,
            )
        if d.decimal not in ".,":
            raise EdifactError(
                f"UNA decimal mark {d.decimal!r} must be '.' or ','",
                code=SyntaxCode.INVALID_SERVICE_CHARACTER,
            )
        return d

    def una(self) -> str:
        """The service string advice, ``UNA`` + the six characters."""
        return (
            f"UNA{self.component}{self.element}{self.decimal}"
            f"{self.release}{self.reserved}{self.terminator}"
        )


DEFAULT_DELIMITERS = Delimiters()


def split_segment(text: str, d: Delimiters) -> tuple[str, list[Element]]:
    """Split one segment's text (without terminator) into tag and elements."""
    if d.release not in text:
        parts = text.split(d.element)
        cs = d.component
        return parts[0], [p.split(cs) if cs in p else p for p in parts[1:]]
    return split_released(text, d)


def segment_from_text(text: str, es: str, cs: str) -> Segment:
    """A Segment from plain text (no release character), keeping ``text``."""
    parts = text.split(es)
    seg = Segment.__new__(Segment)
    seg.tag = parts[0]
    seg.elements = [p.split(cs) if cs in p else p for p in parts[1:]]
    seg.text = text
    return seg


def split_released(text: str, d: Delimiters) -> tuple[str, list[Element]]:
    """Character walk for segments holding release characters (rare)."""
    tag, elements, _ = split_repeated(text, d, "")
    return tag, elements


def repetition_separator(d: Delimiters, syntax_version: str, una: bool) -> str:
    """The repetition separator of a syntax version 4 interchange: UNA's fifth character
    (a space there: none), ``*`` without UNA; none before version 4 (where that character
    is reserved and ``*`` is data)."""
    if syntax_version != "4":
        return ""
    if una:
        return "" if d.reserved == " " else d.reserved
    return "*"


Repeats = dict[int, list[Element]]


def split_repeated(text: str, d: Delimiters, rep: str) -> tuple[str, list[Element], Repeats]:
    """Character walk for a segment holding release characters or (syntax 4) the
    repetition separator ``rep`` ('' none).

    Returns the tag, the elements (each repeated element as its first repetition) and the
    repetitions of every repeated element.
    """
    rel, es, cs = d.release, d.element, d.component
    elements: list[list[list[str]]] = [[[]]]  # element -> repetition -> components
    current: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == rel:
            if i + 1 < n:
                current.append(text[i + 1])
            i += 2
            continue
        if c in (es, rep, cs):
            elements[-1][-1].append("".join(current))
            current = []
            if c == es:
                elements.append([[]])
            elif c == rep:
                elements[-1].append([])
        else:
            current.append(c)
        i += 1
    elements[-1][-1].append("".join(current))

    def element(components: list[str]) -> Element:
        return components[0] if len(components) == 1 else components

    tag_field = elements[0][0]
    tag = tag_field[0] if len(tag_field) == 1 else cs.join(tag_field)
    out: list[Element] = []
    repeats: Repeats = {}
    for index, repetitions in enumerate(elements[1:]):
        out.append(element(repetitions[0]))
        if len(repetitions) > 1:
            repeats[index] = [element(r) for r in repetitions]
    return tag, out, repeats


def parse_text(text: str, d: Delimiters, rep: str = "") -> Segment:
    """A Segment from one segment's text, whatever it holds (release, repetitions)."""
    if rep and rep in text:
        tag, elements, repeats = split_repeated(text, d, rep)
        seg = Segment.of(tag, elements)
        if repeats:
            seg.repeats = repeats
        return seg
    if d.release in text:
        return Segment.of(*split_released(text, d))
    return segment_from_text(text, d.element, d.component)
