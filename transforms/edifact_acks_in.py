"""Partners' acknowledgements of our documents: CONTRL (syntax 3 and 4) and APERAK, read.

Pure: a received message's body segments in, an ``AckReport`` out (which of our interchanges
and documents it answers, accepted or rejected, with the partner's error codes and
positions); ``ack_state`` folds what arrived so far and the deadlines into the outbound
document's state (sent, accepted, rejected, overdue). The segment layouts follow ISO 9735
(CONTRL: UCI 0020 / S002 / S003 / 0083 / 0085 / S008 in v3 and v4, UCM 0062 / S009 / 0083 /
0085, UCS 0096 / 0085, UCD 0085 / S011) and EANCOM APERAK D96A EAN003 (BGM 1225, RFF, ERC
9321, FTX 4440).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

# UCI/UCM 0083 action codes: 4 rejected, 7 acknowledged, 8 received (syntax 4 only)
REJECTED = "4"
ACKNOWLEDGED = ("7", "8")
# APERAK BGM 1225 message function: 27 not accepted, 29 accepted without amendment
APERAK_REJECTS = ("27",)
APERAK_ACCEPTS = ("29", "6")
# RFF qualifiers an APERAK uses to name the document it answers
DOCUMENT_QUALIFIERS = ("IV", "AAK", "DQ", "ON", "POR", "ACW", "AGO", "ACE", "DM", "VN")

ACK_KINDS = ("CONTRL", "APERAK")
STATES = ("sent", "accepted", "rejected", "overdue", "resent", "not_expected")


class SegmentLike(Protocol):
    """What the transform needs of a codec segment."""

    tag: str

    def element(self, position: int, component: int = 1) -> str: ...


@dataclass(frozen=True)
class AckError:
    """One error the partner reported: code, where (segment/element position), text."""

    code: str
    position: str = ""  # e.g. "segment 7 element 2:1", "message 1", "interchange"
    text: str = ""

    def as_dict(self) -> dict[str, str]:
        """JSON-able form (ledger, dead letters, ``hub edi acks --json``)."""
        return {"code": self.code, "position": self.position, "text": self.text}


@dataclass(frozen=True)
class MessageAck:
    """A CONTRL's answer about one message of our interchange (UCM)."""

    message_ref: str
    message_type: str
    accepted: bool
    errors: tuple[AckError, ...] = ()


@dataclass(frozen=True)
class AckReport:
    """A partner's acknowledgement, read: what it answers and its verdict."""

    kind: str  # CONTRL | APERAK
    accepted: bool
    interchange_ref: str = ""  # CONTRL UCI 0020: OUR interchange control reference
    messages: tuple[MessageAck, ...] = ()
    document_refs: tuple[str, ...] = ()  # APERAK RFF values naming our document
    document_number: str = ""  # the acknowledgement's own number (APERAK BGM 1004)
    errors: tuple[AckError, ...] = field(default_factory=tuple)

    @property
    def ref(self) -> str:
        """How a person finds it: ``CONTRL 000000008`` or ``APERAK on INV-1``."""
        if self.kind == "CONTRL":
            return f"CONTRL for {self.interchange_ref}"
        return f"APERAK {self.document_number} on {','.join(self.document_refs) or '?'}"

    def verdict_for(self, message_ref: str | None = None) -> tuple[bool, tuple[AckError, ...]]:
        """Accepted or not, and the errors, for one of our messages (CONTRL: its UCM when
        there is one, else the interchange's verdict)."""
        if self.kind == "CONTRL" and self.accepted and message_ref is not None:
            for msg in self.messages:
                if msg.message_ref == message_ref:
                    return msg.accepted, msg.errors
        return self.accepted, self.errors

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "kind": self.kind,
            "accepted": self.accepted,
            "interchange_ref": self.interchange_ref,
            "document_refs": list(self.document_refs),
            "document_number": self.document_number,
            "errors": [e.as_dict() for e in self.errors],
            "messages": [
                {
                    "ref": m.message_ref,
                    "type": m.message_type,
                    "accepted": m.accepted,
                    "errors": [e.as_dict() for e in m.errors],
                }
                for m in self.messages
            ],
        }


def _joined(segment: SegmentLike, position: int, components: int = 5) -> str:
    parts = [segment.element(position, c) for c in range(1, components + 1)]
    while parts and not parts[-1]:
        parts.pop()
    return ":".join(parts)


