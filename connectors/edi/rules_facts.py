"""Fast verdicts for the common shapes of the segments EANCOM rules read (NAD, LIN, DTM...).

``PlainChecker`` checks each segment text as the detailed path would. For the segments whose
values the rules read (GLNs, GTINs, dates, code lists) that meant parsing every text into a
``Segment`` and several calls per segment; on real-world data, where every message has its
own GLNs, GTINs, quantities and dates, no per-text memory helps. Here each such tag has one
regex for its usual shape (``NAD+BY+<13 digits>::9``); a text it matches is judged from the
captured values alone (code list membership, check digit, real date), with exactly the
detailed path's verdict for that shape. Any other text (another shape, a release character,
a finding) goes the detailed way, which names what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from connectors.edi.codelists import (
    CURRENCIES,
    DATE_QUALIFIERS,
    DOCUMENT_NAMES,
    ITEM_TYPES,
    PARTY_QUALIFIERS,
    QUANTITY_QUALIFIERS,
    REFERENCE_QUALIFIERS,
)
from connectors.edi.codelists import MEASURE_UNITS as UNITS
from connectors.edi.directory import DATE_FORMATS, GTIN_ITEM_TYPES
from connectors.edi.rules_eancom import gln_ok, gtin_ok
from connectors.edi.rules_elements import check_date
from connectors.edi.tokenizer_segments import Delimiters

# kinds of segments the EANCOM message rules count (0: none)
DTM137, NAD_BY, NAD_SU, LIN, QTY21, UNS = 1, 2, 3, 4, 5, 6

Verdict = Callable[[re.Match[str]], int | None]  # the kind, or None: ask the detailed path

_ORDERS_DOCUMENTS = DOCUMENT_NAMES["ORDERS"]


def _nad(m: re.Match[str]) -> int | None:
    qualifier, gln = m.group(1, 2)
    if qualifier not in PARTY_QUALIFIERS or not gln_ok(gln):
        return None
    return NAD_BY if qualifier == "BY" else NAD_SU if qualifier == "SU" else 0


def _lin(m: re.Match[str]) -> int | None:
    return LIN if m.group(2) in GTIN_ITEM_TYPES and gtin_ok(m.group(1)) else None


def _dtm(m: re.Match[str]) -> int | None:
    qualifier, value, fmt = m.group(1, 2, 3)
    if qualifier not in DATE_QUALIFIERS or fmt not in DATE_FORMATS or not check_date(value, fmt):
        return None
    return DTM137 if qualifier == "137" else 0


def _qty(m: re.Match[str]) -> int | None:
    qualifier, unit = m.group(1, 2)
    if qualifier not in QUANTITY_QUALIFIERS or (unit is not None and unit not in UNITS):
        return None
    return QTY21 if qualifier == "21" else 0


def _member(codes: frozenset[str], kind: int = 0) -> Verdict:
    def verdict(m: re.Match[str]) -> int | None:
        return kind if m.group(1) in codes else None

    return verdict


def _cux(m: re.Match[str]) -> int | None:
    return 0 if m.group(1) in CURRENCIES else None


def _plain(m: re.Match[str]) -> int | None:
    return 0


def _uns(m: re.Match[str]) -> int | None:
    return UNS


_CACHE: dict[Delimiters, dict[str, tuple[re.Pattern[str], Verdict]]] = {}


def fact_patterns(d: Delimiters) -> dict[str, tuple[re.Pattern[str], Verdict]]:
    """Per tag, the usual shape's regex and the verdict on its captured values."""
    found = _CACHE.get(d)
    if found is not None:
        return found
    es, cs = re.escape(d.element), re.escape(d.component)
    value = "[^" + re.escape(d.element + d.component + d.release + d.terminator) + "]"
    mark = re.escape(d.decimal)
    shapes: dict[str, tuple[str, Verdict]] = {
        "NAD": (f"NAD{es}([A-Z0-9]{{1,3}}){es}([0-9]{{13}}){cs}{cs}9", _nad),
        "LIN": (f"LIN{es}[0-9]{{1,6}}{es}{es}([0-9]{{8,14}}){cs}(EN|SRV|UP)", _lin),
        "DTM": (f"DTM{es}([0-9]{{1,3}}){cs}([0-9]{{1,35}}){cs}([0-9]{{3}})", _dtm),
        "QTY": (f"QTY{es}([0-9A-Z]{{1,3}}){cs}[0-9]{{1,15}}(?:{cs}([A-Z0-9]{{1,3}}))?", _qty),
        "BGM": (
            f"BGM{es}([0-9A-Z]{{1,3}}){es}{value}{{1,35}}{es}[0-9]{{1,3}}",
            _member(_ORDERS_DOCUMENTS),
        ),
        "CUX": (f"CUX{es}2{cs}([A-Z]{{3}}){cs}9", _cux),
        "RFF": (
            f"RFF{es}([A-Z0-9]{{1,3}}){cs}{value}{{1,35}}",
            _member(REFERENCE_QUALIFIERS),
        ),
        "PIA": (
            f"PIA{es}[A-Z0-9]{{1,3}}{es}{value}{{1,35}}{cs}([A-Z0-9]{{1,3}})",
            _member(ITEM_TYPES),
        ),
        "PRI": (f"PRI{es}[A-Z]{{3}}{cs}[0-9]{{1,12}}(?:{mark}[0-9]{{1,3}})?", _plain),
        "CNT": (f"CNT{es}[0-9]{{1,3}}{cs}[0-9]{{1,15}}", _plain),
        "UNS": (f"UNS{es}[A-Z]", _uns),
    }
    found = {tag: (re.compile(shape), verdict) for tag, (shape, verdict) in shapes.items()}
    _CACHE[d] = found
    return found
