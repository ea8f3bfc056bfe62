"""Byte-level helpers of the tokenizer: released terminators, raw offsets, segment heads."""

from __future__ import annotations

import operator
from itertools import compress, count, repeat

ENVELOPE_TAGS = frozenset({"UNH", "UNT", "UNZ", "UNB", "UNG", "UNE"})
# Heads (the first 4 bytes) of plain data segments the block path takes, and of anything
# else (UNH, UNT, junk...), per element separator: a plain data segment starts with a tag of
# 3 upper-case letters or digits that is no service segment, then the separator (or nothing:
# a segment without data elements).
_HEADS: dict[bytes, tuple[set[bytes], set[bytes]]] = {}
_SERVICE_TAGS = frozenset(t.encode() for t in (*ENVELOPE_TAGS, "UNA"))
_HEAD = operator.itemgetter(slice(None, 4))


def plain_flags(pieces: list[bytes], es: bytes) -> list[bool]:
    """Per piece: do its first 4 bytes read as a plain data segment's tag (+ separator)?

    The few distinct heads are judged first, so the first chunk is as fast as the others;
    the list ends with False (a stop for ``list.index``).
    """
    heads, not_heads = _HEADS.setdefault(es, (set(), set()))
    for head in set(map(_HEAD, pieces)).difference(heads, not_heads):
        _new_head(head, es, heads, not_heads)
    plain = list(map(heads.__contains__, map(_HEAD, pieces)))
    plain.append(False)
    return plain


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


def merge_released(pieces: list[bytes], term: bytes, rel: bytes) -> list[bytes]:
    """Re-join pieces whose terminator was escaped (an odd run of release characters).

    Only the few pieces ending in a release character are visited (found at C speed), the
    others are copied as slices; merged from the end so indices stay valid.
    """
    ends = compress(count(), map(bytes.endswith, pieces, repeat(rel)))
    for i in reversed(list(ends)):
        piece = pieces[i]
        if i + 1 < len(pieces) and (len(piece) - len(piece.rstrip(rel))) % 2 == 1:
            pieces[i : i + 2] = [piece + term + pieces[i + 1]]
    return pieces


def preview(data: bytes) -> str:
    text = data[:60].decode("latin-1")
    return "".join(c if c.isprintable() else "." for c in text)
