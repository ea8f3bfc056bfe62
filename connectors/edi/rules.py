"""Message checks (pure): segment order and repeats, data element formats, EANCOM rules."""

from __future__ import annotations

import re
import sys
import threading
from datetime import date, datetime
from functools import lru_cache
from typing import Any, cast

from stdnum import ean

from connectors.edi.directory import (
    AGENCY_GS1,
    DATE_FORMATS,
    GLN_PARTIES,
    GTIN_ITEM_TYPES,
    SEGMENTS,
    Composite,
    Level,
    MessageStructure,
    Simple,
    structure_for,
)
from connectors.edi.errors import Issue, SyntaxCode
from connectors.edi.errors import Level as IssueLevel
from connectors.edi.tokenizer import Delimiters, Message, Segment, segment_from_text

try:  # pycountry ships ISO 4217; fall back to a shape check if its data is missing
    import pycountry

    _CURRENCIES: frozenset[str] | None = frozenset(c.alpha_3 for c in pycountry.currencies)
except Exception:  # pragma: no cover - depends on the installed data
    _CURRENCIES = None


def _issue(
    code: int,
    position: int,
    tag: str,
    text: str,
    element: int | None = None,
    component: int | None = None,
    level: IssueLevel | None = None,
) -> Issue:
    lvl: IssueLevel = level or ("element" if element is not None else "segment")
    return Issue(code, lvl, text, position, tag, element, component)


# ---------------------------------------------------------------------------------------
# structure


class StructureWalker:
    """Checks segment order, mandatory segments and repeat limits against a ``Level`` tree.

    Fed one segment tag at a time (message positions, UNH = 1); unknown or misplaced
    segments are reported (15) and skipped without disturbing the state.
    """

    __slots__ = ("frames", "issues", "name")

    def __init__(self, root: Level, name: str) -> None:
        # frame: [level, current entry index (-1 = none yet), repeat count of that entry]
        self.frames: list[list[Any]] = [[root, -1, 0]]
        self.issues: list[Issue] = []
        self.name = name

    def feed(self, tag: str, position: int) -> None:
        frames = self.frames
        depth = len(frames) - 1
        while depth >= 0:
            frame = frames[depth]
            level, pos, count = frame
            candidates = level.index.get(tag)
            if candidates is not None:
                target = -1
                for idx in candidates:
                    if idx == pos:
                        if count < level.entries[idx].max:
                            target = idx
                            break
                    elif idx > pos:
                        target = idx
                        break
                if target == -1 and pos in candidates:
                    target = pos  # over the limit: report, keep going
                if target != -1:
                    while len(frames) - 1 > depth:
                        self._close(frames.pop(), position)
                    self._move(frame, target, position)
                    return
            depth -= 1
        self.issues.append(
            _issue(
                SyntaxCode.NOT_SUPPORTED_HERE,
                position,
                tag,
                f"segment {tag} is not allowed at this position in {self.name}: "
                f"check the segment order (or a wrong tag) against the message structure",
            )
        )

    def _move(self, frame: list[Any], target: int, position: int) -> None:
        level, pos, count = frame
        entry = level.entries[target]
        if target == pos:
            count += 1
            if count > entry.max:
                code = (
                    SyntaxCode.TOO_MANY_GROUP_REPETITIONS
                    if entry.children
                    else SyntaxCode.TOO_MANY_REPETITIONS
                )
                what = "segment group started by" if entry.children else "segment"
                self.issues.append(
                    _issue(
                        code,
                        position,
                        entry.tag,
                        f"{what} {entry.tag} repeats {count} times here, {self.name} "
                        f"allows at most {entry.max}",
                    )
                )
        else:
            if level.required or (pos >= 0 and count < level.entries[pos].min):
                self._missing(level, pos, count, target, position)
            count = 1
        frame[1] = target
        frame[2] = count
        child = level.children[target]
        if child is not None:
            self.frames.append([child, -1, 0])

    def _missing(self, level: Level, pos: int, count: int, upto: int, position: int) -> None:
        if pos >= 0 and count < level.entries[pos].min:
            e = level.entries[pos]
            self._report_missing(e.tag, position, f"at least {e.min} {e.tag} needed")
        for i in level.required:
            if pos < i < upto:
                e = level.entries[i]
                self._report_missing(e.tag, position, f"mandatory {e.tag} missing")

    def _report_missing(self, tag: str, position: int, text: str) -> None:
        self.issues.append(
            _issue(
                SyntaxCode.MISSING,
                position,
                tag,
                f"{text} before segment {position} in {self.name}: add it in its place",
            )
        )

    def _close(self, frame: list[Any], position: int) -> None:
        level, pos, count = frame
        self._missing(level, pos, count, len(level.entries), position)

    def finish(self, position: int) -> list[Issue]:
        """Close every open level at the UNT (message ``position``)."""
        while self.frames:
            self._close(self.frames.pop(), position)
        return self.issues


