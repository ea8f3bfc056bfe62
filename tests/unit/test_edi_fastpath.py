"""The codec's fast paths give exactly the detailed path's verdicts (property tests).

The whole-message regexes (``rules_body``), the usual-shape verdicts (``rules_facts``), the
hand-written GS1 check digit and the ISO 4217 table are checked against the detailed,
segment-by-segment path, python-stdnum and pycountry, on varied messages like real files
(every message its own GLNs, GTINs, dates, quantities, free text with release characters)
and on mutations of them.
"""

from __future__ import annotations

import random
import re

import pycountry
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from stdnum import ean

from bench import edi_gen
from connectors.edi import tokenizer_scan
from connectors.edi.codelists import CURRENCIES
from connectors.edi.errors import Issue
from connectors.edi.rules import PlainChecker, check_message
from connectors.edi.rules_body import _numbers_ok
from connectors.edi.rules_eancom import gln_ok, gs1_ok, gtin_ok
from connectors.edi.rules_elements import _value_pattern, fast_sources
from connectors.edi.tokenizer import (
    Delimiters,
    EdifactReader,
    InterchangeHeader,
    Message,
    WholeRun,
)
from connectors.edi.tokenizer_events import usual_unt
from connectors.edi.tokenizer_scan import RUN_MESSAGES
from connectors.edi.tokenizer_segments import segment_from_text
from connectors.edi.validation import Validator, trailing_separator, validate
from tests.fixtures.edifact import messages_with_headers
from tests.fixtures.shared import shared_path

UNB = "UNB+UNOC:3+4012345000009:14+4098765000003:14+240115:1030+R1'"


def _gs1(rng: random.Random, digits: int) -> str:
    body = "4" + "".join(rng.choice("0123456789") for _ in range(digits - 2))
    return body + ean.calc_check_digit(body)


def _message(rng: random.Random, n: int) -> str:
    free = rng.choice(["RAMP 4", "A?+B", "C?:D", "E?'F", "G??H", "lower", "X" * 80])
    body = [
        f"BGM+{rng.choice(['220', '220', '380', '22E'])}+PO{rng.randrange(10**6)}+9",
        f"DTM+137:2024{rng.randint(1, 13):02d}{rng.randint(1, 31):02d}:102",
        rng.choice(["DTM+2:202402011200:203", "DTM+35:2002021220020312:718", "DTM+2:200207:616"]),
        f"FTX+ZZZ+++{free}",
        f"RFF+{rng.choice(['CR', 'ON', 'QQQ'])}:R{n}",
        f"NAD+BY+{_gs1(rng, 13)}::9",
        f"NAD+{rng.choice(['SU', 'SU', 'QQ'])}+{_gs1(rng, 13)}::9",
        f"CUX+2:{rng.choice(['EUR', 'EUR', 'XXY'])}:9",
    ]
    for line in range(1, rng.randint(1, 4) + 1):
        gtin = _gs1(rng, rng.choice([8, 13, 14]))
        if rng.random() < 0.1:
            gtin = gtin[:-1] + str((int(gtin[-1]) + 1) % 10)
        body += [
            f"LIN+{line}++{gtin}:EN",
            f"PIA+1+A{rng.randrange(10**4)}:{rng.choice(['SA', 'SA', 'QQ'])}",
            f"QTY+{rng.choice(['21', '21', '21', '59', '999'])}:{rng.randint(1, 99)}"
            + rng.choice(["", ":PCE", ":KGM", ":XXX"]),
            f"PRI+AAA:{rng.randint(1, 99)}.{rng.randint(0, 99):02d}",
        ]
    body += ["UNS+S", f"MOA+86:{rng.randint(1, 999)}.5", "CNT+2:1"]
    segs = [f"UNH+{n}+ORDERS:D:96A:UN:EAN008", *body, f"UNT+{len(body) + 2}+{n}"]
    return "'".join(segs) + "'"


def _mutate(rng: random.Random, text: str) -> str:
    data = list(text)
    for _ in range(rng.randint(0, 2)):
        at = rng.randrange(len(data))
        if rng.random() < 0.5:
            data[at] = rng.choice("+:'?.,0123456789AZ ")
        else:
            del data[at : at + rng.randint(1, 6)]
    return "".join(data)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32), st.sampled_from(["+:'", "*|~"]))
