"""Whole-message fast check: a plain message body judged by a few regex calls, not per segment.

The tokenizer keeps a plain message's body as one text (segments joined by the terminator,
release characters in, ``Message.plain_body``). On real-world data every message carries its
own GLNs, GTINs, quantities, dates and free text, so remembering checked segment texts does
not help; instead:

* one ``fullmatch`` of the body against "segment (terminator segment)*", where a segment is,
  per tag, the element formats (``rules_elements.fast_patterns``, release-aware) or, for the
  segments the EANCOM rules read, their usual shape with the code lists written into the
  regex (``NAD+<3035 code>+<13 digits>::9``). Values never hold an unreleased separator, so a
  match splits the body exactly into its segments;
* ``findall`` (over terminator + body, so every search starts with a literal) for what a
  regex cannot judge: GS1 check digits, real dates, currencies, the
  document name of the message type, and the sequence of tags (with the kinds the message
  rules count: DTM+137, NAD+BY/SU, QTY+21) whose structure verdict is remembered.

Finding nothing there means the detailed path finds nothing; anything else (another shape,
a failed check, a tag sequence the structure refuses) goes to the segment-by-segment paths,
which name what is wrong. Searches start at the body start or after a terminator, so a
released terminator can add a false candidate (a check more, then the detailed path) but
never hide a segment.
"""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import starmap

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
from connectors.edi.rules_eancom import FACT_TAGS, gln_ok, gtin_ok
from connectors.edi.rules_elements import check_date, fast_patterns
from connectors.edi.rules_facts import DTM137, LIN, NAD_BY, NAD_SU, QTY21, UNS
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


class BodyChecker:
    """The regexes for one set of delimiters; ``clean(body, ...)`` is the fast verdict."""

    def __init__(self, d: Delimiters) -> None:
        es, cs, term = re.escape(d.element), re.escape(d.component), re.escape(d.terminator)
        rel = re.escape(d.release)
        value = "[^" + re.escape(d.element + d.component + d.release + d.terminator) + "]"
        mark = re.escape(d.decimal)
        start = term  # searched in terminator + body: a literal start, found at C speed
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
            "BGM": f"BGM{es}[0-9A-Z]{{1,3}}{es}{value}{{1,35}}{es}[0-9]{{1,3}}",
            "CUX": f"CUX{es}2{cs}[A-Z]{{3}}{cs}9",
            "RFF": f"RFF{es}{_codes(REFERENCE_QUALIFIERS)}{cs}{value}{{1,35}}",
            "PIA": f"PIA{es}[A-Z0-9]{{1,3}}{es}{value}{{1,35}}{cs}{_codes(ITEM_TYPES)}",
            "PRI": f"PRI{es}[A-Z]{{3}}{cs}[0-9]{{1,12}}(?:{mark}[0-9]{{1,3}})?",
            "CNT": f"CNT{es}[0-9]{{1,3}}{cs}[0-9]{{1,15}}",
            "UNS": f"UNS{es}[A-Z]",
        }
        formats = fast_patterns(d)
        for tag, pattern in formats.items():
            if tag not in FACT_TAGS:
                shapes[tag] = pattern.pattern
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
        self.glns = re.compile(f"{start}NAD{es}[A-Z0-9]{{1,3}}{es}([0-9]{{13}}){cs}")
        self.gtins = re.compile(f"{start}LIN{es}[0-9]{{1,6}}{es}{es}([0-9]{{8,14}}){cs}")
        self.dates = re.compile(f"{start}DTM{es}[0-9]{{1,3}}{cs}([0-9]{{1,35}}){cs}([0-9]{{3}})")
        self.currencies = re.compile(f"{start}CUX{es}2{cs}([A-Z]{{3}}){cs}")
        self.documents = re.compile(f"{start}BGM{es}([0-9A-Z]{{1,3}}){es}")
        self.tags = re.compile(
            f"{start}(DTM{es}137(?={cs})|NAD{es}BY(?={es})|NAD{es}SU(?={es})|"
            f"QTY{es}21(?={cs})|[A-Z0-9]{{3}})"
        )
        self.kinds = {
            f"DTM{d.element}137": ("DTM", DTM137),
            f"NAD{d.element}BY": ("NAD", NAD_BY),
            f"NAD{d.element}SU": ("NAD", NAD_SU),
            f"QTY{d.element}21": ("QTY", QTY21),
            "LIN": ("LIN", LIN),
            "UNS": ("UNS", UNS),
        }

    def values_ok(self, body: str, message: str) -> bool:
        """Check digits, dates, currencies and the document name of one matched body
        (``body`` with a terminator in front)."""
        if not all(map(gln_ok, self.glns.findall(body))):
            return False
        if not all(map(gtin_ok, self.gtins.findall(body))):
            return False
        if not all(starmap(_date_ok, self.dates.findall(body))):
            return False
        currencies = self.currencies.findall(body)
        if not CURRENCIES.issuperset(currencies):
            return False
        names = DOCUMENT_NAMES.get(message)
        return names is None or names.issuperset(self.documents.findall(body))

    def sequence(self, body: str) -> tuple[str, ...]:
        """The tags in order, DTM+137, NAD+BY/SU and QTY+21 told apart (a structure key);
        ``body`` with a terminator in front."""
        return tuple(self.tags.findall(body))

    def infos(self, key: tuple[str, ...]) -> list[tuple[str, int]]:
        """(tag, kind) per segment of a ``sequence`` key, as ``PlainChecker`` walks them."""
        kinds = self.kinds
        return [kinds.get(item, (item, 0)) for item in key]


_CHECKERS: dict[Delimiters, BodyChecker] = {}


def body_checker(d: Delimiters) -> BodyChecker:
    """The (compiled once) ``BodyChecker`` for these delimiters."""
    found = _CHECKERS.get(d)
    if found is None:
        found = _CHECKERS[d] = BodyChecker(d)
    return found