class StructureAutomaton:
    """``StructureWalker`` transitions memoised as a table: state number x tag -> state.

    A state is a snapshot of the walker's frames. Only transitions the walker makes without
    a finding are kept (-1 marks one with a finding), so a message that walks the table to a
    state that closes cleanly would get no structure finding from the walker either; any
    other message goes through the walker itself, which names what is wrong. The table is
    bounded (``MAX_STATES``; beyond it, -2: not memoised, ask the walker).
    """

    MAX_STATES = 20_000

    def __init__(self, root: Level) -> None:
        self.root = root
        start: tuple[tuple[Level, int, int], ...] = ((root, -1, 0),)
        self.frames: list[tuple[tuple[Level, int, int], ...]] = [start]
        self.ids: dict[tuple[tuple[int, int, int], ...], int] = {self._key(start): 0}
        self.trans: list[dict[str, int]] = [{}]
        self.closes_cleanly: list[bool | None] = [None]
        self._lock = threading.Lock()

    @staticmethod
    def _key(frames: tuple[tuple[Level, int, int], ...]) -> tuple[tuple[int, int, int], ...]:
        return tuple((id(level), pos, count) for level, pos, count in frames)

    def _walker(self, state: int) -> StructureWalker:
        walker = StructureWalker(self.root, "")
        walker.frames = [list(frame) for frame in self.frames[state]]
        return walker

    def step(self, state: int, tag: str) -> int:
        """The state after ``tag``: -1 when the walker reports something, -2 when unknown."""
        with self._lock:
            walker = self._walker(state)
            walker.feed(tag, 0)
            if walker.issues:
                nxt = -1
            else:
                frames = tuple((f[0], f[1], f[2]) for f in walker.frames)
                key = self._key(frames)
                found = self.ids.get(key)
                if found is None:
                    if len(self.frames) >= self.MAX_STATES:
                        return -2
                    found = len(self.frames)
                    self.frames.append(frames)
                    self.ids[key] = found
                    self.trans.append({})
                    self.closes_cleanly.append(None)
                nxt = found
            self.trans[state][tag] = nxt
            return nxt

    def accepts(self, state: int) -> bool:
        """Whether closing the message (UNT) in ``state`` gives no finding."""
        ok = self.closes_cleanly[state]
        if ok is None:
            with self._lock:
                ok = not self._walker(state).finish(0)
                self.closes_cleanly[state] = ok
        return ok


_AUTOMATA: dict[str, StructureAutomaton] = {}


def automaton_for(structure: MessageStructure) -> StructureAutomaton:
    found = _AUTOMATA.get(structure.key)
    if found is None:
        found = _AUTOMATA.setdefault(structure.key, StructureAutomaton(structure.level))
    return found


# ---------------------------------------------------------------------------------------
# data element formats

_REPR_CACHE: dict[str, tuple[str, int, int]] = {}


def parse_repr(representation: str) -> tuple[str, int, int]:
    """``an..35`` -> ("an", 0, 35); ``n6`` -> ("n", 6, 6); ``a1`` -> ("a", 1, 1)."""
    cached = _REPR_CACHE.get(representation)
    if cached is not None:
        return cached
    kind = representation.rstrip("0123456789.")
    rest = representation[len(kind) :]
    fixed = not rest.startswith("..")
    result = (kind, int(rest), int(rest)) if fixed else (kind, 0, int(rest[2:]))
    _REPR_CACHE[representation] = result
    return result