def test_fast_paths_find_exactly_what_the_detailed_path_finds(seed: int, seps: str) -> None:
    rng = random.Random(seed)
    text = UNB + "".join(_mutate(rng, _message(rng, n)) for n in range(1, 6)) + "UNZ+5+R1'"
    if seps != "+:'":
        es, cs, term = seps
        text = f"UNA{cs}{es}.? {term}" + text.translate(str.maketrans("+:'", seps))
    checkers: dict[Delimiters, PlainChecker] = {}
    for msg, header in messages_with_headers(text.encode()):
        d = header.delimiters
        checker = checkers.setdefault(d, PlainChecker(d))
        fast = check_message(msg, d, plain=checker)
        trailing = trailing_separator(msg, d)
        msg.segments  # noqa: B018 - parses the texts: the detailed path from here on
        assert msg.plain_body() is None and (msg.plain_texts() is None or not msg.segment_count)
        assert fast == check_message(msg, d), text
        assert trailing == trailing_separator(msg, d)


@given(st.text("0123456789", min_size=2, max_size=18))
def test_gs1_check_digit_is_stdnums(number: str) -> None:
    assert gs1_ok(number) == (ean.calc_check_digit(number[:-1]) == number[-1])
    assert gtin_ok(number) == (len(number) in (8, 12, 13, 14) and ean.is_valid(number))
    assert gln_ok(number) == (len(number) == 13 and ean.is_valid(number))


@given(st.text("0123456789", min_size=8, max_size=14))
def test_body_check_digits_are_stdnums(number: str) -> None:
    assert _numbers_ok([number]) == (len(number) in (8, 12, 13, 14) and ean.is_valid(number))


def test_currency_table_is_pycountrys() -> None:
    assert frozenset(c.alpha_3 for c in pycountry.currencies) == CURRENCIES


def _interchange(ref: int, seps: str) -> str:
    body = "UNH+1+ORDERS:D:96A:UN:EAN008'BGM+220+PO1+9'UNT+3+1'"
    text = UNB.replace("R1", f"R{ref}") + body + f"UNZ+1+R{ref}'"
    if seps == "+:'":
        return text
    es, cs, term = seps
    return f"UNA{cs}{es}.? {term}" + text.translate(str.maketrans("+:'", seps))


junk_text = st.text(st.sampled_from("#@!xyz019 \r\n\x1a"), min_size=1, max_size=30)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["+:'", "*|~", "+:%"]), junk_text), min_size=1, max_size=5),
    junk_text,
    st.sampled_from([16, 64, 1 << 20]),
)
def test_every_byte_is_in_an_interchange_or_a_reported_junk_span(
    parts: list[tuple[str, str]], lead: str, chunk: int
) -> None:
    """Point 2: concatenated, junk-separated and re-delimited interchanges all come out, and
    whatever is between them is reported with offsets that cover exactly its bytes."""
    pieces = [lead] + [
        p for n, (seps, junk) in enumerate(parts) for p in (_interchange(n, seps), junk)
    ]
    data = "".join(pieces).encode("latin-1")
    events = list(EdifactReader(data, chunk_size=chunk))
    refs = [e.unb.element(5) for e in events if isinstance(e, InterchangeHeader)]
    assert refs == [f"R{n}" for n in range(len(parts))]
    assert sum(isinstance(e, Message) for e in events) == len(parts)
    spans = [e for e in events if type(e).__name__ == "Junk"]
    expected = [j.strip() for j in pieces[0::2] if j.strip()]
    assert [data[s.offset : s.offset + s.length].strip() for s in spans] == [
        j.encode("latin-1") for j in expected
    ]


def _verdicts(
    data: bytes, *, detailed: bool, chunk: int = 1 << 20, runs: bool = False
) -> list[object]:
    """What ``Validator`` says of ``data``: file, interchanges, messages, every finding and
    warning. ``detailed``: every message parsed first (segment by segment, no fast path)
    and the file read in small chunks (the tokenizer's per-segment path); ``runs``: whole
    messages come as ``WholeRun`` texts (what ``validate`` reads)."""
    validator = Validator("f", strictness="standard")
    reader = EdifactReader(data, chunk_size=64 if detailed else chunk, runs=runs)
    for event in reader:
        if detailed and isinstance(event, Message):
            event.segments  # noqa: B018 - parses the texts: the detailed path from here on
        validator.feed(event)
    result = validator.finish()
    return [result.to_dict()] + [
        (m.position, [w.to_dict() for w in m.warnings])
        for ich in result.interchanges
        for m in ich.messages
    ]


