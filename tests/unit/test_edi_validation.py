"""EDIFACT validation: envelope, EANCOM ORDERS rules, structure, element formats, CLI."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.edi.directory import STRUCTURES, parse_structure
from connectors.edi.errors import Issue
from connectors.edi.rules import PlainChecker, check_message
from connectors.edi.tokenizer import Delimiters
from connectors.edi.validation import trailing_separator, validate
from tests.fixtures.edifact import edi_cli, messages_with_headers

BODY = [
    "BGM+220+PO1+9",
    "DTM+137:20240115:102",
    "NAD+BY+4012345000009::9",
    "NAD+SU+4098765000003::9",
    "CUX+2:EUR:9",
    "LIN+1++4000862141404:EN",
    "QTY+21:6",
    "PRI+AAA:3.25",
    "UNS+S",
]


def order(
    body: list[str] | None = None, *, unt: str | None = None, unz: str | None = "1", una: str = ""
) -> bytes:
    body = BODY if body is None else body
    count = unt if unt is not None else str(len(body) + 2)
    segs = [
        "UNB+UNOC:3+4012345000009:14+4098765000003:14+240115:1030+REF1",
        "UNH+M1+ORDERS:D:96A:UN:EAN008",
        *body,
        f"UNT+{count}+M1",
    ]
    if unz is not None:
        segs.append(f"UNZ+{unz}+REF1")
    return (una + "'\n".join(segs) + "'\n").encode("latin-1")


def codes(data: bytes) -> list[tuple[int, str | None]]:
    result = validate(data)
    return [(int(e.code), e.tag) for e in result.all_errors()]


def test_good_order_is_accepted() -> None:
    result = validate(order())
    assert result.verdict == "accepted", result.all_errors()
    ich = result.interchanges[0]
    assert (ich.sender, ich.recipient, ich.control_ref) == (
        "4012345000009",
        "4098765000003",
        "REF1",
    )
    assert ich.messages[0].type == "ORDERS:D:96A:UN:EAN008"
    assert ich.messages[0].structure_checked


def test_unt_count_and_reference() -> None:
    assert (29, "UNT") in codes(order(unt="99"))
    data = order().replace(b"UNT+11+M1", b"UNT+11+M2")
    assert (28, "UNT") in codes(data)


def test_missing_unz_and_wrong_unz_count() -> None:
    assert codes(order(unz=None)) == [(13, "UNZ")]
    assert codes(order(unz="3")) == [(29, "UNZ")]


def test_bad_unb_date_and_gln() -> None:
    data = (
        order()
        .replace(b"240115:1030", b"241345:2599")
        .replace(b"4098765000003:14", b"4098765000004:14")
    )
    result = validate(data)
    errors = {(e.code, e.element_position) for e in result.interchanges[0].errors}
    assert {(12, 3), (12, 4)} <= errors


@pytest.mark.parametrize(
    ("remove", "expected"),
    [
        ("DTM+137:20240115:102", (13, "DTM")),
        ("NAD+BY+4012345000009::9", (13, "NAD")),
        ("NAD+SU+4098765000003::9", (13, "NAD")),
        ("QTY+21:6", (13, "QTY")),
        ("BGM+220+PO1+9", (13, "BGM")),
    ],
)
def test_eancom_mandatory_content(remove: str, expected: tuple[int, str]) -> None:
    body = [s for s in BODY if s != remove]
    assert expected in codes(order(body))


def test_gtin_check_digit_and_missing_gtin() -> None:
    bad = [s.replace("4000862141404", "4000862141405") for s in BODY]
    result = validate(order(bad))
    err = result.all_errors()[0]
    assert (err.code, err.tag, err.segment_position, err.element_position) == (12, "LIN", 7, 3)
    missing = [s.replace("4000862141404:EN", ":EN") for s in BODY]
    assert (13, "LIN") in codes(order(missing))


def test_structure_order_and_repetition() -> None:
    misplaced = ["BGM+220+PO1+9", "NAD+BY+4012345000009::9", "DTM+137:20240115:102", *BODY[3:]]
    assert (15, "DTM") in codes(order(misplaced))
    too_many = BODY[:1] + ["DTM+137:20240115:102"] * 36 + BODY[2:]
    assert (35, "DTM") in codes(order(too_many))
    after_uns = BODY + ["LIN+2++4000862141404:EN"]
    assert (15, "LIN") in codes(order(after_uns))


def test_element_formats() -> None:
    comma = [s.replace("PRI+AAA:3.25", "PRI+AAA:3,25") for s in BODY]
    assert (19, "PRI") in codes(order(comma))
    # the same value is right when UNA declares the decimal comma
    assert validate(order(comma, una="UNA:+,? '")).verdict == "accepted"
    long = [s.replace("PO1", "P" * 36) for s in BODY]
    assert (39, "BGM") in codes(order(long))
    letters = [s.replace("QTY+21:6", "QTY+21:six") for s in BODY]
    assert (37, "QTY") in codes(order(letters))
    date = [s.replace("20240115:102", "20240230:102") for s in BODY]
    assert (12, "DTM") in codes(order(date))


def test_not_edifact_is_quarantined() -> None:
    result = validate(b"hello, this is not EDI\n")
    assert result.verdict == "quarantined"
    assert result.errors[0].code == 13 and result.errors[0].level == "file"
    assert result.warnings[0].level == "file"


def test_json_shape() -> None:
    result = validate(order(unt="99"), file="x.edi")
    data = json.loads(result.to_json())
    assert set(data) >= {"file", "verdict", "errors", "interchanges"}
    ich = data["interchanges"][0]
    assert set(ich) == {"sender", "recipient", "control_ref", "verdict", "errors", "messages"}
    msg = ich["messages"][0]
    assert set(msg) == {"ref", "type", "verdict", "checked", "errors"}
    assert msg["errors"][0] == {
        "code": 29,
        "level": "message",
        "segment_position": 11,
        "tag": "UNT",
        "element_position": 1,
        "message": msg["errors"][0]["message"],
    }
    assert data["verdict"] == "rejected"


def test_message_check_hook_rejects() -> None:
    def unknown_buyer(header: object, msg: object) -> list[Issue]:
        return [Issue(12, "element", "buyer GLN not known in the ERP", 3, "NAD", 2)]

    result = validate(order(), checks=[unknown_buyer])
    assert result.verdict == "rejected"
    assert result.all_errors()[0].message == "buyer GLN not known in the ERP"


def test_structures_are_data() -> None:
    nodes = parse_structure("BGM 1 1\nLIN 0 9\n  QTY 1 2\n")
    assert nodes[1].children[0].tag == "QTY" and nodes[1].children[0].min == 1
    for key in (
        "ORDRSP:D:96A",
        "DESADV:D:96A",
        "INVOIC:D:96A",
        "INVRPT:D:96A",
        "APERAK:D:96A",
        "CONTRL:D:3",
        "ORDERS:D:01B",
    ):
        assert key in STRUCTURES
    with pytest.raises(ValueError, match="TAG MIN MAX"):
        parse_structure("BGM 1\n")


def test_cli_exit_codes_and_json(tmp_path: Path) -> None:
    good = tmp_path / "good.edi"
    good.write_bytes(order())
    bad = tmp_path / "bad.edi"
    bad.write_bytes(order(unt="99"))
    runner = CliRunner()
    ok = runner.invoke(edi_cli(), ["edi", "validate", str(good)])
    assert ok.exit_code == 0 and "accepted" in ok.output
    both = runner.invoke(edi_cli(), ["edi", "validate", "--json", str(good), str(bad)])
    assert both.exit_code == 1
    lines = [json.loads(line) for line in both.output.splitlines()]
    assert [(line["file"], line["verdict"]) for line in lines] == [
        (str(good), "accepted"),
        (str(bad), "rejected"),
    ]
    human = runner.invoke(edi_cli(), ["edi", "validate", str(bad)])
    assert "error 29" in human.output and "UNT" in human.output
    partner = runner.invoke(edi_cli(), ["edi", "validate", "--partner", "acme", str(good)])
    assert partner.exit_code == 2


def _mutants(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    base = order(body=[*BODY, "MOA+86:19.5", "CNT+2:1"], unt=None)
    alphabet = b"+:'?.,0123456789ABZ \xe9"
    out = [base]
    for _ in range(count):
        data = bytearray(base)
        for _ in range(rng.randint(1, 3)):
            pos = rng.randrange(len(data))
            if rng.random() < 0.5:
                data[pos] = rng.choice(alphabet)
            else:
                del data[pos : pos + rng.randint(1, 12)]
        out.append(bytes(data))
    return out


@pytest.mark.parametrize("seed", range(4))
def test_plain_fast_path_finds_exactly_what_the_detailed_path_finds(seed: int) -> None:
    """Messages kept as texts are checked from remembered verdicts; parsed ones in detail."""
    checkers: dict[Delimiters, PlainChecker] = {}
    for data in _mutants(seed, 150):
        for msg, header in messages_with_headers(data):
            fast = msg.plain_texts() is not None
            checker = checkers.setdefault(header.delimiters, PlainChecker(header.delimiters))
            plain = check_message(msg, header.delimiters, plain=checker)
            trailing = trailing_separator(msg, header.delimiters)
            msg.segments  # noqa: B018 - parses the texts: the detailed path from here on
            assert msg.plain_texts() is None or not msg.segment_count
            detailed = check_message(msg, header.delimiters)
            assert plain == detailed, (fast, data)
            assert trailing == trailing_separator(msg, header.delimiters)