def check_numeric(value: str, decimal: str) -> tuple[int, int] | None:
    """Numeric value check: None when fine, else (syntax code, digit count)."""
    body = value[1:] if value[:1] == "-" else value
    if body.isdigit():
        return None
    if decimal in body:
        whole, _, frac = body.partition(decimal)
        if (whole == "" or whole.isdigit()) and (frac == "" or frac.isdigit()):
            if whole == "":
                return (SyntaxCode.MISSING_DIGIT_BEFORE_DECIMAL, 0)
            return None
        return (SyntaxCode.INVALID_CHARACTER_TYPE, 0)
    other = "," if decimal == "." else "."
    if other in body and body.replace(other, "", 1).isdigit():
        return (SyntaxCode.INVALID_DECIMAL_NOTATION, 0)
    return (SyntaxCode.INVALID_CHARACTER_TYPE, 0)


def _digits(value: str) -> int:
    return sum(1 for c in value if c.isdigit())


def check_value(value: str, spec: Simple, decimal: str) -> tuple[int, str] | None:
    """One simple element value against its representation: (code, what is wrong) or None."""
    kind, lo, hi = parse_repr(spec.repr)
    if kind == "n":
        bad = check_numeric(value, decimal)
        if bad is not None:
            code = bad[0]
            if code == SyntaxCode.INVALID_DECIMAL_NOTATION:
                return code, (
                    f"{value!r} uses the wrong decimal mark: this interchange's decimal mark "
                    f"is {decimal!r} (UNA)"
                )
            if code == SyntaxCode.MISSING_DIGIT_BEFORE_DECIMAL:
                return code, f"{value!r} needs a digit before the decimal mark"
            return code, f"{value!r} is not numeric ({spec.id} is {spec.repr})"
        length = _digits(value)
    else:
        if kind == "a" and any(c.isdigit() for c in value):
            return SyntaxCode.INVALID_CHARACTER_TYPE, (
                f"{value!r} holds digits but {spec.id} is alphabetic ({spec.repr})"
            )
        length = len(value)
    if length > hi:
        return SyntaxCode.DATA_ELEMENT_TOO_LONG, (
            f"{value[:40]!r} is {length} characters long, {spec.id} allows {hi} ({spec.repr})"
        )
    if length < lo:
        return SyntaxCode.DATA_ELEMENT_TOO_SHORT, (
            f"{value!r} is {length} characters long, {spec.id} needs {lo} ({spec.repr})"
        )
    return None


_CompiledElement = tuple[bool, str, bool, tuple[tuple[str, str, int, int, bool], ...]]
_Compiled = tuple[_CompiledElement, ...]


def _compile(specs: tuple[Simple | Composite, ...]) -> _Compiled:
    out: list[_CompiledElement] = []
    for spec in specs:
        if isinstance(spec, Simple):
            kind, lo, hi = parse_repr(spec.repr)
            out.append((False, spec.id, spec.mandatory, ((spec.id, kind, lo, hi, False),)))
        else:
            parts = tuple((c.id, *parse_repr(c.repr), c.mandatory) for c in spec.components)
            out.append((True, spec.id, spec.mandatory, parts))
    return tuple(out)


_COMPILED: dict[str, _Compiled] = {tag: _compile(specs) for tag, specs in SEGMENTS.items()}
_FAST: dict[tuple[str, str, str], dict[str, re.Pattern[str]]] = {}


def _value_pattern(kind: str, lo: int, hi: int, mandatory: bool, d: Delimiters) -> str:
    free = "[^" + re.escape(d.element + d.component + d.release) + "]"
    if kind == "n":
        mark = re.escape(d.decimal)
        body = (
            f"-?(?:[0-9]{{{max(lo, 1)},{hi}}}|(?=[0-9{mark}]{{3,{hi + 1}}}(?![0-9{mark}]))"
            f"[0-9]+{mark}[0-9]+)"
        )
    elif kind == "a":
        body = "[^" + re.escape(d.element + d.component + d.release) + f"0-9]{{{max(lo, 1)},{hi}}}"
    else:
        body = f"{free}{{{max(lo, 1)},{hi}}}"
    return body if mandatory else f"(?:{body})?"


