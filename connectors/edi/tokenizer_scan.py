"""Byte-level helpers of the tokenizer: released terminators, raw offsets, segment heads."""

from __future__ import annotations

import io
import operator
import os
import re
from pathlib import Path
from typing import IO

from connectors.edi.errors import EdifactError
from connectors.edi.tokenizer_events import WholeRun
from connectors.edi.tokenizer_segments import (
    DEFAULT_DELIMITERS,
    Delimiters,
)

ENVELOPE_TAGS = frozenset({"UNH", "UNT", "UNZ", "UNB", "UNG", "UNE"})
# Heads (the first 4 bytes) of plain data segments the block path takes, and of anything
# else (UNH, UNT, junk...), per element separator: a plain data segment starts with a tag of
# 3 upper-case letters or digits that is no service segment, then the separator (or nothing:
# a segment without data elements).
_HEADS: dict[bytes, tuple[set[bytes], set[bytes]]] = {}
_SERVICE_TAGS = frozenset(t.encode() for t in (*ENVELOPE_TAGS, "UNA"))
_HEAD = operator.itemgetter(slice(None, 4))


def plain_flags(pieces: tuple[bytes, ...], es: bytes) -> tuple[bytearray, tuple[bytes, ...]]:
    """Per piece: do its first 4 bytes read as a plain data segment's tag (+ separator)?
    And those heads (``whole_run`` keeps a message's, joined, as its tag sequence).

    Only the heads not already known as plain are looked at one by one (UNH, UNT and
    the like: a few per message). The flags are bytes (1 plain, 0 not) ending with a 0 (a
    stop for ``index``); flags and heads are kept in objects the garbage collector does
    not walk again and again while the chunk's messages are handed out (a bytearray, a
    tuple of bytes).
    """
    heads, not_heads = _HEADS.setdefault(es, (set(), set()))
    first = tuple(map(_HEAD, pieces))
    plain = bytearray(map(heads.__contains__, first))
    plain.append(0)
    if plain.count(0) > len(plain) // 4:
        # most heads unknown (the first chunk of a process): learn each distinct one once
        for head in set(first).difference(heads, not_heads):
            _new_head(head, es, heads, not_heads)
        plain = bytearray(map(heads.__contains__, first))
        plain.append(0)
    # judge the heads not known as plain (UNH, UNT... and new ones): a few per message
    at = plain.index(0)
    while at < len(first):
        head = first[at]
        if head not in not_heads and _new_head(head, es, heads, not_heads):
            plain[at] = 1
        at = plain.index(0, at + 1)
    return plain, first


def _new_head(head: bytes, es: bytes, heads: set[bytes], not_heads: set[bytes]) -> bool:
    """Whether ``head`` starts a plain data segment; remembered in ``heads``/``not_heads``."""
    tag = head[:3]
    if (
        len(tag) == 3
        and head[3:] in (es, b"")
        and tag.isalnum()
        and tag.isupper()
        and tag not in _SERVICE_TAGS
    ):
        if len(heads) < 100_000:
            heads.add(head)
        return True
    if len(not_heads) < 100_000:
        not_heads.add(head)
    return False


def raw_cut(raw: bytes, clean: bytes, cut: int, term: bytes) -> int:
    """The offset in ``raw`` of offset ``cut`` of ``clean`` (``raw`` without CR/LF).

    ``cut`` is 0 or just after a terminator; both hold the same terminators in the same
    order, so the answer is just after the same terminator in ``raw``, found from whichever
    end is nearer.
    """
    if len(raw) == len(clean) or cut == 0:
        return cut
    before = clean.count(term, 0, cut)
    after = clean.count(term, cut)
    if before <= after:
        at = -1
        for _ in range(before):
            at = raw.find(term, at + 1)
        return at + 1
    at = len(raw)
    for _ in range(after + 1):
        at = raw.rfind(term, 0, at)
    return at + 1


def merge_released(pieces: list[bytes], buf: bytes, term: bytes, rel: bytes) -> list[bytes]:
    """Re-join the pieces of ``buf.split(term)`` whose terminator was escaped (an odd run of
    release characters before it).

    Only the few released terminators are visited (found in ``buf`` at C speed, their piece
    numbers counted incrementally); merged from the end so indices stay valid.
    """
    joins: list[int] = []
    piece = 0
    counted = 0
    release = rel[0]
    for m in re.finditer(re.escape(rel + term), buf):
        at = m.end() - 1  # the terminator
        piece += buf.count(term, counted, at)  # the piece this terminator ends
        counted = at
        start = at - 1
        while start > 0 and buf[start - 1] == release:
            start -= 1
        if (at - start) % 2 == 1:  # an odd run of release characters: escaped
            joins.append(piece)
    if not joins:
        return pieces
    # one pass (not a slice assignment per join: that moves the whole list each time)
    out: list[bytes] = []
    at = 0  # the first piece not yet in ``out``
    for i in joins:  # ascending; i + 1 < len(pieces): a terminator ends piece i
        if i >= at:
            out += pieces[at : i + 1]
        out[-1] += term + pieces[i + 1]  # i == at - 1: a run of released terminators
        at = i + 2
    out += pieces[at:]
    return out


