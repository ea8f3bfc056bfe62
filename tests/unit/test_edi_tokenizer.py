"""EDIFACT tokenizer: layouts, UNA, BOM, junk, several interchanges, groups, charsets."""

from __future__ import annotations

import pytest

from connectors.edi import tokenizer as tk
from connectors.edi.errors import EdifactError
from connectors.edi.tokenizer import Delimiters, EdifactReader, split_segment

ORDER = (
    "UNB+UNOC:3+4012345000009:14+4098765000003:14+240115:1030+REF1'"
    "UNH+1+ORDERS:D:96A:UN:EAN008'BGM+220+PO1+9'DTM+137:20240115:102'"
    "NAD+BY+4012345000009::9'NAD+SU+4098765000003::9'LIN+1++4000862141404:EN'"
    "QTY+21:6'UNS+S'UNT+9+1'UNZ+1+REF1'"
)


def events(data: bytes, **kw: object) -> list[object]:
    return list(EdifactReader(data, **kw))  # type: ignore[arg-type]


def messages(data: bytes, **kw: object) -> list[tk.Message]:
    return [e for e in events(data, **kw) if isinstance(e, tk.Message)]


def test_one_line_and_segment_per_line_give_the_same_segments() -> None:
    one_line = messages(ORDER.encode())
    per_line = messages(ORDER.replace("'", "'\r\n").encode())
    assert len(one_line) == 1
    assert [(s.tag, s.elements) for s in one_line[0].segments] == [
        (s.tag, s.elements) for s in per_line[0].segments
    ]
    assert one_line[0].type == "ORDERS:D:96A:UN:EAN008"
    assert one_line[0].segments[4].elements == ["1", "", ["4000862141404", "EN"]]


def test_hard_wrapped_lines_are_joined() -> None:
    wrapped = ORDER[:120] + "\n" + ORDER[120:200] + "\r\n" + ORDER[200:]
    msg = messages(wrapped.encode())[0]
    assert [s.tag for s in msg.segments] == [s.tag for s in messages(ORDER.encode())[0].segments]
    assert msg.segments[1].elements == [["137", "20240115", "102"]]


def test_bom_is_stripped_and_junk_before_unb_reported() -> None:
    data = b"\xef\xbb\xbf" + b"####@@@@ header\r\n" + ORDER.encode()
    evs = events(data)
    assert isinstance(evs[0], tk.Junk)
    assert "####" in evs[0].preview
    assert isinstance(evs[1], tk.InterchangeHeader)
    assert sum(isinstance(e, tk.Message) for e in evs) == 1


def test_bom_alone_is_not_junk() -> None:
    evs = events(b"\xef\xbb\xbf" + ORDER.encode())
    assert not any(isinstance(e, tk.Junk) for e in evs)


def test_una_sets_delimiters_decimal_comma_and_release() -> None:
    data = (
        b"UNA|*,# ~UNB*UNOC|3*A*B*240115|1030*R1~UNH*1*ORDERS|D|96A|UN~"
        b"FTX*AAI***a#*b#|c##d#~e~QTY*21|1,5~UNT*4*1~UNZ*1*R1~"
    )
    evs = events(data)
    header = next(e for e in evs if isinstance(e, tk.InterchangeHeader))
    assert header.delimiters == Delimiters("|", "*", ",", "#", " ", "~")
    msg = next(e for e in evs if isinstance(e, tk.Message))
    assert msg.segments[0].elements == ["AAI", "", "", "a*b|c#d~e"]
    assert msg.segments[1].elements == [["21", "1,5"]]


def test_several_interchanges_in_one_file_are_split() -> None:
    second = ORDER.replace("REF1", "REF2")
    evs = events((ORDER + "\n" + second).encode())
    headers = [e for e in evs if isinstance(e, tk.InterchangeHeader)]
    trailers = [e for e in evs if isinstance(e, tk.InterchangeTrailer)]
    assert [h.unb.element(5) for h in headers] == ["REF1", "REF2"]
    assert [t.unz.element(2) for t in trailers if t.unz] == ["REF1", "REF2"]


def test_missing_unz_is_an_interchange_trailer_without_unz() -> None:
    data = ORDER.replace("UNZ+1+REF1'", "").encode()
    trailer = [e for e in events(data) if isinstance(e, tk.InterchangeTrailer)]
    assert len(trailer) == 1 and trailer[0].unz is None


def test_groups_are_reported() -> None:
    data = ORDER.replace("UNH+1", "UNG+ORDERS+A+B+240115:1030+G1+UN+D:96A'UNH+1").replace(
        "UNT+9+1'", "UNT+9+1'UNE+1+G1'"
    )
    kinds = [type(e) for e in events(data.encode())]
    assert kinds.index(tk.GroupHeader) < kinds.index(tk.Message) < kinds.index(tk.GroupTrailer)


@pytest.mark.parametrize("chunk_size", [16, 17, 64, 1 << 20])
def test_chunk_boundaries_do_not_change_the_result(chunk_size: int) -> None:
    data = ("UNA:+.? '" + ORDER.replace("PO1", "P?'O?+1")).encode()
    msgs = messages(data, chunk_size=chunk_size)
    assert msgs[0].segments[0].elements == ["220", "P'O+1", "9"]
    assert len(msgs[0].segments) == 7


def test_utf8_bytes_in_unoc_follow_the_policy() -> None:
    data = ORDER.replace("BGM+220+PO1+9", "BGM+220+Suppliér+9").encode("utf-8")
    strict = messages(data, policy="strict")[0]
    assert [i.code for i in strict.issues if not i.warning] == [21]
    assert strict.issues[0].segment_position == 2 and strict.issues[0].tag == "BGM"
    fallback = messages(data, policy="utf8-fallback")[0]
    assert fallback.segments[0].element(2) == "Suppliér"
    assert all(i.warning for i in fallback.issues)


def test_lower_case_in_unoa_is_a_warning_unless_strict_repertoire() -> None:
    data = ORDER.replace("UNOC", "UNOA").replace("PO1", "po1").encode()
    assert all(i.warning for i in messages(data)[0].issues)
    strict = messages(data, strict_repertoire=True)[0]
    assert [i.code for i in strict.issues if not i.warning] == [21]


def test_unreadable_path_raises_edifact_error() -> None:
    with pytest.raises(EdifactError, match="cannot open"):
        list(EdifactReader("/nonexistent/file.edi"))


def test_split_segment_keeps_empty_components() -> None:
    assert split_segment("RFF+VA:123:", Delimiters()) == ("RFF", [["VA", "123", ""]])


def test_bad_una_is_reported_not_raised() -> None:
    header = next(
        e for e in events(b"UNA:::::'" + ORDER.encode()) if isinstance(e, tk.InterchangeHeader)
    )
    assert [i.code for i in header.issues] == [22]