def _nest(parts: list[str], sep: str, required: int) -> str:
    """``a(?:,b(?:,c)?)?`` with the first ``required`` parts always present."""
    out = ""
    for i in range(len(parts) - 1, -1, -1):
        tail = out
        if i >= required:
            out = f"(?:{re.escape(sep)}{parts[i]}{tail})?" if i else f"{parts[i]}{tail}"
        else:
            out = (re.escape(sep) if i else "") + parts[i] + tail
    return out


def fast_patterns(d: Delimiters) -> dict[str, re.Pattern[str]]:
    """Per segment tag, a regex accepting only segments that pass every element check.

    Valid segments (the vast majority) are then checked at C speed; a segment the regex
    refuses goes through the detailed checker, which names what is wrong.
    """
    key = (d.element, d.component, d.decimal)
    cached = _FAST.get(key)
    if cached is not None:
        return cached
    patterns: dict[str, re.Pattern[str]] = {}
    for tag, specs in SEGMENTS.items():
        elements: list[str] = []
        required = 0
        for i, spec in enumerate(specs):
            if isinstance(spec, Simple):
                kind, lo, hi = parse_repr(spec.repr)
                elements.append(_value_pattern(kind, lo, hi, spec.mandatory, d))
            else:
                comps = [
                    _value_pattern(*parse_repr(c.repr), c.mandatory, d) for c in spec.components
                ]
                creq = max((j + 1 for j, c in enumerate(spec.components) if c.mandatory), default=0)
                body = _nest(comps, d.component, creq)
                elements.append(body if spec.mandatory else f"(?:{body})?")
            if spec.mandatory:
                required = i + 1
        pattern = re.escape(tag) + _nest([""] + elements, d.element, required + 1)
        patterns[tag] = re.compile(pattern)
    _FAST[key] = patterns
    return patterns


def check_segment(seg: Segment, position: int, decimal: str, out: list[Issue]) -> None:
    """Element count, mandatory elements, formats for segments listed in ``SEGMENTS``."""
    compiled = _COMPILED.get(seg.tag)
    if compiled is None:
        return
    elements = seg.elements
    count = len(elements)
    if count > len(compiled):
        out.append(
            _issue(
                SyntaxCode.TOO_MANY_CONSTITUENTS,
                position,
                seg.tag,
                f"{seg.tag} has {count} data elements, at most {len(compiled)} are defined",
                len(compiled) + 1,
            )
        )
    for i, (is_composite, sid, mandatory, parts) in enumerate(compiled):
        value = elements[i] if i < count else ""
        if not is_composite:
            if isinstance(value, str):
                if not value:
                    if mandatory:
                        _missing_element(seg.tag, position, i + 1, None, sid, out)
                    continue
                _, kind, lo, hi, _ = parts[0]
                if kind == "an" and lo <= len(value) <= hi:
                    continue
                spec = SEGMENTS[seg.tag][i]
                assert isinstance(spec, Simple)  # compiled as a simple element
                _check_one(value, spec, seg.tag, position, i + 1, None, decimal, out)
            else:
                out.append(
                    _issue(
                        SyntaxCode.TOO_MANY_CONSTITUENTS,
                        position,
                        seg.tag,
                        f"{seg.tag} element {i + 1} ({sid}) is a simple element but holds "
                        f"{len(value)} components: remove the component separators",
                        i + 1,
                    )
                )
            continue
        if isinstance(value, str):
            if not value:
                if mandatory:
                    _missing_element(seg.tag, position, i + 1, None, sid, out)
                continue
            comps: list[str] = [value]
        else:
            comps = value
        if len(comps) > len(parts):
            out.append(
                _issue(
                    SyntaxCode.TOO_MANY_CONSTITUENTS,
                    position,
                    seg.tag,
                    f"{seg.tag} {sid} has {len(comps)} components, at most {len(parts)} "
                    "are defined",
                    i + 1,
                    len(parts) + 1,
                )
            )
        for j, (cid, kind, lo, hi, cmandatory) in enumerate(parts):
            v = comps[j] if j < len(comps) else ""
            if not v:
                if cmandatory:
                    _missing_element(seg.tag, position, i + 1, j + 1, cid, out)
                continue
            if kind == "an":
                if lo <= len(v) <= hi:
                    continue
            elif kind == "n" and v.isdigit() and lo <= len(v) <= hi:
                continue
            spec = SEGMENTS[seg.tag][i]
            assert isinstance(spec, Composite)
            _check_one(v, spec.components[j], seg.tag, position, i + 1, j + 1, decimal, out)


