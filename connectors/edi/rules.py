"""Whole-message checks (pure): structure, element formats and EANCOM rules, one entry point.

The checks themselves live by role in ``rules_structure`` (segment order and repeats),
``rules_elements`` (data element formats, dates) and ``rules_eancom`` (EANCOM rules); this
module runs them over a message and holds ``PlainChecker``, the path that checks plain
messages from remembered verdicts without parsing them.
"""

from __future__ import annotations

import re
import sys
from typing import cast

from connectors.edi.codelists import CODED_ELEMENTS
from connectors.edi.directory_model import MessageStructure
from connectors.edi.errors import Issue
from connectors.edi.rules_body import BodyChecker, body_checker
from connectors.edi.rules_eancom import (
    EANCOM_SEGMENT_TAGS,
    FACT_TAGS,
    check_codes,
    check_eancom,
    eancom_segment,
)
from connectors.edi.rules_elements import (
    check_date,
    check_dtm,
    check_numeric,
    check_repetitions,
    check_segment,
    check_value,
    fast_patterns,
    parse_repr,
)
from connectors.edi.rules_facts import (
    DTM137,
    LIN,
    NAD_BY,
    NAD_SU,
    QTY21,
    UNS,
    Verdict,
    fact_patterns,
)
from connectors.edi.rules_structure import (
    StructureAutomaton,
    StructureWalker,
    automaton_for,
    structure_for,
)
from connectors.edi.tokenizer import Delimiters, Message, Segment, segment_from_text
from connectors.edi.tokenizer_events import MessageRun
from connectors.edi.tokenizer_segments import split_released

__all__ = [
    "PlainChecker",
    "StructureAutomaton",
    "StructureWalker",
    "automaton_for",
    "check_date",
    "check_eancom",
    "check_message",
    "check_numeric",
    "check_segment",
    "check_value",
    "eancom_segment",
    "fast_patterns",
    "parse_repr",
    "structure_for",
]

_DTM137, _NAD_BY, _NAD_SU, _LIN, _QTY21, _UNS = DTM137, NAD_BY, NAD_SU, LIN, QTY21, UNS