def test_fast_paths_give_the_detailed_verdicts_on_varied_files_and_samples() -> None:
    """The generated varied file (``bench/edi_gen.py``), mutations of it and the shared
    real-world samples get the same verdicts, findings and warnings on both paths."""
    varied = edi_gen.interchange(300, seed=21)
    rng = random.Random(21)
    files = [varied, edi_gen.interchange(50, repetitive=True)]
    for _ in range(40):
        files.append(_mutate(rng, varied.decode("latin-1")).encode("latin-1"))
    samples = shared_path("samples", "edifact", what="EDIFACT samples")
    files += [p.read_bytes() for p in sorted(samples.rglob("*")) if p.is_file()]
    for data in files:
        expected = _verdicts(data, detailed=True)
        assert _verdicts(data, detailed=False) == expected
        assert _verdicts(data, detailed=False, runs=True) == expected


def _released_message(n: int, free: str, *, qty: str = "QTY+21:5:PCE") -> str:
    """A valid ORDERS whose free text is ``free`` (release characters in) and whose only
    line has the QTY ``qty``."""
    body = [
        f"BGM+220+PO{n}+9",
        "DTM+137:20240115:102",
        f"FTX+ZZZ+++{free}",
        "NAD+BY+4012345000009::9",
        "NAD+SU+4098765000003::9",
        "LIN+1++4000000000013:EN",
        qty,
        "UNS+S",
        "CNT+2:1",
    ]
    return f"UNH+{n}+ORDERS:D:96A:UN:EAN008'" + "'".join(body) + f"'UNT+{len(body) + 2}+{n}'"


# what a message's body may hold that only a few checks notice: a bad check digit, a day
# that does not exist, a trailing separator, a released terminator followed by what reads
# as a segment the message rules count (a false candidate for a value scan), a wrong tag
_FINDINGS = [
    ("NAD+BY+4012345000009::9", "NAD+BY+4012345000008::9"),
    ("DTM+137:20240115:102", "DTM+137:20240231:102"),
    ("CNT+2:1", "CNT+2:1+"),
    ("FTX+ZZZ+++", "FTX+ZZZ+++A?'QTY+21:3?'"),
    ("QTY+21:5:PCE", "QTY+59:5:PCE"),
    ("LIN+1++", "XYZ+1++"),
]


def test_a_finding_anywhere_in_a_run_of_whole_messages_is_found_as_alone() -> None:
    """Whole messages are checked in runs (``tokenizer_scan.RUN_MESSAGES``: check digits,
    dates and trailing separators once per run): a finding in the first, a middle, the last
    message of a run or next to a run or chunk border gives exactly the findings of the
    detailed path, and the messages around it stay accepted."""
    count = 2 * RUN_MESSAGES + 5
    for before, after in _FINDINGS:
        for k in (0, 1, RUN_MESSAGES - 1, RUN_MESSAGES, RUN_MESSAGES + 1, count - 1):
            messages = [_released_message(n, "RAMP?+4") for n in range(1, count + 1)]
            messages[k] = messages[k].replace(before, after, 1)
            data = (UNB + "".join(messages) + f"UNZ+{count}+R1'").encode()
            expected = _verdicts(data, detailed=True)
            for chunk in (1 << 20, 4096):
                assert _verdicts(data, detailed=False, chunk=chunk) == expected, (after, k)
                runs = _verdicts(data, detailed=False, chunk=chunk, runs=True)
                assert runs == expected, (after, k)
            report = expected[0]
            assert isinstance(report, dict)
            messages_out = report["interchanges"][0]["messages"]
            flagged = [i for i, m in enumerate(messages_out) if m["errors"]]
            assert flagged in ([], [k]), (after, k)


