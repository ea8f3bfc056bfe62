"""Validation result of one EDIFACT file: verdicts per file, interchange and message."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, overload

from connectors.edi.errors import Issue

Verdict = Literal["accepted", "rejected", "quarantined"]


@dataclass(frozen=True, slots=True)
class JunkSpan:
    """Bytes of a file that belong to no interchange: raw ``offset`` and ``length``.

    The reader skips them (reported as a warning); a flow that must account for every byte
    quarantines or dead-letters them by these offsets.
    """

    offset: int
    length: int
    preview: str

    def to_dict(self) -> dict[str, Any]:
        return {"offset": self.offset, "length": self.length, "preview": self.preview}


class _Findings:
    """A list attribute kept in slot ``_<name>``, made on first read (most messages have no
    findings: no list is made for them)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_" + name

    @overload
    def __get__(self, obj: None, owner: type) -> _Findings: ...
    @overload
    def __get__(self, obj: object, owner: type) -> list[Issue]: ...
    def __get__(self, obj: object | None, owner: type) -> list[Issue] | _Findings:
        if obj is None:
            return self
        found: list[Issue] | None = getattr(obj, self.slot)
        if found is None:
            found = []
            setattr(obj, self.slot, found)
        return found

    def __set__(self, obj: object, value: list[Issue]) -> None:
        setattr(obj, self.slot, value)


class MessageResult:
    """One UNH..UNT: reference, type (``ORDERS:D:96A:UN:EAN008``), findings.

    A file holds one of these per message, so it stays small: the ``errors`` and
    ``warnings`` lists only exist once something is added (or they are read).
    """

    __slots__ = ("_errors", "_warnings", "position", "ref", "structure_checked", "type")

    def __init__(
        self,
        ref: str,
        type: str,
        position: int,
        errors: list[Issue] | None = None,
        warnings: list[Issue] | None = None,
        structure_checked: bool = False,
    ) -> None:
        self.ref = ref
        self.type = type
        self.position = position
        self._errors = errors
        self._warnings = warnings
        self.structure_checked = structure_checked

    errors = _Findings()
    warnings = _Findings()

    @property
    def verdict(self) -> Verdict:
        return "rejected" if self._errors else "accepted"

    @property
    def checked(self) -> Literal["structure", "envelope"]:
        """What was validated: the message structure (a known type and version) or only
        the envelope (UNH/UNT, character set) of a type the hub has no structure for."""
        return "structure" if self.structure_checked else "envelope"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "type": self.type,
            "verdict": self.verdict,
            "checked": self.checked,
            "errors": [e.to_dict() for e in self._errors or ()],
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MessageResult):
            return NotImplemented
        return (
            self.ref,
            self.type,
            self.position,
            self._errors or [],
            self._warnings or [],
            self.structure_checked,
        ) == (
            other.ref,
            other.type,
            other.position,
            other._errors or [],
            other._warnings or [],
            other.structure_checked,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it replaces

    def __repr__(self) -> str:
        return (
            f"MessageResult(ref={self.ref!r}, type={self.type!r}, position={self.position}, "
            f"errors={self._errors or []!r}, warnings={self._warnings or []!r})"
        )


@dataclass(slots=True)
class InterchangeResult:
    """One UNB..UNZ: parties, control reference, syntax, its messages and findings."""

    sender: str
    sender_qualifier: str
    recipient: str
    recipient_qualifier: str
    control_ref: str
    syntax_identifier: str
    syntax_version: str
    test: bool = False
    prepared: str = ""
    messages: list[MessageResult] = field(default_factory=list)
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)

    @property
    def acknowledgeable(self) -> bool:
        """A CONTRL can only answer an interchange whose sender and reference are known."""
        return bool(self.sender and self.control_ref)

    @property
    def verdict(self) -> Verdict:
        if self.errors or any(m._errors for m in self.messages):
            return "rejected"
        return "accepted"

    def to_dict(self) -> dict[str, Any]:
        return {
            "sender": self.sender,
            "recipient": self.recipient,
            "control_ref": self.control_ref,
            "verdict": self.verdict,
            "errors": [e.to_dict() for e in self.errors],
            "messages": [m.to_dict() for m in self.messages],
        }


@dataclass(slots=True)
class FileResult:
    """The verdict on one file.

    ``quarantined``: nothing in it can be acknowledged (no UNB, unreadable, no sender or
    control reference); ``rejected``: at least one error anywhere; else ``accepted``.
    Warnings (junk skipped, character set fallbacks, trailing separators) never reject.
    """

    file: str
    interchanges: list[InterchangeResult] = field(default_factory=list)
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    bytes_read: int = 0
    junk: list[JunkSpan] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict:
        if not self.interchanges or not any(i.acknowledgeable for i in self.interchanges):
            return "quarantined"
        if self.errors or any(i.verdict == "rejected" for i in self.interchanges):
            return "rejected"
        return "accepted"

    @property
    def message_count(self) -> int:
        return sum(len(i.messages) for i in self.interchanges)

    def all_errors(self) -> list[Issue]:
        """Every error of the file, interchanges and messages, in file order."""
        out = list(self.errors)
        for ich in self.interchanges:
            out.extend(ich.errors)
            for msg in ich.messages:
                out.extend(msg._errors or ())
        return out

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of issue 3 item 9, plus ``warnings`` (file, interchange, message)."""
        warnings = list(self.warnings)
        for ich in self.interchanges:
            warnings.extend(ich.warnings)
            for msg in ich.messages:
                warnings.extend(msg._warnings or ())
        return {
            "file": self.file,
            "verdict": self.verdict,
            "errors": [e.to_dict() for e in self.errors],
            "interchanges": [i.to_dict() for i in self.interchanges],
            "warnings": [w.to_dict() for w in warnings],
            "junk": [j.to_dict() for j in self.junk],
        }

    def to_json(self) -> str:
        """One line of JSON."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))