def _missing_element(
    tag: str, position: int, element: int, component: int | None, sid: str, out: list[Issue]
) -> None:
    where = f"element {element}" if component is None else f"element {element}.{component}"
    out.append(
        _issue(
            SyntaxCode.MISSING,
            position,
            tag,
            f"{tag} {where} ({sid}) is mandatory: fill it in",
            element,
            component,
        )
    )


def _check_one(
    value: str,
    spec: Simple,
    tag: str,
    position: int,
    element: int,
    component: int | None,
    decimal: str,
    out: list[Issue],
) -> None:
    bad = check_value(value, spec, decimal)
    if bad is not None:
        out.append(_issue(bad[0], position, tag, f"{tag} {spec.id}: {bad[1]}", element, component))


def check_date(value: str, fmt: str) -> bool:
    """True when ``value`` is a real date/time in 2379 format ``fmt`` (unknown formats: True)."""
    shape = DATE_FORMATS.get(fmt)
    if shape is None:
        return True
    if len(value) != len(shape):
        return False
    try:
        if fmt == "101":
            datetime.strptime(value, "%y%m%d")
        elif fmt == "102":
            date(int(value[0:4]), int(value[4:6]), int(value[6:8]))
        elif fmt == "203":
            datetime.strptime(value, "%Y%m%d%H%M")
        elif fmt == "204":
            datetime.strptime(value, "%Y%m%d%H%M%S")
        elif fmt == "718":
            a, sep, b = value.partition("-")
            return bool(sep) and check_date(a, "102") and check_date(b, "102")
    except ValueError:
        return False
    return value.isdigit() or fmt == "718"


def _check_dtm(seg: Segment, position: int, out: list[Issue]) -> None:
    value = seg.element(1, 2)
    fmt = seg.element(1, 3)
    if not value:
        return
    if not fmt:
        out.append(
            _issue(
                SyntaxCode.MISSING,
                position,
                "DTM",
                f"DTM+{seg.element(1)} has a date but no format qualifier (2379): add e.g. "
                "102 (CCYYMMDD) or 203 (CCYYMMDDHHMM)",
                1,
                3,
            )
        )
        return
    if fmt not in DATE_FORMATS:
        out.append(
            _issue(
                SyntaxCode.VALUE_NOT_SUPPORTED_HERE,
                position,
                "DTM",
                f"date format {fmt!r} is not supported: use one of "
                f"{', '.join(sorted(DATE_FORMATS))}",
                1,
                3,
            )
        )
        return
    if not check_date(value, fmt):
        out.append(
            _issue(
                SyntaxCode.INVALID_VALUE,
                position,
                "DTM",
                f"DTM+{seg.element(1)} value {value!r} is not a valid {DATE_FORMATS[fmt]} "
                f"date (format {fmt})",
                1,
                2,
            )
        )


# ---------------------------------------------------------------------------------------
# whole message


