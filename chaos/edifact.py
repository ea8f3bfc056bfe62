"""A minimal EDIFACT reader for counting partners' outboxes (independent of the hub's codec).

It only splits interchanges into segments and picks the few elements the counts need (UNB
reference, UNH type, BGM, RFF+ON, UCI): counting the hub's output with the hub's own parser
would hide a defect they share.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

Segment = list[list[str]]  # elements, each a list of components; element 0 is the tag


@dataclass
class Document:
    """One message of a file in a partner's outbox."""

    file: str
    type: str  # UNH 0065: ORDRSP, CONTRL, DESADV, INVOIC, INVRPT, APERAK...
    interchange: str  # UNB 0020
    bgm_code: str = ""
    bgm_number: str = ""
    bgm_function: str = ""
    orders: list[str] = field(default_factory=list)  # RFF+ON
    acknowledged: str = ""  # CONTRL: UCI 0020, the interchange it answers


@dataclass
class OutboxFile:
    """A file in an outbox: its hash and the documents it holds (or why it cannot be read)."""

    name: str
    sha256: str
    documents: list[Document]
    error: str = ""


def segments(data: bytes) -> list[Segment]:
    """Segments of an interchange, honouring UNA and the release character."""
    text = data.decode("latin-1")
    comp, elem, release, term = ":", "+", "?", "'"
    if text.startswith("UNA") and len(text) >= 9:
        comp, elem, release, term = text[3], text[4], text[6], text[8]
        text = text[9:]
    result: list[Segment] = []
    element: list[str] = []
    current: list[str] = []
    buf: list[str] = []
    escaped = False
    for ch in text:
        if escaped:
            buf.append(ch)
            escaped = False
        elif ch == release:
            escaped = True
        elif ch == comp:
            element.append("".join(buf))
            buf = []
        elif ch == elem:
            element.append("".join(buf))
            current.append("|".join(element))
            element, buf = [], []
        elif ch == term:
            element.append("".join(buf))
            current.append("|".join(element))
            tag = current[0].strip()
            if tag:
                result.append([[tag], *[e.split("|") for e in current[1:]]])
            element, buf, current = [], [], []
        else:
            buf.append(ch)
    return result


def _get(seg: Segment, element: int, component: int = 0) -> str:
    if element < len(seg) and component < len(seg[element]):
        return seg[element][component].strip()
    return ""


def read_file(path: Path) -> OutboxFile:
    """The documents of one outbox file."""
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    docs: list[Document] = []
    interchange = ""
    current: Document | None = None
    try:
        for seg in segments(data):
            tag = seg[0][0]
            if tag == "UNB":
                interchange = _get(seg, 5)
            elif tag == "UNH":
                current = Document(path.name, _get(seg, 2, 0), interchange)
                docs.append(current)
            elif current is None:
                continue
            elif tag == "BGM":
                current.bgm_code = _get(seg, 1, 0)
                current.bgm_number = _get(seg, 2, 0)
                current.bgm_function = _get(seg, 3, 0)
            elif tag == "RFF" and _get(seg, 1, 0) == "ON":
                current.orders.append(_get(seg, 1, 1))
            elif tag == "UCI":
                current.acknowledged = _get(seg, 1)
    except (IndexError, ValueError) as exc:
        return OutboxFile(path.name, digest, docs, error=f"unreadable: {exc}")
    if not docs:
        return OutboxFile(path.name, digest, docs, error="no UNH message in the file")
    return OutboxFile(path.name, digest, docs)
