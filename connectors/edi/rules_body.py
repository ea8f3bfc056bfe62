"""Whole-message fast check: a plain message body judged by a few regex calls, not per segment.

The tokenizer keeps a plain message's body as one text (segments joined by the terminator,
release characters in, ``Message.plain_body``). On real-world data every message carries its
own GLNs, GTINs, quantities, dates and free text, so remembering checked segment texts does
not help; instead:

* one ``fullmatch`` of the body against "segment (terminator segment)*", where a segment is,
  per tag, the element formats (``rules_elements.fast_sources``, release-aware) or, for the
  segments the EANCOM rules read, their usual shape with the code lists written into the
  regex (``NAD+<3035 code>+<13 digits>::9``). Values never hold an unreleased separator, so a
  match splits the body exactly into its segments;
* ``findall`` (over terminator + body, so every search starts with a literal) for what a
  regex cannot judge: GS1 check digits, real dates, and the sequence of tags (with the
  kinds the message rules count: DTM+137, NAD+BY/SU, QTY+21) whose structure verdict is
  remembered. Currencies and the message type's document names are tries in the regex.
  Messages the tokenizer read whole come in runs (``MessageRun``): check digits and dates
  are then searched once over the run's bodies (``run_values_ok``), and the tag sequence
  is the exact one the tokenizer saw (``Message.shape``), so only the DTM, NAD and QTY
  qualifiers are searched per body (``shape_items``).

Finding nothing there means the detailed path finds nothing; anything else (another shape,
a failed check, a tag sequence the structure refuses) goes to the segment-by-segment paths,
which name what is wrong. Searches start at the body start or after a terminator, so a
released terminator can add a false candidate (a check more, then the detailed path) but
never hide a segment.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from itertools import repeat

from connectors.edi.codelists import (
    CURRENCIES,
    DATE_QUALIFIERS,
    DOCUMENT_NAMES,
    ITEM_TYPES,
    MEASURE_UNITS,
    PARTY_QUALIFIERS,
    QUANTITY_QUALIFIERS,
    REFERENCE_QUALIFIERS,
)
from connectors.edi.directory import DATE_FORMATS, SEGMENTS
from connectors.edi.rules_eancom import FACT_TAGS
from connectors.edi.rules_elements import check_date, fast_sources
from connectors.edi.rules_facts import DTM137, LIN, NAD_BY, NAD_SU, QTY21, UNS
from connectors.edi.tokenizer_events import MessageRun
from connectors.edi.tokenizer_segments import Delimiters


def _codes(codes: frozenset[str]) -> str:
    """A regex matching exactly ``codes``, as a trie (one test per character, not per code)."""
    if codes == {""}:
        return ""
    ends = "" in codes
    heads: dict[str, set[str]] = {}
    for code in codes:
        if code:
            heads.setdefault(code[0], set()).add(code[1:])
    branches = [re.escape(head) + _codes(frozenset(rest)) for head, rest in sorted(heads.items())]
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if ends else body


@lru_cache(maxsize=8192)
def _date_ok(value: str, fmt: str) -> bool:
    return check_date(value, fmt)


_DAYS: dict[str, bool] = {}  # CCYYMMDD -> a real day (a file's dates are few)


def _day_ok(value: str) -> bool:
    ok = _DAYS.get(value)
    if ok is None:
        if len(_DAYS) >= 20_000:
            _DAYS.clear()
        ok = _DAYS[value] = check_date(value, "102")
    return ok


def _dates_ok(dates: Iterable[tuple[str, str]]) -> bool:
    """``check_date`` of each (digits, format) the body regex vouched for; the usual 102
    and 203 by their day (remembered) and a string comparison of hour and minute."""
    for value, fmt in dates:
        if fmt == "102":
            if len(value) != 8 or not _day_ok(value):
                return False
        elif fmt == "203":
            if not (
                len(value) == 12 and value[8:10] < "24" and value[10:] < "60" and _day_ok(value[:8])
            ):
                return False
        elif not _date_ok(value, fmt):
            return False
    return True


# GS1 check digits of many numbers in a few big-integer operations: each number, padded
# with leading zeros (weightless) to a 16-byte slot, becomes its digits' weighted values
# mod 10 (weight 3 at odd distances from its end, 1 at even ones); multiplying by sixteen
# 1-bytes puts each slot's sum into its top byte (16 values <= 9: no byte carries over).
_LENGTHS = frozenset({8, 12, 13, 14})
_ONES = bytes.maketrans(b"0123456789", bytes(range(10)))
_THREES = bytes.maketrans(b"0123456789", bytes(3 * n % 10 for n in range(10)))
_SLOTS = 64  # numbers covered by the precomputed masks
_ODD = int.from_bytes(b"\xff\x00" * 8 * _SLOTS, "big")  # bytes at odd distances from the end
_EVEN = _ODD >> 8
_SUM16 = int.from_bytes(b"\x01" * 16, "big")
_TENS = bytes(range(0, 256, 10))


def _numbers_ok(numbers: list[str]) -> bool:
    """GS1 check digits of digit strings the segment regex vouched for (what ``gs1_ok``
    says of each, lengths 8, 12, 13 and 14 only), all at once."""
    if not numbers:
        return True
    if len(numbers) > _SLOTS:
        return all(_numbers_ok(numbers[i : i + _SLOTS]) for i in range(0, len(numbers), _SLOTS))
    if not _LENGTHS.issuperset(map(len, numbers)):
        return False
    blob = "".join(map(str.zfill, numbers, repeat(16))).encode("ascii")
    weighted = (int.from_bytes(blob.translate(_ONES), "big") & _EVEN) | (
        int.from_bytes(blob.translate(_THREES), "big") & _ODD
    )
    sums = (weighted * _SUM16).to_bytes(len(blob) + 16, "little")[15::16]
    return not sums.translate(None, _TENS)


class BodyChecker:
    """The regexes for one set of delimiters and message type (``message``, e.g. ORDERS:
    its document names, 1001, are part of the BGM shape)."""

    def __init__(self, d: Delimiters, message: str = "") -> None:
        es, cs, term = re.escape(d.element), re.escape(d.component), re.escape(d.terminator)
        rel = re.escape(d.release)
        value = "[^" + re.escape(d.element + d.component + d.release + d.terminator) + "]"
        mark = re.escape(d.decimal)
        start = term  # searched in terminator + body: a literal start, found at C speed
        names = DOCUMENT_NAMES.get(message)
        documents = _codes(names) if names is not None else "[0-9A-Z]{1,3}"
        shapes = {
            "NAD": f"NAD{es}{_codes(PARTY_QUALIFIERS)}{es}[0-9]{{13}}{cs}{cs}9",
            "LIN": f"LIN{es}[0-9]{{1,6}}{es}{es}[0-9]{{8,14}}{cs}(?:EN|SRV|UP)",
            "DTM": (
                f"DTM{es}{_codes(DATE_QUALIFIERS)}{cs}[0-9]{{1,35}}{cs}"
                f"{_codes(frozenset(DATE_FORMATS))}"
            ),
            "QTY": (
                f"QTY{es}{_codes(QUANTITY_QUALIFIERS)}{cs}[0-9]{{1,15}}"
                f"(?:{cs}{_codes(MEASURE_UNITS)})?"
            ),
            "BGM": f"BGM{es}{documents}{es}{value}{{1,35}}{es}[0-9]{{1,3}}",
            "CUX": f"CUX{es}2{cs}{_codes(CURRENCIES)}{cs}9",
            "RFF": f"RFF{es}{_codes(REFERENCE_QUALIFIERS)}{cs}{value}{{1,35}}",
            "PIA": f"PIA{es}[A-Z0-9]{{1,3}}{es}{value}{{1,35}}{cs}{_codes(ITEM_TYPES)}",
            "PRI": f"PRI{es}[A-Z]{{3}}{cs}[0-9]{{1,12}}(?:{mark}[0-9]{{1,3}})?",
            "CNT": f"CNT{es}[0-9]{{1,3}}{cs}[0-9]{{1,15}}",
            "UNS": f"UNS{es}[A-Z]",
        }
        for tag, source in fast_sources(d).items():
            if tag not in FACT_TAGS:
                shapes[tag] = source
        # the segments of order lines first: they are most of a message
        order = ("LIN", "PIA", "QTY", "PRI", "IMD", "MOA", "DTM", "NAD", "FTX", "RFF")
        shapes = {tag: shapes[tag] for tag in (*order, *shapes) if tag in shapes}
        known = "|".join(sorted(set(SEGMENTS) | FACT_TAGS))
        anything = f"(?:[^{re.escape(d.terminator + d.release)}]|{rel}.)"
        # a tag the directory has no layout for: its elements are not checked
        generic = f"(?!(?:{known})(?:{es}|{term}|$))[A-Z0-9]{{3}}(?:{es}{anything}*)?"
        segment = "(?:" + "|".join([*shapes.values(), generic]) + ")"
        self.segments = re.compile(f"{segment}(?:{term}{segment})*")
        # each search starts with a literal (terminator + tag): found at C speed
        # GLNs (13 digits) and GTINs (8-14) in one search
        self.numbers = re.compile(
            f"{start}(?:NAD{es}[A-Z0-9]{{1,3}}{es}(?=[0-9]{{13}}{cs})|LIN{es}[0-9]{{1,6}}{es}{es})"
            f"([0-9]{{8,14}}){cs}"
        )
        self.dates = re.compile(f"{start}DTM{es}[0-9]{{1,3}}{cs}([0-9]{{1,35}}){cs}([0-9]{{3}})")
        self.tags = re.compile(
            f"{start}(DTM{es}137(?={cs})|NAD{es}BY(?={es})|NAD{es}SU(?={es})|"
            f"QTY{es}21(?={cs})|[A-Z0-9]{{3}})"
        )
        # only the segments whose kind the message rules count, each found (a shape check)
        self.kind_items = re.compile(
            f"{start}(DTM{es}137(?={cs})|NAD{es}BY(?={es})|NAD{es}SU(?={es})|"
            f"QTY{es}21(?={cs})|DTM|NAD|QTY)"
        )
        self.term = d.terminator
        self.element = d.element
        self.kinds = {
            f"DTM{d.element}137": ("DTM", DTM137),
            f"NAD{d.element}BY": ("NAD", NAD_BY),
            f"NAD{d.element}SU": ("NAD", NAD_SU),
            f"QTY{d.element}21": ("QTY", QTY21),
            "LIN": ("LIN", LIN),
            "UNS": ("UNS", UNS),
        }

    def values_ok(self, body: str) -> bool:
        """Check digits and dates of one matched body (with a terminator in front)."""
        return _numbers_ok(self.numbers.findall(body)) and _dates_ok(self.dates.findall(body))

    def run_values_ok(self, run: MessageRun) -> bool:
        """``values_ok`` of every body of ``run`` at once (remembered in the run): True means
        each of its bodies passes; False: at least one may not, check them one by one.

        One search over the bodies joined by the terminator finds exactly what one search
        per body (with a terminator in front) finds: a match starts at a terminator and
        holds no other, and the bodies' last terminators are not released (the tokenizer
        split there)."""
        ok = run.verdicts.get(self)
        if ok is None:
            text = self.term + self.term.join(run.bodies)
            ok = _numbers_ok(self.numbers.findall(text)) and _dates_ok(
                set(self.dates.findall(text))
            )
            run.verdicts[self] = ok
        return ok

    def sequence(self, body: str) -> str:
        """The tags in order, DTM+137, NAD+BY/SU and QTY+21 told apart, joined (a structure
        key: a tag is 3 letters or digits, and the 4 longer items are fixed, so the joined
        text reads back one way); ``body`` with a terminator in front."""
        return "".join(self.tags.findall(body))

    def shape_items(self, body: str) -> list[str]:
        """The DTM, NAD and QTY segments of a body (with a terminator in front) in order,
        DTM+137, NAD+BY/SU and QTY+21 told apart (and false candidates after a released
        terminator, which ``shape_infos`` notices)."""
        return self.kind_items.findall(body)

    def shape_infos(self, shape: bytes, items: list[str]) -> list[tuple[str, int]] | None:
        """(tag, kind) per segment from a message's ``shape`` (its segment tags, exact) and
        ``shape_items`` of its body; None when the items are not exactly one per DTM, NAD
        and QTY segment (a released terminator in a value made a false one)."""
        text = shape.decode("latin-1")
        es, kinds = self.element, self.kinds
        infos: list[tuple[str, int]] = []
        at = taken = 0
        while at < len(text):
            tag = text[at : at + 3]
            at += 4 if text[at + 3 : at + 4] == es else 3
            item = tag
            if tag in _COUNTED:
                if taken >= len(items) or items[taken][:3] != tag:
                    return None
                item = items[taken]
                taken += 1
            infos.append(kinds.get(item, (tag, 0)))
        return infos if taken == len(items) else None

    def infos(self, body: str) -> list[tuple[str, int]]:
        """(tag, kind) per segment of a body (with a terminator in front), as
        ``PlainChecker`` walks them (``sequence`` is its key)."""
        kinds = self.kinds
        return [kinds.get(item, (item, 0)) for item in self.tags.findall(body)]


_COUNTED = frozenset({"DTM", "NAD", "QTY"})  # the tags whose kind depends on a qualifier

_CHECKERS: dict[tuple[Delimiters, str], BodyChecker] = {}


def body_checker(d: Delimiters, message: str = "") -> BodyChecker:
    """The (compiled once) ``BodyChecker`` for these delimiters and message type."""
    key = (d, message if message in DOCUMENT_NAMES else "")
    found = _CHECKERS.get(key)
    if found is None:
        found = _CHECKERS[key] = BodyChecker(*key)
    return found