# kinds of plain segments the EANCOM message rules count (0: none)
_DTM137, _NAD_BY, _NAD_SU, _LIN, _QTY21, _UNS = 1, 2, 3, 4, 5, 6


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

    MAX_TEXTS = 50_000
    MAX_SEQUENCES = 10_000

    def __init__(self, delimiters: Delimiters) -> None:
        self.delimiters = delimiters
        self.fast = fast_patterns(delimiters)
        self.known: dict[str, tuple[str, int] | bool] = {}  # False: the text has a finding
        self.sequences: dict[str, dict[tuple[tuple[str, int], ...], bool]] = {}

    def classify(self, text: str) -> tuple[str, int] | bool:
        """(tag, kind) for a clean segment text, False when the text has a finding."""
        d = self.delimiters
        tag = text.split(d.element, 1)[0]
        pattern = self.fast.get(tag)
        if tag not in _FACT_TAGS and pattern is not None and pattern.fullmatch(text):
            info: tuple[str, int] | bool = (sys.intern(tag), 0)  # the common case: no parsing
            self._remember(text, info)
            return info
        seg = segment_from_text(text, d.element, d.component)
        out: list[Issue] = []
        if pattern is not None:
            if pattern.fullmatch(text) is None:
                check_segment(seg, 0, d.decimal, out)
            if tag == "DTM":
                _check_dtm(seg, 0, out)
        if tag in _EANCOM_SEGMENT_TAGS:
            eancom_segment(seg, 0, True, out)
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
) -> list[Issue]:
    """Structure, element formats and (for EANCOM) business rules of one message.

    ``mtype``: ``msg.type`` when the caller has it already; ``plain``: a ``PlainChecker``
    for these delimiters (one per file) to check plain messages from remembered verdicts.
    """
    if mtype is None:
        mtype = msg.type
    structure = structure_for(mtype)
    if structure is None:
        return []
    if plain is not None:
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
            if tag == "DTM":
                _check_dtm(seg, position, issues)
    issues.extend(walker.finish(msg.segment_count + 2))
    if _association(mtype).startswith("EAN"):
        issues.extend(check_eancom(msg, mtype))
    return issues


@lru_cache(maxsize=65536)
def _gtin_ok(value: str) -> bool:
    return value.isdigit() and len(value) in (8, 12, 13, 14) and ean.is_valid(value)


@lru_cache(maxsize=65536)
def _gln_ok(value: str) -> bool:
    return value.isdigit() and len(value) == 13 and ean.is_valid(value)


def eancom_segment(seg: Segment, position: int, is_orders: bool, issues: list[Issue]) -> None:
    """The EANCOM rules that look at one segment alone (BGM, NAD, LIN, CUX)."""
    tag = seg.tag
    if tag == "BGM":
        if not seg.element(2):
            issues.append(
                _issue(
                    SyntaxCode.MISSING,
                    position,
                    "BGM",
                    "BGM document number (1004) is missing: the partner's order number "
                    "goes in BGM element 2",
                    2,
                )
            )
    elif tag == "NAD":
        qualifier = seg.element(1)
        party_id = seg.element(2)
        agency = seg.element(2, 3)
        if party_id and agency == AGENCY_GS1:
            if not _gln_ok(party_id):
                issues.append(
                    _issue(
                        SyntaxCode.INVALID_VALUE,
                        position,
                        "NAD",
                        f"NAD+{qualifier} party id {party_id!r} is not a valid GLN "
                        "(13 digits with a GS1 check digit)",
                        2,
                        1,
                    )
                )
        elif qualifier in GLN_PARTIES and party_id:
            issues.append(
                _issue(
                    SyntaxCode.VALUE_NOT_SUPPORTED_HERE,
                    position,
                    "NAD",
                    f"NAD+{qualifier} code list agency {agency or '(none)'!r} is not "
                    "supported: identify the party by GLN with agency 9",
                    2,
                    3,
                )
            )
    elif tag == "LIN":
        item = seg.element(3)
        item_type = seg.element(3, 2)
        if not item:
            if is_orders:
                issues.append(
                    _issue(
                        SyntaxCode.MISSING,
                        position,
                        "LIN",
                        f"LIN {seg.element(1) or ''} has no GTIN in C212: put the item's "
                        "GTIN in LIN element 3 with type EN (e.g. LIN+1++4000862141404:EN)",
                        3,
                        1,
                    )
                )
        elif item_type in GTIN_ITEM_TYPES:
            if not _gtin_ok(item):
                issues.append(
                    _issue(
                        SyntaxCode.INVALID_VALUE,
                        position,
                        "LIN",
                        f"LIN GTIN {item!r} is not valid (8/12/13/14 digits with a GS1 "
                        "check digit)",
                        3,
                        1,
                    )
                )
        elif is_orders:
            issues.append(
                _issue(
                    SyntaxCode.VALUE_NOT_SUPPORTED_HERE,
                    position,
                    "LIN",
                    f"LIN item number type {item_type or '(none)'!r} is not supported: "
                    "use EN (GTIN)",
                    3,
                    2,
                )
            )
    elif tag == "CUX":
        currency = seg.element(1, 2)
        if currency and not (
            len(currency) == 3
            and currency.isupper()
            and (_CURRENCIES is None or currency in _CURRENCIES)
        ):
            issues.append(
                _issue(
                    SyntaxCode.INVALID_VALUE,
                    position,
                    "CUX",
                    f"currency {currency!r} is not an ISO 4217 code (e.g. EUR)",
                    1,
                    2,
                )
            )


