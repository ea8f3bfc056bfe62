"""Serializer is the exact inverse of the tokenizer; the codec only ever raises EdifactError."""

from __future__ import annotations

import contextlib
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.edi.errors import EdifactError
from connectors.edi.serializer import (
    OutboundMessage,
    build_interchange,
    escape,
    render_interchange,
    serialize,
)
from connectors.edi.tokenizer import Delimiters, EdifactReader, Message, Segment
from connectors.edi.validation import validate

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Data values: any text except CR/LF, which the tokenizer treats as line wrapping.
values = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"))
elements = st.one_of(values, st.lists(values, min_size=2, max_size=4))
tags = st.sampled_from(["BGM", "DTM", "NAD", "LIN", "QTY", "FTX", "RFF", "PRI", "ZZZ"])
segments = st.builds(lambda tag, els: Segment(tag, *els), tags, st.lists(elements, max_size=6))
delimiter_sets = st.sampled_from(
    [
        Delimiters(),
        Delimiters(decimal=","),
        Delimiters("|", "*", ",", "#", " ", "~"),
        Delimiters(":", "+", ".", "?", "*", "'"),
    ]
)


def _roundtrip(
    body: list[Segment], d: Delimiters, newline: bool, version: str = "3"
) -> list[Segment]:
    ich = build_interchange(
        [OutboundMessage("ORDERS:D:96A:UN:EAN008", "M1", body)],
        sender="4012345000009",
        recipient="4098765000003",
        control_ref="R1",
        prepared=datetime(2024, 1, 15, 10, 30),
        syntax_identifier="UNOY",
        syntax_version=version,
    )
    data = render_interchange(ich, d, newline=newline)
    msgs = [e for e in EdifactReader(data) if isinstance(e, Message)]
    assert len(msgs) == 1
    return msgs[0].segments


@SETTINGS
@given(st.lists(segments, min_size=1, max_size=8), delimiter_sets, st.booleans())
def test_parse_serialize_roundtrip(body: list[Segment], d: Delimiters, newline: bool) -> None:
    back = _roundtrip(body, d, newline)
    assert [(s.tag, s.elements) for s in back] == [(s.tag, s.elements) for s in body]


def _repeated(tag: str, reps: list[list[str | list[str]]]) -> Segment:
    seg = Segment(tag, *(r[0] for r in reps))
    repeats = {i: r for i, r in enumerate(reps) if len(r) > 1}
    seg.repeats = repeats or None
    return seg


repeated_segments = st.builds(
    _repeated, tags, st.lists(st.lists(elements, min_size=1, max_size=3), max_size=5)
)


@SETTINGS
@given(st.lists(repeated_segments, min_size=1, max_size=6), st.booleans())
def test_syntax_4_repetitions_roundtrip(body: list[Segment], newline: bool) -> None:
    d = Delimiters(":", "+", ".", "?", "*", "'")  # UNA5 '*': the repetition separator
    back = _roundtrip(body, d, newline, version="4")
    assert [(s.tag, s.elements, s.repeats) for s in back] == [
        (s.tag, s.elements, s.repeats) for s in body
    ]


def test_separators_inside_data_are_released() -> None:
    seg = Segment("FTX", "AAI", "", "", "it's 1+1:2 ?")
    text = serialize([seg], una=False)
    assert text == "FTX+AAI+++it?'s 1?+1?:2 ??'"
    assert _roundtrip([seg], Delimiters(), False)[0].elements == seg.elements
    assert escape("a*b", Delimiters(reserved="*")) == "a?*b"


def test_build_interchange_fills_counts_and_references() -> None:
    body = [Segment("BGM", "220", "PO1", "9"), Segment("DTM", ["137", "20240115", "102"])]
    ich = build_interchange(
        [
            OutboundMessage("ORDRSP:D:96A:UN:EAN005", "1", body),
            OutboundMessage("ORDRSP:D:96A:UN:EAN005", "2", body[:1]),
        ],
        sender="4012345000009",
        recipient="4098765000003",
        control_ref="42",
        prepared=datetime(2024, 1, 15, 10, 30),
        test=True,
    )
    tags = [s.tag for s in ich]
    assert tags == ["UNB", "UNH", "BGM", "DTM", "UNT", "UNH", "BGM", "UNT", "UNZ"]
    assert ich[0].elements[3] == ["240115", "1030"] and ich[0].element(11) == "1"
    assert ich[4].elements == ["4", "1"] and ich[7].elements == ["3", "2"]
    assert ich[-1].elements == ["2", "42"]
    result = validate(render_interchange(ich))
    assert result.interchanges[0].errors == []
    assert all(m.verdict == "accepted" or m.errors for m in result.interchanges[0].messages)
    assert result.interchanges[0].test is True


def test_build_interchange_refuses_duplicate_refs_and_bad_charsets() -> None:
    msg = OutboundMessage("ORDERS:D:96A:UN", "1", [Segment("BGM", "220")])
    with pytest.raises(EdifactError, match="used twice"):
        build_interchange(
            [msg, msg],
            sender="A",
            recipient="B",
            control_ref="1",
            prepared=datetime(2024, 1, 1),
        )
    ich = build_interchange(
        [OutboundMessage("ORDERS:D:96A:UN", "1", [Segment("FTX", "AAI", "", "", "Grüße")])],
        sender="A",
        recipient="B",
        control_ref="1",
        prepared=datetime(2024, 1, 1),
        syntax_identifier="UNOA",
    )
    with pytest.raises(EdifactError, match="cannot be sent in UNOA"):
        render_interchange(ich)


@SETTINGS
@given(st.binary(max_size=400))
def test_arbitrary_bytes_only_raise_edifact_error(data: bytes) -> None:
    with contextlib.suppress(EdifactError):  # the only exception the codec may raise
        list(EdifactReader(data, chunk_size=32))
    result = validate(data)  # never raises: bad input becomes a verdict
    assert result.verdict in ("accepted", "rejected", "quarantined")


@SETTINGS
@given(
    st.lists(
        st.sampled_from(
            [
                b"UNA:+.? '",
                b"UNB+UNOC:3+A+B+240101:1200+1'",
                b"UNH+1+ORDERS:D:96A:UN'",
                b"UNT+2+1'",
                b"UNZ+1+1'",
                b"UNG+X'",
                b"UNE+1'",
                b"?",
                b"'",
                b"+",
                b"\xff",
                b"\n",
            ]
        ),
        max_size=30,
    )
)
def test_envelope_soup_never_crashes(parts: list[bytes]) -> None:
    result = validate(b"".join(parts))
    assert result.verdict in ("accepted", "rejected", "quarantined")
    assert result.to_json()
