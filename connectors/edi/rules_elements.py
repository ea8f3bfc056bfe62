"""Data element checks: representations (an..35, n..15), formats, mandatory elements, dates."""

from __future__ import annotations

import re
from datetime import date, datetime

from connectors.edi.directory import DATE_FORMATS, SEGMENTS
from connectors.edi.directory_model import Composite, Simple
from connectors.edi.errors import Issue, SyntaxCode, echo, issue_at
from connectors.edi.tokenizer_segments import Delimiters, Segment

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
                    f"{echo(value)} uses the wrong decimal mark: this interchange's decimal mark "
                    f"is {decimal!r} (UNA)"
                )
            if code == SyntaxCode.MISSING_DIGIT_BEFORE_DECIMAL:
                return code, f"{echo(value)} needs a digit before the decimal mark"
            return code, f"{echo(value)} is not numeric ({spec.id} is {spec.repr})"
        length = _digits(value)
    else:
        if kind == "a" and any(c.isdigit() for c in value):
            return SyntaxCode.INVALID_CHARACTER_TYPE, (
                f"{echo(value)} holds digits but {spec.id} is alphabetic ({spec.repr})"
            )
        length = len(value)
    if length > hi:
        return SyntaxCode.DATA_ELEMENT_TOO_LONG, (
            f"{echo(value)} is {length} characters long, {spec.id} allows {hi} ({spec.repr})"
        )
    if length < lo:
        return SyntaxCode.DATA_ELEMENT_TOO_SHORT, (
            f"{echo(value)} is {length} characters long, {spec.id} needs {lo} ({spec.repr})"
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
_FAST: dict[tuple[str, ...], dict[str, re.Pattern[str]]] = {}
_SOURCES: dict[tuple[str, ...], dict[str, str]] = {}


def _value_pattern(kind: str, lo: int, hi: int, mandatory: bool, d: Delimiters) -> str:
    # one character of the value: a plain one, or a released one (release + any character)
    rel = re.escape(d.release)
    specials = d.element + d.component + d.release + d.terminator
    free = "(?:[^" + re.escape(specials) + f"]|{rel}.)"
    if kind == "n":
        mark = re.escape(d.decimal)
        # an integer is all the digits there are (taken at once: possessive, a digit
        # never follows a value) before the decimal form is tried: no digit-by-digit
        # backtracking on 91621.09
        body = (
            f"-?(?:[0-9]{{{max(lo, 1)},{hi}}}+(?![0-9])|"
            f"(?=[0-9{mark}]{{3,{hi + 1}}}(?![0-9{mark}]))[0-9]+{mark}[0-9]+)"
        )
    elif kind == "a":
        alpha = "[^" + re.escape(specials) + f"0-9]|{rel}[^0-9]"
        body = f"(?:{alpha}){{{max(lo, 1)},{hi}}}"
    else:
        body = f"{free}{{{max(lo, 1)},{hi}}}"
        if lo <= 1 and hi >= 20:
            # texts (free text, names, references) are tried first as plain characters,
            # or plain characters around one released one, at most ``hi`` in all (taken
            # at once) before the character-by-character form: the same texts accepted
            # (the released character is ``.`` as in ``free``: never a newline)
            plain = "[^" + re.escape(specials) + "]"
            half = (hi - 1) // 2
            body = (
                f"(?:{plain}{{1,{hi}}}+(?!{rel})|"
                f"{plain}{{0,{half}}}+{rel}.{plain}{{0,{half}}}+(?!{rel})|{body})"
            )
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


def fast_sources(d: Delimiters) -> dict[str, str]:
    """Per segment tag, the source of a regex accepting only segments that pass every
    element check (``fast_patterns`` compiles them; ``rules_body`` embeds them)."""
    key = (d.element, d.component, d.decimal, d.release, d.terminator)
    cached = _SOURCES.get(key)
    if cached is not None:
        return cached
    sources: dict[str, str] = {}
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
        sources[tag] = re.escape(tag) + _nest([""] + elements, d.element, required + 1)
    _SOURCES[key] = sources
    return sources


def fast_patterns(d: Delimiters) -> dict[str, re.Pattern[str]]:
    """Per segment tag, a regex accepting only segments that pass every element check.

    Valid segments (the vast majority) are then checked at C speed; a segment the regex
    refuses goes through the detailed checker, which names what is wrong.
    """
    key = (d.element, d.component, d.decimal, d.release, d.terminator)
    cached = _FAST.get(key)
    if cached is None:
        cached = _FAST[key] = {tag: re.compile(p) for tag, p in fast_sources(d).items()}
    return cached


def check_segment(seg: Segment, position: int, decimal: str, out: list[Issue]) -> None:
    """Element count, mandatory elements, formats for segments listed in ``SEGMENTS``."""
    compiled = _COMPILED.get(seg.tag)
    if compiled is None:
        return
    elements = seg.elements
    count = len(elements)
    if count > len(compiled):
        out.append(
            issue_at(
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
                    issue_at(
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
                issue_at(
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


def check_repetitions(seg: Segment, position: int, decimal: str, out: list[Issue]) -> None:
    """Syntax 4: every repetition of a repeated data element after the first (which is in
    ``seg.elements`` and checked with it) against the element's layout."""
    for index, repetitions in (seg.repeats or {}).items():
        for value in repetitions[1:]:
            elements = list(seg.elements)
            elements[index] = value
            found: list[Issue] = []
            check_segment(Segment.of(seg.tag, elements), position, decimal, found)
            out.extend(i for i in found if i.element_position == index + 1)


def _missing_element(
    tag: str, position: int, element: int, component: int | None, sid: str, out: list[Issue]
) -> None:
    where = f"element {element}" if component is None else f"element {element}.{component}"
    out.append(
        issue_at(
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
        out.append(
            issue_at(bad[0], position, tag, f"{tag} {spec.id}: {bad[1]}", element, component)
        )


def check_date(value: str, fmt: str) -> bool:
    """True when ``value`` is a real date/time in 2379 format ``fmt`` (unknown formats: True)."""
    shape = DATE_FORMATS.get(fmt)
    if shape is None:
        return True
    if fmt in _PERIODS:
        part, size = _PERIODS[fmt]
        if len(value) == 2 * size + 1 and value[size] == "-":
            return check_date(value[:size], part) and check_date(value[size + 1 :], part)
        return len(value) == 2 * size and (
            check_date(value[:size], part) and check_date(value[size:], part)
        )
    if len(value) != len(shape) or not value.isdigit():
        return False
    try:
        if fmt == "101":
            datetime.strptime(value, "%y%m%d")
        elif fmt == "102":
            date(int(value[0:4]), int(value[4:6]), int(value[6:8]))
        elif fmt in _CLOCKS:
            year = int(value[:2]) + 2000 if fmt == "201" else int(value[:4])
            at = 6 if fmt == "201" else 8
            month, day = int(value[at - 4 : at - 2]), int(value[at - 2 : at])
            date(year, month, day)
            hour, minute = int(value[at : at + 2]), int(value[at + 2 : at + 4])
            second = int(value[at + 4 :] or "0")
            return hour < 24 and minute < 60 and second < 60
        elif fmt == "610":
            return 1 <= int(value[4:]) <= 12
        elif fmt == "616":
            # ISO 8601 week: 1..52, or 53 in a year that has one
            return date.fromisocalendar(int(value[:4]), int(value[4:]), 1) is not None
    except ValueError:
        return False
    return True


_CLOCKS = frozenset({"201", "203", "204"})
# period formats: the format of each half and its length
_PERIODS = {"718": ("102", 8), "719": ("203", 12)}


def check_dtm(seg: Segment, position: int, out: list[Issue]) -> None:
    value = seg.element(1, 2)
    fmt = seg.element(1, 3)
    if not value:
        return
    if not fmt:
        out.append(
            issue_at(
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
            issue_at(
                SyntaxCode.VALUE_NOT_SUPPORTED_HERE,
                position,
                "DTM",
                f"date format {echo(fmt)} is not supported: use one of "
                f"{', '.join(sorted(DATE_FORMATS))}",
                1,
                3,
            )
        )
        return
    if not check_date(value, fmt):
        out.append(
            issue_at(
                SyntaxCode.INVALID_VALUE,
                position,
                "DTM",
                f"DTM+{seg.element(1)} value {echo(value)} is not a valid {DATE_FORMATS[fmt]} "
                f"date (format {fmt})",
                1,
                2,
            )
        )