_EANCOM_SEGMENT_TAGS = frozenset({"BGM", "NAD", "LIN", "CUX"})
# tags whose values the plain checks read beyond the element formats
_FACT_TAGS = _EANCOM_SEGMENT_TAGS | {"DTM", "QTY", "UNS"}


def check_eancom(msg: Message, mtype: str) -> list[Issue]:
    """EANCOM rules the hub relies on (ORDERS: order number, dates, parties, GTIN lines)."""
    issues: list[Issue] = []
    is_orders = mtype.startswith("ORDERS:")
    header_dtm: set[str] = set()
    parties: set[str] = set()
    lines = 0
    line_start: tuple[int, str] | None = None
    line_has_qty21 = True
    in_lines = False
    last = msg.segment_count + 2

    def close_line(at: int) -> None:
        if line_start is not None and not line_has_qty21 and is_orders:
            issues.append(
                _issue(
                    SyntaxCode.MISSING,
                    line_start[0],
                    "QTY",
                    f"order line {line_start[1] or '?'} (LIN at segment {line_start[0]}) has "
                    "no ordered quantity QTY+21: add QTY+21:<quantity>",
                    level="message",
                )
            )

    for i, seg in enumerate(msg.segments):
        position = i + 2
        tag = seg.tag
        if tag == "BGM" or tag == "CUX":
            eancom_segment(seg, position, is_orders, issues)
        elif tag == "DTM" and not in_lines:
            header_dtm.add(seg.element(1))
        elif tag == "NAD":
            if not in_lines:
                parties.add(seg.element(1))
            eancom_segment(seg, position, is_orders, issues)
        elif tag == "LIN":
            close_line(position)
            in_lines = True
            lines += 1
            line_start = (position, seg.element(1))
            line_has_qty21 = False
            eancom_segment(seg, position, is_orders, issues)
        elif tag == "QTY":
            if seg.element(1) == "21":
                line_has_qty21 = True
        elif tag == "UNS":
            close_line(position)
            line_start = None
            in_lines = False
    close_line(last)
    if is_orders:
        issues.extend(_orders_missing("137" in header_dtm, parties, lines, last))
    return issues


def _orders_missing(has_137: bool, parties: set[str], lines: int, last: int) -> list[Issue]:
    issues: list[Issue] = []
    if not has_137:
        issues.append(
            _issue(
                SyntaxCode.MISSING,
                last,
                "DTM",
                "the order date DTM+137 is missing in the header: add "
                "DTM+137:<CCYYMMDD>:102 after BGM",
                level="message",
            )
        )
    for qualifier, name in (("BY", "buyer"), ("SU", "supplier")):
        if qualifier not in parties:
            issues.append(
                _issue(
                    SyntaxCode.MISSING,
                    last,
                    "NAD",
                    f"the {name} NAD+{qualifier} is missing: add "
                    f"NAD+{qualifier}+<GLN>::9 in the header",
                    level="message",
                )
            )
    if lines == 0:
        issues.append(
            _issue(
                SyntaxCode.MISSING,
                last,
                "LIN",
                "the order has no lines: add at least one LIN group",
                level="message",
            )
        )
    return issues
