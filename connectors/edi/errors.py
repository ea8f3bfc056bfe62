"""EDIFACT codec error vocabulary: the codec's exception and the ISO 9735 issue records."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Literal

from schemas.errors import PermanentError

Level = Literal["file", "interchange", "message", "segment", "element"]

ECHO_LIMIT = 40
"""How many characters of an input value a finding quotes (a 100 kB tag must not be echoed)."""
MESSAGE_LIMIT = 600
TAG_LIMIT = 12


def echo(value: object, limit: int = ECHO_LIMIT) -> str:
    """``repr`` of an input value for a finding, cut after ``limit`` characters."""
    text = str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


class EdifactError(PermanentError):
    """The only exception the EDIFACT codec raises: the input cannot be read as EDIFACT.

    A bad file never gets better by retrying, hence ``PermanentError``; ``code`` carries the
    ISO 9735 syntax error code (data element 0085) as a string, like every ``HubError``.
    """

    def __init__(self, message: str, *, code: int = 18, issues: list[Issue] | None = None):
        super().__init__(message, system="edi", code=str(int(code)))
        self.syntax_code = int(code)
        self.issues = issues or []


class SyntaxCode(IntEnum):
    """ISO 9735 / CONTRL syntax error codes (data element 0085) the hub reports."""

    SYNTAX_VERSION_NOT_SUPPORTED = 2
    RECIPIENT_NOT_ACTUAL = 7
    INVALID_VALUE = 12
    MISSING = 13
    VALUE_NOT_SUPPORTED_HERE = 14
    NOT_SUPPORTED_HERE = 15
    TOO_MANY_CONSTITUENTS = 16
    NO_AGREEMENT = 17
    UNSPECIFIED = 18
    INVALID_DECIMAL_NOTATION = 19
    INVALID_AS_SERVICE_CHARACTER = 20
    INVALID_CHARACTER = 21
    INVALID_SERVICE_CHARACTER = 22
    UNKNOWN_SENDER = 23
    TEST_INDICATOR_NOT_SUPPORTED = 25
    DUPLICATE = 26
    REFERENCES_DO_NOT_MATCH = 28
    CONTROL_COUNT_MISMATCH = 29
    GROUPS_AND_MESSAGES_MIXED = 30
    LOWER_LEVEL_EMPTY = 32
    OUTSIDE_MESSAGE = 33
    TOO_MANY_REPETITIONS = 35
    TOO_MANY_GROUP_REPETITIONS = 36
    INVALID_CHARACTER_TYPE = 37
    MISSING_DIGIT_BEFORE_DECIMAL = 38
    DATA_ELEMENT_TOO_LONG = 39
    DATA_ELEMENT_TOO_SHORT = 40
    UNKNOWN_RECIPIENT = 43
    TRAILING_SEPARATOR = 45
    CHARACTER_SET_NOT_SUPPORTED = 46


@dataclass(slots=True)
class Issue:
    """One finding, positioned the way a CONTRL UCS/UCD reports it.

    ``segment_position`` counts from UNH = 1 inside a message and from UNB = 1 for
    interchange-level segments; ``warning`` marks findings that do not reject anything
    (reported, e.g. junk skipped before UNB); ``element_position`` is the data element's
    position in its segment (1 = first after the tag) and ``component_position`` the
    component inside a composite (1-based, None for simple elements). ``code`` is an ISO
    9735 syntax error code (0085) or, for findings against the ERP's data (unknown GTIN or
    party), the application error code an APERAK would carry (``GTIN``, ``BUYER``, ``DELIV``).
    """

    code: int | str
    level: Level
    message: str
    segment_position: int | None = None
    tag: str | None = None
    element_position: int | None = None
    component_position: int | None = None
    warning: bool = False

    def __post_init__(self) -> None:
        # a last guard: whatever a check quoted, a finding stays short enough to print
        if len(self.message) > MESSAGE_LIMIT:
            cut = len(self.message) - MESSAGE_LIMIT
            self.message = f"{self.message[:MESSAGE_LIMIT]}... ({cut} more characters)"
        if self.tag is not None and len(self.tag) > TAG_LIMIT:
            self.tag = self.tag[:TAG_LIMIT] + "..."

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of issue 3 item 9."""
        return {
            "code": self.code if isinstance(self.code, str) else int(self.code),
            "level": self.level,
            "segment_position": self.segment_position,
            "tag": self.tag,
            "element_position": self.element_position,
            "message": self.message,
        }

    def where(self) -> str:
        """Human position, e.g. ``segment 7 (LIN) element 3.1``."""
        parts: list[str] = []
        if self.segment_position is not None:
            parts.append(f"segment {self.segment_position}")
        if self.tag:
            parts.append(f"({self.tag})" if parts else self.tag)
        if self.element_position is not None:
            element = f"element {self.element_position}"
            if self.component_position is not None:
                element += f".{self.component_position}"
            parts.append(element)
        return " ".join(parts)


def issue_at(
    code: int,
    position: int | None,
    tag: str,
    text: str,
    element: int | None = None,
    component: int | None = None,
    level: Level | None = None,
) -> Issue:
    """A finding at a segment position; level ``element`` when an element is named, else
    ``segment`` (unless ``level`` says otherwise)."""
    lvl: Level = level or ("element" if element is not None else "segment")
    return Issue(code, lvl, text, position, tag, element, component)


def unb_issue(code: int, element: int, component: int | None, text: str) -> Issue:
    """An interchange-level finding on the UNB (interchange segment 1)."""
    return Issue(code, "interchange", text, 1, "UNB", element, component)