class PlainChecker:
    """``check_message`` for plain messages (``Message.plain_texts``) without parsing them.

    Each distinct segment text is checked once, exactly like the detailed path does it
    (element formats, DTM dates, the one-segment EANCOM rules, as if the message were an
    EANCOM ORDERS, the strictest case); a clean text is remembered with its tag and what
    the message-level rules need from it. A message whose every text is clean, whose tags
    walk the memoised structure table and which meets the message-level EANCOM rules has
    no finding; any other message is checked segment by segment as before. Remembered texts
    are bounded (``MAX_TEXTS``; the memory is dropped and refilled when full).
    """

    MAX_TEXTS = 20_000
    MAX_SEQUENCES = 10_000

    def __init__(self, delimiters: Delimiters) -> None:
        self.delimiters = delimiters
        # compiled on first use: most files never need them (the body regex says clean)
        self._fast: dict[str, re.Pattern[str]] | None = None
        self._facts: dict[str, tuple[re.Pattern[str], Verdict]] | None = None
        self.bodies: dict[str, BodyChecker] = {}  # message type -> its checker
        # message type -> structure key (``sequence`` or shape and items) -> verdict
        self.body_sequences: dict[str, dict[object, bool]] = {}
        self.known: dict[str, tuple[str, int] | bool] = {}  # False: the text has a finding
        self.sequences: dict[str, dict[tuple[tuple[str, int], ...], bool]] = {}

    @property
    def fast(self) -> dict[str, re.Pattern[str]]:
        """``fast_patterns`` of these delimiters."""
        if self._fast is None:
            self._fast = fast_patterns(self.delimiters)
        return self._fast

    @property
    def facts(self) -> dict[str, tuple[re.Pattern[str], Verdict]]:
        """``fact_patterns`` of these delimiters."""
        if self._facts is None:
            self._facts = fact_patterns(self.delimiters)
        return self._facts

    def classify(self, text: str) -> tuple[str, int] | bool:
        """(tag, kind) for a clean segment text, False when the text has a finding."""
        d = self.delimiters
        tag = text.split(d.element, 1)[0]
        pattern = self.fast.get(tag)
        info: tuple[str, int] | bool
        if tag not in FACT_TAGS:
            if pattern is not None and pattern.fullmatch(text):
                info = (sys.intern(tag), 0)  # the common case: no parsing
                self._remember(text, info)
                return info
        else:
            shape = self.facts.get(tag)
            m = shape[0].fullmatch(text) if shape is not None else None
            if m is not None and shape is not None:
                kind = shape[1](m)
                if kind is not None:  # the usual shape, judged from its values
                    info = (sys.intern(tag), kind)
                    self._remember(text, info)
                    return info
        if d.release in text:
            seg = Segment.of(*split_released(text, d))
        else:
            seg = segment_from_text(text, d.element, d.component)
        out: list[Issue] = []
        if pattern is not None:
            if pattern.fullmatch(text) is None:
                check_segment(seg, 0, d.decimal, out)
            if tag == "DTM":
                check_dtm(seg, 0, out)
        if tag in EANCOM_SEGMENT_TAGS:
            eancom_segment(seg, 0, True, out)
        if tag in CODED_ELEMENTS:
            check_codes(seg, 0, "ORDERS", out)
        info = False
        if not out:
            kind = 0
            if tag == "DTM":
                kind = _DTM137 if seg.element(1) == "137" else 0
            elif tag == "NAD":
                qualifier = seg.element(1)
                kind = _NAD_BY if qualifier == "BY" else _NAD_SU if qualifier == "SU" else 0
            elif tag == "LIN":
                kind = _LIN
            elif tag == "QTY":
                kind = _QTY21 if seg.element(1) == "21" else 0
            elif tag == "UNS":
                kind = _UNS
            info = (sys.intern(tag), kind)
        self._remember(text, info)
        return info

    def _remember(self, text: str, info: tuple[str, int] | bool) -> None:
        known = self.known
        if len(known) >= self.MAX_TEXTS:
            known.clear()
        known[text] = info

    def clean_body(
        self,
        body: str,
        structure: MessageStructure,
        mtype: str,
        run: MessageRun | None = None,
        shape: bytes | None = None,
    ) -> bool:
        """True when ``check_message`` would find nothing in this plain body (see
        ``rules_body``); False: not known, check the segments. ``run`` and ``shape``: the
        message's ``MessageRun`` (values are then checked for the whole run at once) and
        tag sequence (``Message.shape``: the structure key needs only the qualifiers)."""
        checker = self.bodies.get(mtype)
        if checker is None:
            if len(self.bodies) >= 1000:
                self.bodies.clear()
            checker = self.bodies[mtype] = body_checker(self.delimiters, mtype.split(":", 1)[0])
        if checker.segments.fullmatch(body) is None:
            return False
        body = self.delimiters.terminator + body
        if not (run is not None and checker.run_values_ok(run)) and not checker.values_ok(body):
            return False
        sequences = self.body_sequences.get(mtype)
        if sequences is None:
            if len(self.body_sequences) >= 1000:
                self.body_sequences.clear()
            sequences = self.body_sequences.setdefault(mtype, {})
        infos: list[tuple[str, int]] | None
        if shape is not None:
            items = checker.shape_items(body)
            key: object = (shape, "".join(items))
            ok = sequences.get(key)
            if ok is not None:
                return ok
            infos = checker.shape_infos(shape, items)
        else:
            if self.delimiters.release + self.delimiters.terminator in body:
                # a released terminator may be followed by what reads as a segment the rules
                # count (FTX+AAA++X?'NAD+BY+EN): the tag search would take it for one
                return False
            key = checker.sequence(body)
            ok = sequences.get(key)
            if ok is not None:
                return ok
            infos = checker.infos(body)
        orders = mtype.startswith("ORDERS:") and _association(mtype).startswith("EAN")
        ok = infos is not None and _walk(infos, automaton_for(structure), orders)
        if len(sequences) >= self.MAX_SEQUENCES:
            sequences.clear()
        sequences[key] = ok
        return ok

    def clean(self, texts: list[str], structure: MessageStructure, mtype: str) -> bool:
        """True when ``check_message`` would find nothing in this plain message."""
        known = self.known
        infos = list(map(known.get, texts))
        if None in infos:
            classify = self.classify
            for i, info in enumerate(infos):
                if info is None:
                    infos[i] = classify(texts[i])
        if False in infos:
            return False
        # every text is classified (no None) and clean (no False): a (tag, kind) sequence
        clean = cast("list[tuple[str, int]]", infos)
        # what is left depends only on the (tag, kind) sequence: remember its verdict
        sequences = self.sequences.get(mtype)
        if sequences is None:
            if len(self.sequences) >= 1000:
                self.sequences.clear()
            sequences = self.sequences.setdefault(mtype, {})
        key = tuple(clean)
        ok = sequences.get(key)
        if ok is None:
            orders = mtype.startswith("ORDERS:") and _association(mtype).startswith("EAN")
            ok = _walk(clean, automaton_for(structure), orders)
            if len(sequences) >= self.MAX_SEQUENCES:
                sequences.clear()
            sequences[key] = ok
        return ok