def test_a_segment_hidden_behind_a_released_terminator_never_counts_at_a_chunk_border() -> None:
    """A message read in blocks (it spans a chunk border) has no ``shape``: its tags come
    from a search, which takes ``?'NAD+BY+`` inside an FTX for a segment. The buyer is
    then missing all the same: at every chunk size the fast path rejects it as the
    detailed one does (it was accepted at chunk sizes 221 and 226)."""
    body = [
        "BGM+220+PO1+9",
        "DTM+137:20240115:102",
        "FTX+AAA++X?'NAD+BY+EN",
        "NAD+SU+4098765000003::9",
        "LIN+1++4000000000013:EN",
        "QTY+21:5:PCE",
        "UNS+S",
        "CNT+2:1",
    ]
    message = "UNH+1+ORDERS:D:96A:UN:EAN008'" + "'".join(body) + f"'UNT+{len(body) + 2}+1'"
    data = (UNB + message + "UNZ+1+R1'").encode()
    expected = _verdicts(data, detailed=True)
    assert expected[0]["verdict"] == "rejected"  # type: ignore[index]
    for chunk in range(16, len(data) + 8, 5):
        assert _verdicts(data, detailed=False, chunk=chunk) == expected, chunk
        assert _verdicts(data, detailed=False, chunk=chunk, runs=True) == expected, chunk


def test_runs_of_whole_messages_share_their_values_verdict() -> None:
    """The run path is the one taken on clean files: messages read together share one
    ``MessageRun`` whose value and trailing-separator verdicts are filled once, and each
    message has its tag sequence (``shape``)."""
    data = edi_gen.interchange(RUN_MESSAGES + 3, seed=5)
    validator = Validator("f")
    runs = []
    for event in EdifactReader(data):
        validator.feed(event)
        if isinstance(event, Message):
            assert event.shape is not None and event.shape.startswith(b"BGM+DTM+DTM+FTX+")
            runs.append(event.run)
    assert validator.finish().verdict == "accepted"
    assert runs[0] is runs[RUN_MESSAGES - 1] is not runs[RUN_MESSAGES]
    assert runs[0] is not None and len(runs[0].bodies) == RUN_MESSAGES
    assert list(runs[0].verdicts.values()) == [True, True]


def test_validate_reads_whole_messages_as_runs_of_texts_and_judges_them_alike() -> None:
    """``validate`` reads clean messages as ``WholeRun`` texts (no ``Message`` built): a
    run holds exactly the messages the message path hands out, and the verdicts are the
    same, on a clean file and on one with a finding in the middle of a run (that message
    is built and checked in detail; the others stay judged from their texts)."""
    data = edi_gen.interchange(RUN_MESSAGES + 3, seed=5)
    events = list(EdifactReader(data, runs=True))
    runs = [e for e in events if isinstance(e, WholeRun)]
    assert [len(r) for r in runs] == [RUN_MESSAGES, 3]
    assert not any(isinstance(e, Message) for e in events)
    built = [m for r in runs for m in r.messages()]
    read = [e for e in EdifactReader(data) if isinstance(e, Message)]

    def facts(m: Message) -> tuple[object, ...]:
        return (m.ref, m.type, m.position, m.unt and m.unt.text, m.shape, m.plain_texts())

    assert [facts(m) for m in built] == [facts(m) for m in read]
    broken = data.replace(b"UNT+", b"UNT+9", 1)  # the first message's count is wrong
    for file in (data, broken):
        expected = _verdicts(file, detailed=True)
        assert validate(file, file="f", strictness="standard").to_dict() == expected[0]
    report = validate(broken, strictness="standard")
    assert [m.position for i in report.interchanges for m in i.messages if m.errors] == [2]
    seen: list[str] = []  # an extra check (a partner profile's) sees every message built

    def check(header: InterchangeHeader, msg: Message) -> list[Issue]:
        seen.append(msg.ref)
        return []

    assert validate(data, checks=[check]).verdict == "accepted"
    assert seen == [m.ref for m in read]


@given(
    st.sampled_from(["1", "ABC", "", "A:B", "12345678901234"]),
    st.sampled_from(["UNT+{n}+{ref}", "UNT+{n}+{ref}+X", "UNT+0{n}+{ref}", "UNT+{n}", "UNT"]),
    st.integers(2, 40),
)
def test_the_usual_unt_is_built_as_splitting_builds_it(ref: str, shape: str, count: int) -> None:
    """Whole messages build their UNT without splitting it when it reads UNT+count+ref:
    the segment is exactly what ``segment_from_text`` makes of the same text."""
    unh = segment_from_text(f"UNH+{ref}+ORDERS:D:96A:UN:EAN008", "+", ":")
    text = shape.format(n=count, ref=ref)
    built = usual_unt(text, count, unh, "+", ":")
    split = segment_from_text(text, "+", ":")
    assert (built.tag, built.elements, built.text) == (split.tag, split.elements, split.text)