def read_contrl(segments: Sequence[SegmentLike]) -> AckReport:
    """A CONTRL body (UNH/UNT excluded), syntax 3 or 4: UCI, then UCM with UCS/UCD below.

    A rejected message carries the first error of its UCM (0085) and one error per UCS/UCD
    below it; an interchange rejected at UCI level (0083 = 4) rejects every message."""
    uci = next((s for s in segments if s.tag == "UCI"), None)
    if uci is None:
        raise ValueError("CONTRL without UCI: not a syntax and service report")
    ich_accepted = uci.element(4) != REJECTED
    ich_errors: list[AckError] = []
    if not ich_accepted:
        where = "interchange" + (f" {uci.element(6)}" if uci.element(6) else "")
        ich_errors.append(AckError(uci.element(5) or "?", where, "interchange rejected"))
    messages: list[MessageAck] = []
    current: dict[str, Any] | None = None
    segment_position = ""
    for seg in segments:
        if seg.tag == "UCM":
            current = {"ref": seg.element(1), "type": _joined(seg, 2), "action": seg.element(3)}
            current["errors"] = [AckError(seg.element(4), f"message {seg.element(1)}")] * bool(
                seg.element(4)
            )
            messages.append(_message_ack(current))
        elif seg.tag == "UCS" and current is not None:
            segment_position = seg.element(1)
            if seg.element(2):
                current["errors"].append(AckError(seg.element(2), f"segment {segment_position}"))
            messages[-1] = _message_ack(current)
        elif seg.tag == "UCD" and current is not None:
            element = _joined(seg, 2, 3)
            where = f"segment {segment_position} element {element}".strip()
            current["errors"].append(AckError(seg.element(1), where))
            messages[-1] = _message_ack(current)
    accepted = ich_accepted and all(m.accepted for m in messages)
    errors = tuple(ich_errors) + tuple(e for m in messages for e in m.errors)
    return AckReport(
        "CONTRL", accepted, interchange_ref=uci.element(1), messages=tuple(messages), errors=errors
    )


def _message_ack(current: Mapping[str, Any]) -> MessageAck:
    accepted = current["action"] in ACKNOWLEDGED or (
        current["action"] != REJECTED and not current["errors"]
    )
    return MessageAck(current["ref"], current["type"], accepted, tuple(current["errors"]))


def read_aperak(segments: Sequence[SegmentLike]) -> AckReport:
    """An APERAK body: BGM (1225 27 = not accepted, 29 = accepted), RFF naming our
    document, ERC + FTX per error (an ERC makes it a rejection unless BGM says 29)."""
    bgm = next((s for s in segments if s.tag == "BGM"), None)
    if bgm is None:
        raise ValueError("APERAK without BGM")
    refs: list[str] = []
    errors: list[AckError] = []
    for seg in segments:
        qualifier, value = seg.element(1, 1), seg.element(1, 2)
        if seg.tag == "ERC":
            errors.append(AckError(seg.element(1), ""))
        elif seg.tag == "FTX" and errors:
            text = "".join(seg.element(4, c) for c in range(1, 6))
            last = errors[-1]
            errors[-1] = AckError(last.code, last.position, (last.text + " " + text).strip())
        elif seg.tag == "RFF" and errors and qualifier == "LI":
            last = errors[-1]
            errors[-1] = AckError(last.code, f"line {value}", last.text)
        elif seg.tag == "RFF" and qualifier in DOCUMENT_QUALIFIERS and value and value not in refs:
            refs.append(value)
    function = bgm.element(3)
    accepted = function in APERAK_ACCEPTS or (function not in APERAK_REJECTS and not errors)
    return AckReport(
        "APERAK",
        accepted,
        document_refs=tuple(refs),
        document_number=bgm.element(2),
        errors=tuple(errors) if not accepted else (),
    )


def read_ack(kind: str, segments: Sequence[SegmentLike]) -> AckReport:
    """``read_contrl`` or ``read_aperak`` by message type."""
    if kind == "CONTRL":
        return read_contrl(segments)
    if kind == "APERAK":
        return read_aperak(segments)
    raise ValueError(f"{kind} is not an acknowledgement message (CONTRL, APERAK)")


def document_number(body: Sequence[Sequence[object]]) -> str:
    """The BGM document number (1004) of an outbound body of ``(tag, *elements)`` tuples."""
    for segment in body:
        if segment and segment[0] == "BGM" and len(segment) > 2:
            value = segment[2]
            return str(value[0] if isinstance(value, list) else value)
    return ""


def ack_state(
    expects: Sequence[str],
    received: Mapping[str, str | None],
    due: Mapping[str, datetime | None],
    now: datetime,
    *,
    resent: bool = False,
) -> str:
    """The outbound document's state from the acknowledgements it expects and got.

    ``received``: kind -> "accepted" | "rejected" | None; ``due``: kind -> deadline. A
    rejection wins; every expected kind accepted (or none expected and one positive
    arrived) is accepted; an expected kind missing past its deadline is overdue."""
    if resent:
        return "resent"
    got = {k: v for k, v in received.items() if v}
    if "rejected" in got.values():
        return "rejected"
    if expects and all(got.get(k) == "accepted" for k in expects):
        return "accepted"
    if not expects and got:
        return "accepted"
    for kind in expects:
        deadline = due.get(kind)
        if got.get(kind) is None and deadline is not None and now > deadline:
            return "overdue"
    return "sent"