def _walk(infos: list[tuple[str, int]], automaton: StructureAutomaton, orders: bool) -> bool:
    """The structure table and the message-level EANCOM rules over clean segments."""
    trans = automaton.trans
    state = 0
    has_137 = has_by = has_su = in_lines = False
    lines = 0
    qty21 = True  # no open line, or the open line has its QTY+21
    for tag, kind in infos:
        nxt = trans[state].get(tag)
        if nxt is None:
            nxt = automaton.step(state, tag)
        if nxt < 0:
            return False
        state = nxt
        if kind:
            if kind == _LIN:
                if not qty21 and orders:
                    return False
                in_lines = True
                lines += 1
                qty21 = False
            elif kind == _QTY21:
                qty21 = True
            elif kind == _UNS:
                if not qty21 and orders:
                    return False
                qty21 = True
                in_lines = False
            elif not in_lines:
                if kind == _DTM137:
                    has_137 = True
                elif kind == _NAD_BY:
                    has_by = True
                elif kind == _NAD_SU:
                    has_su = True
    if not automaton.accepts(state):
        return False
    return not orders or bool(qty21 and has_137 and has_by and has_su and lines)


def _association(mtype: str) -> str:
    return mtype.split(":")[4] if mtype.count(":") >= 4 else ""


def check_message(
    msg: Message,
    delimiters: Delimiters,
    mtype: str | None = None,
    plain: PlainChecker | None = None,
    *,
    lenient: bool = False,
) -> list[Issue]:
    """Structure, element formats and (for EANCOM) business rules of one message.

    ``mtype``: ``msg.type`` when the caller has it already; ``plain``: a ``PlainChecker``
    for these delimiters (one per file) to check plain messages from remembered verdicts;
    ``lenient``: the deviations the lenient strictness accepts come back as warnings.
    """
    if mtype is None:
        mtype = msg.type
    structure = structure_for(mtype)
    if structure is None:
        return []
    rep = msg.repetition
    if rep and plain is not None:
        body = msg.plain_body()
        texts = msg.plain_texts() if body is None else [body]
        if texts is None or any(rep in t for t in texts):
            plain = None  # repeated data elements: each repetition is checked in detail below
    if plain is not None:
        body = msg.plain_body()
        if body is not None and plain.clean_body(body, structure, mtype, msg.run, msg.shape):
            return []
        texts = msg.plain_texts()
        if texts is not None and plain.clean(texts, structure, mtype):
            return []
    issues: list[Issue] = []
    decimal = delimiters.decimal
    walker = StructureWalker(structure.level, mtype)
    feed = walker.feed
    fast = fast_patterns(delimiters)
    for i, seg in enumerate(msg.segments):
        position = i + 2
        tag = seg.tag
        feed(tag, position)
        pattern = fast.get(tag)
        if pattern is not None:
            text = seg.text
            if text is None or pattern.fullmatch(text) is None:
                check_segment(seg, position, decimal, issues)
            if seg.repeats:
                check_repetitions(seg, position, decimal, issues)
            if tag == "DTM":
                check_dtm(seg, position, issues)
    issues.extend(walker.finish(msg.segment_count + 2))
    if _association(mtype).startswith("EAN"):
        issues.extend(check_eancom(msg, mtype, lenient=lenient))
    return issues
