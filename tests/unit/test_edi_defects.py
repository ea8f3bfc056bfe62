"""Issue 13's codec defects, each rebuilt from the input that showed it (reader, CONTRL,
character sets, dates, strictness, code lists, what was checked, output size)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.edi import tokenizer as tk
from connectors.edi.errors import Issue
from connectors.edi.serializer import serialize
from connectors.edi.tokenizer import EdifactReader, Segment
from connectors.edi.validation import validate
from tests.fixtures.edifact import edi_cli
from transforms import edifact_acks as acks

GOOD_BODY = [
    "BGM+220+PO1+9",
    "DTM+137:20240115:102",
    "NAD+BY+4012345000009::9",
    "NAD+SU+4098765000003::9",
    "LIN+1++4000862141404:EN",
    "QTY+21:6",
    "UNS+S",
]
UNB = "UNB+UNOC:3+4012345000009:14+4098765000003:14+240115:1030+{ref}"


def interchange(
    ref: str = "5001",
    body: list[str] | None = None,
    *,
    unb: str = UNB,
    mtype: str = "ORDERS:D:96A:UN:EAN008",
    d: tuple[str, str, str] = ("+", ":", "'"),
) -> str:
    body = GOOD_BODY if body is None else body
    segs = [
        unb.format(ref=ref),
        f"UNH+1+{mtype}",
        *body,
        f"UNT+{len(body) + 2}+1",
        f"UNZ+1+{ref}",
    ]
    text = "'".join(segs) + "'"
    es, cs, term = d
    if d != ("+", ":", "'"):
        table = str.maketrans({"+": es, ":": cs, "'": term})
        text = f"UNA{cs}{es}.? {term}" + text.translate(table)
    return text


def errors(data: bytes, **kw: object) -> list[tuple[int, str | None, int | None, int | None]]:
    result = validate(data, **kw)  # type: ignore[arg-type]
    return [
        (int(e.code), e.tag, e.element_position, e.component_position) for e in result.all_errors()
    ]


# -- point 2: the reader never loses an interchange ------------------------------------------


def test_junk_after_unz_then_a_new_unb_yields_the_next_interchange() -> None:
    first = interchange("5001")
    data = (first + "GARBAGE\r\n" + interchange("5002")).encode()
    result = validate(data)
    assert [i.control_ref for i in result.interchanges] == ["5001", "5002"]
    assert result.message_count == 2
    # the junk is reported with the raw offsets of exactly its bytes
    assert [(j.offset, j.length) for j in result.junk] == [(len(first), 9)]
    span = result.junk[0]
    assert data[span.offset : span.offset + span.length] == b"GARBAGE\r\n"
    assert any("GARBAGE" in w.message for w in result.warnings)


def test_an_interchange_with_its_own_una_after_another_is_read_with_its_delimiters() -> None:
    second = interchange("5002", d=("*", "|", "~"))
    for glue in ("", "\r\n", "\n"):
        data = (interchange("5001") + glue + second).encode()
        for chunk in (16, 50, 1 << 20):
            events = list(EdifactReader(data, chunk_size=chunk))
            headers = [e for e in events if isinstance(e, tk.InterchangeHeader)]
            assert [h.delimiters.element for h in headers] == ["+", "*"]
            msgs = [e for e in events if isinstance(e, tk.Message)]
            assert [m.segments[0].elements for m in msgs] == [["220", "PO1", "9"]] * 2
            assert not any(isinstance(e, tk.Junk) for e in events)
        assert validate(data).verdict == "accepted"


def test_junk_at_the_end_is_reported_with_offsets_never_dropped() -> None:
    data = (interchange() + "\n\x1aTRAILER\n").encode()
    result = validate(data)
    assert [(j.offset, j.length) for j in result.junk] == [(len(interchange()) + 1, 8)]
    assert json.loads(result.to_json())["junk"][0]["length"] == 8


def test_duplicate_unb_reference_within_a_file_is_reported() -> None:
    data = (interchange("5001") + interchange("5001")).encode()
    result = validate(data)
    assert result.interchanges[0].verdict == "accepted"
    dup = result.interchanges[1].errors
    assert [(int(e.code), e.tag, e.element_position) for e in dup] == [(26, "UNB", 5)]
    assert "5001" in dup[0].message


# -- point 3: character-set findings are not masked ------------------------------------------


def test_a_lower_case_warning_does_not_hide_utf8_chinese_in_unoa() -> None:
    body = [*GOOD_BODY, "FTX+ZZZ+++\u4e2d\u6587"]
    body.insert(1, "FTX+ZZZ+++lower case")
    data = interchange(body=body, unb=UNB.replace("UNOC", "UNOA")).encode("utf-8")
    result = validate(data)
    msg = result.interchanges[0].messages[0]
    assert any("lower" in w.message or "repertoire" in w.message for w in msg.warnings)
    assert (21, "FTX") in [(int(e.code), e.tag) for e in msg.errors]
    assert result.verdict == "rejected"


# -- point 4: CONTRL positions and codes ------------------------------------------------------


def _contrl_text(data: bytes) -> str:
    result = validate(data)
    ich = result.interchanges[0]

    def finding(i: Issue) -> acks.SyntaxFinding:
        return acks.SyntaxFinding(
            int(i.code), i.level, i.segment_position, i.tag, i.element_position,
            i.component_position,
        )  # fmt: skip

    verdicts = [
        acks.MessageVerdict(m.ref, m.type.split(":"), not m.errors, [finding(e) for e in m.errors])
        for m in ich.messages
    ]
    body = acks.contrl(
        interchange_ref=ich.control_ref,
        sender=(ich.sender, ich.sender_qualifier),
        recipient=(ich.recipient, ich.recipient_qualifier),
        interchange_findings=[finding(e) for e in ich.errors],
        messages=verdicts,
    )
    segments = [Segment(str(s[0]), *s[1:]) for s in body]  # type: ignore[arg-type]
    return serialize(segments, una=False)


def test_contrl_data_element_position_counts_the_tag_as_one() -> None:
    body = [("QTY+21:X" if s.startswith("QTY") else s) for s in GOOD_BODY]
    text = _contrl_text(interchange(body=body).encode())
    assert "UCD+37+2:2'" in text  # QTY is tag 1, C186 is 2, 6060 its component 2
    assert "UCD+37+1:2" not in text


def test_uci_names_only_a_service_segment_tag() -> None:
    def uci(finding: acks.SyntaxFinding) -> tuple[object, ...]:
        return tuple(
            acks.contrl(
                interchange_ref="1",
                sender=("A", "14"),
                recipient=("B", "14"),
                interchange_findings=[finding],
                messages=[],
            )[0]
        )

    data_tag = uci(acks.SyntaxFinding(12, "interchange", 3, "NH"))
    assert data_tag == ("UCI", "1", ["A", "14"], ["B", "14"], "4", "12")
    assert uci(acks.SyntaxFinding(12, "interchange", 1, "UNB", 2, 1))[-1] == "UNB"


def test_contrl_syntax_4_is_recognised() -> None:
    body = ["UCI+5001+4012345000009:14+4098765000003:14+7"]
    data = interchange(body=body, mtype="CONTRL:4:1:UN").encode()
    result = validate(data)
    msg = result.interchanges[0].messages[0]
    assert msg.structure_checked and msg.verdict == "accepted"


# -- point 5: date formats ----------------------------------------------------------------


@pytest.mark.parametrize(
    "dtm",
    [
        "DTM+35:2002021220020312:718",
        "DTM+35:20020212-20020312:718",
        "DTM+2:200207:616",
        "DTM+2:200202121000200203121100:719",
    ],
)
def test_eancom_date_formats_are_accepted(dtm: str) -> None:
    body = [*GOOD_BODY[:2], dtm, *GOOD_BODY[2:]]
    assert errors(interchange(body=body).encode()) == []


def test_an_impossible_period_is_still_refused() -> None:
    body = [*GOOD_BODY[:2], "DTM+35:2002021320020231:718", *GOOD_BODY[2:]]
    assert errors(interchange(body=body).encode()) == [(12, "DTM", 1, 2)]


# -- point 6: strictness ----------------------------------------------------------------------

NOT_A_GLN = UNB.replace("4012345000009:14", "ENI-CH:14")


def test_missing_syntax_version_is_a_missing_element() -> None:
    data = interchange(unb=UNB.replace("UNOC:3", "UNOC")).encode()
    for level in ("strict", "standard"):
        assert errors(data, strictness=level) == [(13, "UNB", 1, 2)]
    lenient = validate(data, strictness="lenient")
    assert lenient.verdict == "accepted" and lenient.interchanges[0].warnings


def test_qualifier_14_that_is_no_gln_rejects_only_under_strict() -> None:
    data = interchange(unb=NOT_A_GLN).encode()
    assert errors(data, strictness="strict") == [(12, "UNB", 2, 1)]
    for level in ("standard", "lenient"):
        result = validate(data, strictness=level)  # type: ignore[arg-type]
        assert result.verdict == "accepted"
        assert "ENI-CH" in result.interchanges[0].warnings[0].message


def test_century_date_in_syntax_3_is_accepted_only_under_lenient() -> None:
    data = interchange(unb=UNB.replace("240115:1030", "20240115:1030")).encode()
    assert errors(data, strictness="standard") == [(12, "UNB", 4, 1)]
    assert validate(data, strictness="lenient").verdict == "accepted"


def test_cli_without_partner_applies_standard(tmp_path: Path) -> None:
    path = tmp_path / "pricat.edi"
    path.write_bytes(interchange(unb=NOT_A_GLN).encode())
    runner = CliRunner()
    assert runner.invoke(edi_cli(), ["edi", "validate", str(path)]).exit_code == 0
    strict = runner.invoke(edi_cli(), ["edi", "validate", "--strictness", "strict", str(path)])
    assert strict.exit_code == 1 and "error 12" in strict.output


# -- point 7: what was checked, code lists ------------------------------------------------------


def test_output_says_whether_structure_or_only_envelope_was_checked(tmp_path: Path) -> None:
    path = tmp_path / "two.edi"
    pricat = interchange("5002", body=["BGM+9+P1+9"], mtype="PRICAT:D:96A:UN:EAN008")
    path.write_bytes((interchange("5001") + pricat).encode())
    runner = CliRunner()
    out = runner.invoke(edi_cli(), ["edi", "validate", "--json", str(path)])
    data = json.loads(out.output)
    assert [i["messages"][0]["checked"] for i in data["interchanges"]] == [
        "structure",
        "envelope",
    ]
    human = runner.invoke(edi_cli(), ["edi", "validate", str(path)]).output
    assert "(structure checked)" in human and "envelope only" in human


def test_collapsed_accepted_messages_still_say_what_was_checked(tmp_path: Path) -> None:
    segs = [UNB.format(ref="7001")]
    for n in range(1, 23):
        segs += [f"UNH+{n}+PRICAT:D:96A:UN:EAN008", "BGM+9+P1+9", f"UNT+3+{n}"]
    segs.append("UNZ+22+7001")
    path = tmp_path / "pricat.edi"
    path.write_bytes(("'".join(segs) + "'").encode())
    out = " ".join(CliRunner().invoke(edi_cli(), ["edi", "validate", str(path)]).output.split())
    assert "22 message(s) accepted" in out and "envelope only" in out


@pytest.mark.parametrize(
    ("segment", "number", "code"),
    [
        ("QTY+999:6", "6063", "999"),
        ("QTY+21:6:XXX", "6411", "XXX"),
        ("NAD+QQ+4012345000009::9", "3035", "QQ"),
        ("RFF+QQQ:1", "1153", "QQQ"),
        ("DTM+999:20240115:102", "2005", "999"),
        ("BGM+380+PO1+9", "1001", "380"),
        ("BGM+220+PO1+9+QQ", "4343", "QQ"),
        ("PIA+1+A1:QQ", "7143", "QQ"),
        ("PIA+1+A1:SA", None, None),
    ],
)
def test_eancom_code_lists_name_list_and_code(
    segment: str, number: str | None, code: str | None
) -> None:
    tag = segment[:3]
    body = list(GOOD_BODY)
    if tag == "BGM":
        body[0] = segment
    elif tag in ("QTY", "PIA"):
        body.insert(body.index("QTY+21:6") + (tag == "QTY"), segment)
    else:
        body.insert(2 if tag in ("DTM", "RFF") else 4, segment)
    data = interchange(body=body).encode()
    found = validate(data).all_errors()
    if number is None:
        assert found == []
        return
    assert [(int(e.code), e.tag) for e in found] == [(12, tag)]
    assert f"code list {number}" in found[0].message and repr(code) in found[0].message
    lenient = validate(data, strictness="lenient")
    assert lenient.verdict == "accepted"


def test_syntax_4_repetition_separator_is_honoured() -> None:
    v4 = UNB.replace("UNOC:3", "UNOC:4").replace("240115", "20240115")
    body = [*GOOD_BODY[:5], "QTY+21:6*21:7", "FTX+ZZZ+++A?*B", *GOOD_BODY[6:]]
    data = interchange(body=body, unb=v4).encode()
    result = validate(data)
    assert result.verdict == "accepted", result.all_errors()
    msg = [e for e in EdifactReader(data) if isinstance(e, tk.Message)][0]
    qty, ftx = msg.segments[5], msg.segments[6]
    assert qty.elements == [["21", "6"]] and qty.repeats == {0: [["21", "6"], ["21", "7"]]}
    assert ftx.elements[3] == "A*B" and ftx.repeats is None  # released: data
    assert serialize([qty, ftx], tk.Delimiters(reserved="*"), una=False) == (
        "QTY+21:6*21:7'FTX+ZZZ+++A?*B'"
    )
    # each repetition is checked on its own
    bad = interchange(body=[*body[:5], "QTY+21:6*21:X", *body[6:]], unb=v4).encode()
    assert errors(bad) == [(37, "QTY", 1, 2)]
    # before syntax 4 the character is data (here declared by UNA as reserved)
    v3 = interchange(body=[*GOOD_BODY[:5], "QTY+21:6", "FTX+ZZZ+++A*B", *GOOD_BODY[6:]])
    msg3 = [e for e in EdifactReader(("UNA:+.?*'" + v3).encode()) if isinstance(e, tk.Message)]
    ftx3 = msg3[0].segments[6]
    assert ftx3.elements[3] == "A*B" and ftx3.repeats is None


# -- point 8: echoed input is truncated ------------------------------------------------------


def test_a_100_kb_garbage_tag_keeps_the_human_output_short(tmp_path: Path) -> None:
    garbage = "X" * 100_000
    body = [*GOOD_BODY[:2], garbage + "+1", *GOOD_BODY[2:]]
    path = tmp_path / "garbage.edi"
    path.write_bytes(interchange(body=body, mtype="ORDERS:D:96A:UN:EAN008" + garbage).encode())
    out = CliRunner().invoke(edi_cli(), ["edi", "validate", str(path)])
    assert out.exit_code == 1
    assert len(out.output) < 5_000, len(out.output)
    assert "characters" in out.output  # said how long the cut value was
    for issue in validate(path).all_errors():
        assert len(issue.message) <= 700 and len(issue.tag or "") <= 15