def split_pieces(buf: bytes, term: bytes, rel: bytes) -> tuple[tuple[bytes, ...], bytes]:
    """``buf`` split at its unreleased terminators: the terminated pieces and the
    unterminated rest. The pieces are a tuple of bytes: the garbage collector stops walking
    it after one look (a list of ~6,000 pieces a chunk would be walked again at every young
    collection)."""
    split = buf.split(term)
    if rel + term in buf:
        split = merge_released(split, buf, term, rel)
    rest = split.pop()
    return tuple(split), rest


def preview(data: bytes) -> str:
    text = data[:60].decode("latin-1")
    return "".join(c if c.isprintable() else "." for c in text)


# whole messages per call and ``MessageRun``: a finding re-checks at most these, and the
# messages handed out at once stay few (young objects: cheap for the garbage collector)
RUN_MESSAGES = 64


def whole_run(
    pieces: tuple[bytes, ...],
    plain: bytearray,
    heads: tuple[bytes, ...],
    i: int,
    d: Delimiters,
    rep: str,
    bad: re.Pattern[bytes] | None,
    seg_no: int,
) -> tuple[WholeRun | None, int, int, int]:
    """Messages made of a plain ASCII UNH, a run of plain segments and a plain UNT, from
    ``pieces[i]`` on (``RUN_MESSAGES`` at most), as texts in one ``WholeRun``.

    Each message gets its ``shape``: the heads (``plain_flags``) of its body segments
    joined, i.e. its tags, each with the element separator after it unless the segment is
    the bare tag.

    Returns the run (None: no message taken), the index of the first piece not taken, the
    interchange segment number after them and how many bytes they took (terminators
    included).
    """
    es = d.element
    term, rel = d.terminator.encode("latin-1"), d.release.encode("latin-1")
    unh_head, unt_head = ("UNH" + es).encode("latin-1"), ("UNT" + es).encode("latin-1")
    n = len(pieces)
    index = plain.index
    out = WholeRun(d, rep)
    unhs, unts, counts, shapes, positions = (
        out.unhs,
        out.unts,
        out.counts,
        out.shapes,
        out.positions,
    )
    bodies = out.run.bodies
    consumed = 0
    while i < n and pieces[i][:4] == unh_head and len(unhs) < RUN_MESSAGES:
        j = index(0, i + 1)
        if j >= n or pieces[j][:4] != unt_head or rel in pieces[i] or rel in pieces[j]:
            break
        region = term.join(pieces[i : j + 1])
        if not region.isascii() or (bad is not None and bad.search(region) is not None):
            break
        text = region.decode("ascii")
        first, last = len(pieces[i]), len(text) - len(pieces[j])
        unhs.append(text[:first])
        bodies.append(text[first + 1 : last - 1])  # "" for a message without body segments
        unts.append(text[last:])
        counts.append(j - i - 1)
        shapes.append(b"".join(heads[i + 1 : j]))
        positions.append(seg_no + 1)
        seg_no += j - i + 1
        consumed += len(region) + 1
        i = j + 1
    return (out if unhs else None), i, seg_no, consumed


def plain_text(piece: bytes, es: str) -> str | None:
    """The text of a plain ASCII data segment (a tag of 3 upper-case letters or digits that
    is no envelope tag, then the element separator or nothing), else None."""
    if not piece.isascii():
        return None
    text = piece.decode("ascii")
    tag = text[:3]
    if (
        text[3:4] in (es, "")
        and tag.isalnum()
        and tag.isupper()
        and tag not in ENVELOPE_TAGS
        and not text[:1].isspace()
    ):
        return text
    return None


def unb_continues(piece: bytes, d: Delimiters, una: bool) -> bool:
    """After a UNZ: does ``piece`` start a UNB written with the delimiters ``d``?

    A UNB without UNA has the default delimiters, unless it plainly goes on with the other
    element separator of the interchange before it (``seek`` decides alike); after a UNA
    that declared ``d`` (``una``), a UNB with its separator is theirs.
    """
    head = piece.lstrip()[:4]
    if head[:3] != b"UNB":
        return False
    es = d.element.encode("latin-1")
    if una or d == DEFAULT_DELIMITERS:
        return head[3:] in (b"", es)
    return es != b"+" and head[3:] == es


Source = bytes | bytearray | memoryview | str | os.PathLike[str] | IO[bytes]


def open_source(source: Source) -> tuple[IO[bytes], bool]:
    """A binary stream for the source, and whether the reader owns (closes) it."""
    if isinstance(source, bytes | bytearray | memoryview):
        return io.BytesIO(bytes(source)), True
    if isinstance(source, str | os.PathLike):
        try:
            return open(Path(source), "rb"), True  # noqa: SIM115 - closed by the reader
        except OSError as exc:
            raise EdifactError(
                f"{source}: cannot open EDIFACT file: {exc.strerror or exc}", code=18
            ) from exc
    if hasattr(source, "read"):
        return source, False
    raise EdifactError(f"cannot read EDIFACT from a {type(source).__name__}", code=18)