def _numeric_reference(lo: int, hi: int, mark: str) -> str:
    """The numeric value regex as first written (digit-by-digit backtracking)."""
    mark = re.escape(mark)
    decimal = f"(?=[0-9{mark}]{{3,{hi + 1}}}(?![0-9{mark}]))[0-9]+{mark}[0-9]+"
    return f"-?(?:[0-9]{{{max(lo, 1)},{hi}}}|{decimal})"


_NUMERIC_TAGS = ("MOA", "QTY", "PRI", "CNT", "TAX", "ALC", "PCD")


@given(
    st.sampled_from(_NUMERIC_TAGS),
    st.text("0123456789.,-+:A", max_size=30),
    st.sampled_from(
        [Delimiters(), Delimiters(decimal=","), Delimiters(component=",", decimal=",")]
    ),
)
@example("MOA", "86:12:A", Delimiters(component=",", decimal=","))  # 12 then a component
@example("MOA", "86:91621.09:EUR", Delimiters())
def test_numeric_value_regex_accepts_what_it_first_accepted(
    tag: str, rest: str, d: Delimiters
) -> None:
    """The element-format regexes of segments with numeric elements accept exactly the
    segment texts they accepted with the numeric pattern first written."""
    sources = fast_sources(d)
    if tag not in sources:
        return
    new = sources[tag]
    old = new
    for lo, hi in {(1, n) for n in range(1, 36)} | {(n, n) for n in range(1, 36)}:
        old = old.replace(
            _value_pattern("n", lo, hi, True, d), _numeric_reference(lo, hi, d.decimal)
        )
    assert old != new
    text = f"{tag}{d.element}" + rest.replace("+", d.element).replace(":", d.component)
    assert (re.fullmatch(new, text) is None) == (re.fullmatch(old, text) is None), text


@given(
    st.text("AB 1?+:'\n", max_size=80),
    st.sampled_from([20, 35, 70, 512]),
    st.sampled_from([Delimiters(), Delimiters("|", "*", ".", "!", " ", "~")]),
)
@example("WORD WORD?+12 WORD", 70, Delimiters())
@example("A" * 40 + "?+" + "B" * 20, 70, Delimiters())
@example("X?\n", 20, Delimiters())
def test_text_value_regex_accepts_what_the_character_form_accepts(
    text: str, hi: int, d: Delimiters
) -> None:
    """A text element (an..20 and longer) is tried first as plain characters (or around
    one released one): it accepts exactly what the character-by-character form accepts."""
    text = text.translate(str.maketrans("?+:'", d.release + d.element + d.component + d.terminator))
    specials = re.escape(d.element + d.component + d.release + d.terminator)
    first = f"(?:[^{specials}]|{re.escape(d.release)}.){{1,{hi}}}"
    new = _value_pattern("an", 0, hi, True, d)
    assert new != first
    assert (re.fullmatch(new, text) is None) == (re.fullmatch(first, text) is None)


_HEAD_SAMPLES = [b"BGM+220", b"DTM+137:1", b"UNH+1+X", b"UNT+3+1", b"UNS", b"123+4", b"lin+1"]
_HEAD_SAMPLES += [b"QTY", b"Q1Y+", b"UNZ+1", b"A", b"", b" BGM+1", b"\xc3\xa4BC+1", b"ABCD"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(_HEAD_SAMPLES), max_size=60), st.booleans())
def test_segment_heads_are_judged_alike_in_a_new_process_and_later(
    pieces: list[bytes], new_process: bool
) -> None:
    """``plain_flags`` flags a piece as a plain data segment exactly when its first bytes
    are 3 upper-case letters or digits (not all digits), no service tag, then the element
    separator or nothing; the same whether the heads are all new (the first chunk of a
    process: learnt at once) or known from earlier chunks."""
    if new_process:
        tokenizer_scan._HEADS.pop(b"+", None)
    flags, heads = tokenizer_scan.plain_flags(tuple(pieces), b"+")
    plain = re.compile(rb"(?!UN[AHTZBGE])(?=[A-Z0-9]{0,2}[A-Z])[A-Z0-9]{3}\+?")
    assert list(flags) == [int(plain.fullmatch(p[:4]) is not None) for p in pieces] + [0]
    assert heads == tuple(p[:4] for p in pieces)
