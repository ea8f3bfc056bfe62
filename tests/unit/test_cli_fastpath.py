"""`hub edi validate`'s fast path: ``json_line`` writes exactly ``FileResult.to_json``'s text,
and the garbage collector's settings come back after the command, whatever happened.

``json_line`` is compared as text (byte for byte) with ``to_json`` on the varied benchmark
file, on files with errors and warnings, on files that are no EDIFACT at all, on the shared
real-world samples and on random mutations; the command itself runs in-process, both
through ``hub.cli.fastpath.answer`` (what ``hub`` runs first) and through typer.
"""

from __future__ import annotations

import gc
import io
import json
import random
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bench import edi_gen
from connectors.edi.charsets import CHARSET_POLICIES, DEFAULT_CHARSET_POLICY, CharsetPolicy
from connectors.edi.errors import Issue
from connectors.edi.result import FileResult, InterchangeResult, MessageResult
from connectors.edi.strictness import STRICTNESS_LEVELS, WITHOUT_PARTNER, Strictness
from connectors.edi.validation import validate
from hub.cli.edi_report import json_line
from hub.cli.fastpath import YOUNG_COLLECTION_EVERY, answer
from tests.fixtures.edifact import edi_cli
from tests.fixtures.shared import shared_path
from tests.unit.test_edi_defects import GOOD_BODY, UNB, interchange

POLICIES = cast("tuple[CharsetPolicy, ...]", CHARSET_POLICIES)
LEVELS = cast("tuple[Strictness, ...]", STRICTNESS_LEVELS)
V4 = UNB.replace("UNOC:3", "UNOC:4").replace("240115", "20240115")
REPEATED = [*GOOD_BODY[:5], "QTY+21:6*21:7", "FTX+ZZZ+++A?*B", *GOOD_BODY[6:]]


def _with(*segments: str, at: int = 2) -> list[str]:
    """GOOD_BODY with ``segments`` put in before its ``at``-th segment."""
    return [*GOOD_BODY[:at], *segments, *GOOD_BODY[at:]]


def _mixed(messages: int, seed: int) -> bytes:
    """One interchange of varied ORDERS (structure checked), PRICAT (envelope only) and,
    every seventh, an ORDERS dated 31 February: clean messages of two kinds between errors."""
    rng = random.Random(seed)
    parts = ["UNA:+.? '", UNB.format(ref=f"M{seed}") + "'"]
    for n in range(1, messages + 1):
        if n % 3 == 0:
            parts.append(f"UNH+{n}+PRICAT:D:96A:UN:EAN008'BGM+9+P{n}+9'UNT+3+{n}'")
        else:
            text = edi_gen.varied_message(rng, n)
            parts.append(re.sub(r"137:\d{8}:", "137:20240231:", text) if n % 7 == 0 else text)
    parts.append(f"UNZ+{messages}+M{seed}'")
    return "".join(parts).encode("latin-1")


def _odd_refs() -> bytes:
    """Clean messages whose references hold non-ASCII, a quote, a backslash, a released +."""
    refs = ["\u00c41", '"2', "\\3", "\u00e9?+4", "5"]
    segs = [UNB.format(ref="O1")]
    for ref in refs:
        segs += [f"UNH+{ref}+ORDERS:D:96A:UN:EAN008", *GOOD_BODY, f"UNT+{len(GOOD_BODY) + 2}+{ref}"]
    return ("'".join([*segs, f"UNZ+{len(refs)}+O1"]) + "'").encode("latin-1")


def _defects() -> dict[str, bytes]:
    """Files with findings, as issue 13's defects were found (tests/unit/test_edi_defects.py)."""
    ok = interchange()
    return {
        "bad-date": interchange(body=_with("DTM+2:20240231:102")).encode(),
        "bad-period": interchange(body=_with("DTM+35:2002021320020231:718")).encode(),
        "wrong-unt": ok.replace(f"UNT+{len(GOOD_BODY) + 2}+1", "UNT+4+1").encode(),
        "junk-between": (interchange("5001") + "GARBAGE\r\n" + interchange("5002")).encode(),
        "junk-after": (ok + "\n\x1aTRAILER\n").encode(),
        "duplicate-ref": (interchange("5001") * 3).encode(),
        "unoa-non-ascii": interchange(
            body=_with("FTX+ZZZ+++lower case", "FTX+ZZZ+++\u4e2d\u6587 \u00e9"),
            unb=UNB.replace("UNOC", "UNOA"),
        ).encode("utf-8"),
        "released": interchange(body=_with("FTX+ZZZ+++A?+B?:C?'D??E")).encode(),
        "syntax-4-repetition": interchange(body=REPEATED, unb=V4).encode(),
        "syntax-4-bad-repetition": interchange(
            body=[*REPEATED[:5], "QTY+21:6*21:X", *REPEATED[6:]], unb=V4
        ).encode(),
        "code-lists": interchange(body=_with("QTY+21:6:XXX", "RFF+QQQ:1", at=6)).encode(),
        "trailing-separator": interchange(body=[*GOOD_BODY, "CNT+2:1+"]).encode(),
        "no-syntax-version": interchange(unb=UNB.replace("UNOC:3", "UNOC")).encode(),
        "not-a-gln": interchange(unb=UNB.replace("4012345000009:14", "ENI-CH:14")).encode(),
        "other-delimiters": interchange(d=("*", "|", "~")).encode(),
        "quotes-in-refs": interchange('R"\\\u00e9', mtype='ORD"\\:D:96A:UN').encode("latin-1"),
        "odd-message-refs": _odd_refs(),
        "no-messages": (UNB.format(ref="E1") + "'UNZ+0+E1'").encode(),
        "no-unz": ok[: ok.index("UNZ")].encode(),
        "no-unb": ok[ok.index("UNH") :].encode(),
    }


def _inputs() -> dict[str, bytes]:
    """Every file of the json_line checks but the shared samples."""
    return {
        "varied": edi_gen.interchange(300, seed=21),
        "varied-twice": edi_gen.interchange(40, seed=1) + edi_gen.interchange(40, seed=2),
        "repetitive": edi_gen.interchange(50, repetitive=True),
        "mixed": _mixed(60, seed=3),
        "mixed-after-junk": b"junk\n" + _mixed(25, seed=4) + b"\n--\n" + _mixed(25, seed=5),
        **_defects(),
        "empty": b"",
        "pdf": b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n",
        "json": b'{"orders": [{"id": 1, "text": "UNH+1"}]}\n',
        "binary": bytes(range(256)) * 4,
    }


def _set_gc(enabled: bool, threshold: tuple[int, int, int]) -> None:
    gc.set_threshold(*threshold)
    (gc.enable if enabled else gc.disable)()


@pytest.fixture
def gc_kept() -> Iterator[None]:
    """The collector's settings as they were before the test, whatever the test did; objects
    the fast path froze are unfrozen when none were frozen before."""
    enabled, threshold, frozen = gc.isenabled(), gc.get_threshold(), gc.get_freeze_count()
    yield
    _set_gc(enabled, threshold)
    if frozen == 0:
        gc.unfreeze()


def _reference(path: Path, level: Strictness = WITHOUT_PARTNER) -> str:
    """The line ``FileResult.to_json`` makes of ``path`` under the command's defaults."""
    found = validate(path, file=str(path), policy=DEFAULT_CHARSET_POLICY, strictness=level)
    return found.to_json() + "\n"


def _files_of(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def _cli_lines(
    targets: list[Path], capsys: pytest.CaptureFixture[str], level: Strictness | None = None
) -> tuple[str, str, str]:
    """What the fast path and typer print for ``hub edi validate --json [--strictness LEVEL]
    TARGET...``, and the lines ``to_json`` makes of the files (a folder: the files in it)."""
    files = [f for t in targets for f in (_files_of(t) if t.is_dir() else [t])]
    expected = "".join(_reference(p, level or WITHOUT_PARTNER) for p in files)
    options = ["--strictness", level] if level else []
    args = ["edi", "validate", "--json", *options, *map(str, targets)]
    capsys.readouterr()
    code = answer(args)
    fast = capsys.readouterr().out
    typer_run = CliRunner().invoke(edi_cli(), args)
    assert typer_run.exception is None or isinstance(typer_run.exception, SystemExit)
    accepted = all(json.loads(line)["verdict"] == "accepted" for line in expected.splitlines())
    assert code == typer_run.exit_code == (0 if accepted else 1)
    return fast, typer_run.stdout, expected


@pytest.mark.parametrize("name", list(_inputs()))
def test_json_line_is_to_json_text_under_every_policy_and_strictness(name: str) -> None:
    data = _inputs()[name]
    levels = [WITHOUT_PARTNER] if len(data) > 50_000 else list(LEVELS)
    for policy in POLICIES:
        for level in levels:
            result = validate(data, file=f"{name}.edi", policy=policy, strictness=level)
            assert json_line(result) == result.to_json(), (policy, level)


def test_the_inputs_have_what_the_checks_need() -> None:
    """The comparison above meets every shape json_line rebuilds: many clean messages of two
    kinds, rejected ones between them, warnings only, interchanges without messages,
    several interchanges in a file, junk, and files with no interchange at all; the file
    the mutations start from is valid."""
    results = {name: validate(data, strictness=WITHOUT_PARTNER) for name, data in _inputs().items()}
    verdicts = {name: r.verdict for name, r in results.items()}
    assert verdicts["varied"] == "accepted" and results["varied"].message_count == 300
    assert verdicts["empty"] == verdicts["pdf"] == verdicts["json"] == "quarantined"
    for name in ("bad-date", "wrong-unt", "duplicate-ref", "unoa-non-ascii"):
        assert verdicts[name] == "rejected", name
    assert verdicts["syntax-4-repetition"] == "accepted"
    assert verdicts["syntax-4-bad-repetition"] == "rejected"
    assert results["not-a-gln"].to_dict()["warnings"] and verdicts["not-a-gln"] == "accepted"
    assert results["junk-between"].junk and len(results["junk-between"].interchanges) == 2
    assert results["no-messages"].interchanges and not results["no-messages"].message_count
    odd = results["odd-message-refs"].interchanges[0].messages
    assert [m.ref for m in odd] == ["\u00c41", '"2', "\\3", "\u00e9+4", "5"]
    assert verdicts["odd-message-refs"] == "accepted"
    small = validate(SMALL, strictness=WITHOUT_PARTNER)
    assert small.verdict == "accepted" and small.message_count == 3
    mixed = results["mixed"].to_dict()["interchanges"][0]["messages"]
    assert {(m["checked"], m["verdict"]) for m in mixed} == {
        ("structure", "accepted"),
        ("structure", "rejected"),
        ("envelope", "accepted"),
    }


def test_the_command_prints_to_json_text_for_every_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], gc_kept: None
) -> None:
    """`hub edi validate --json FOLDER`, fast path and typer: one line per file, each the
    text ``to_json`` makes of it (file names with quotes and non-ASCII included)."""
    for name, data in _inputs().items():
        (tmp_path / f"{name}.edi").write_bytes(data)
    (tmp_path / 'a "quoted" \u00e4 name\\.edi').write_bytes(interchange().encode())
    fast, typer_out, expected = _cli_lines([tmp_path], capsys)
    assert len(expected.splitlines()) == len(_inputs()) + 1
    assert fast == expected
    assert typer_out == expected
    for level in ("strict", "lenient"):
        fast, typer_out, expected = _cli_lines([tmp_path], capsys, level)
        assert fast == typer_out == expected, level


def test_the_shared_samples_print_their_to_json_text(
    capsys: pytest.CaptureFixture[str], gc_kept: None
) -> None:
    """Every shared sample: json_line under each charset policy (the 2 MB one, seconds a
    run, under the default only), and the command's lines for the small ones."""
    samples = shared_path("samples", "edifact", what="EDIFACT samples")
    files = _files_of(samples)
    small = [p for p in files if p.stat().st_size < 1_000_000]
    assert len(small) > 30
    for path in files:
        for policy in POLICIES if path in small else [DEFAULT_CHARSET_POLICY]:
            result = validate(path, file=str(path), policy=policy, strictness=WITHOUT_PARTNER)
            assert json_line(result) == result.to_json(), (path, policy)
    fast, typer_out, expected = _cli_lines(small, capsys)
    assert fast == typer_out == expected
    assert len(fast.splitlines()) == len(small)


# -- the garbage collector's settings ----------------------------------------------------------


class FakeStdout(io.StringIO):
    """Standard output that notes the collector's settings at each write, or raises ``fails``
    (a closed pipe, Ctrl-C, a closed file) instead of writing."""

    def __init__(self, fails: BaseException | None = None) -> None:
        super().__init__()
        self.fails = fails
        self.seen: list[tuple[bool, tuple[int, int, int], bool]] = []

    def write(self, text: str) -> int:
        self.seen.append((gc.isenabled(), gc.get_threshold(), gc.get_freeze_count() > 0))
        if self.fails is not None:
            raise self.fails
        return super().write(text)


@pytest.fixture
def edi_file(tmp_path: Path) -> Path:
    path = tmp_path / "orders.edi"
    path.write_bytes(edi_gen.interchange(20, seed=8))
    return path


STARTS = [(True, (700, 10, 10)), (False, (700, 10, 10)), (True, (1234, 5, 7)), (False, (0, 3, 3))]
RUNS = [pytest.param(*start) for start in STARTS]


@pytest.mark.parametrize(("enabled", "threshold"), RUNS)
def test_the_settings_come_back_after_a_run(
    edi_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    gc_kept: None,
    enabled: bool,
    threshold: tuple[int, int, int],
) -> None:
    """While the file is validated the collector runs, on new objects only (imports frozen,
    young collections every YOUNG_COLLECTION_EVERY allocations); after it, the settings are
    the caller's again. What was frozen stays frozen (by design: the process ends)."""
    gc.unfreeze()
    _set_gc(enabled, threshold)
    out = FakeStdout()
    monkeypatch.setattr(sys, "stdout", out)
    assert answer(["edi", "validate", "--json", str(edi_file)]) == 0
    assert (gc.isenabled(), gc.get_threshold()) == (enabled, threshold)
    assert gc.get_freeze_count() > 0
    assert out.seen == [(True, (YOUNG_COLLECTION_EVERY, 10, 10), True)]
    assert out.getvalue() == _reference(edi_file)


@pytest.mark.parametrize(
    ("fails", "code"),
    [(BrokenPipeError(), 1), (KeyboardInterrupt(), 130), (ValueError("closed file"), None)],
)
@pytest.mark.parametrize(("enabled", "threshold"), RUNS[1:3])
def test_the_settings_come_back_when_the_run_fails(
    edi_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    gc_kept: None,
    fails: BaseException,
    code: int | None,
    enabled: bool,
    threshold: tuple[int, int, int],
) -> None:
    """A closed pipe (exit 1), Ctrl-C (exit 130) or any other error while the results are
    written (raised to the caller): the collector is as the caller left it."""
    _set_gc(enabled, threshold)
    out = FakeStdout(fails)
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    if code is None:
        with pytest.raises(type(fails)):
            answer(["edi", "validate", "--json", str(edi_file)])
    else:
        assert answer(["edi", "validate", "--json", str(edi_file)]) == code
    assert out.seen == [(True, (YOUNG_COLLECTION_EVERY, 10, 10), True)]
    assert (gc.isenabled(), gc.get_threshold()) == (enabled, threshold)


@pytest.mark.parametrize(("enabled", "threshold"), STARTS[1:3])
def test_a_missing_file_leaves_the_settings_alone(
    edi_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    gc_kept: None,
    enabled: bool,
    threshold: tuple[int, int, int],
) -> None:
    """A path that does not exist: the fast path leaves the command to typer (exit 2, the
    path named) without touching the collector, even beside a file that exists."""
    gc.unfreeze()
    _set_gc(enabled, threshold)
    missing = str(tmp_path / "nope.edi")
    for args in ([missing], ["--json", missing], [str(edi_file), missing]):
        assert answer(["edi", "validate", *args]) is None
        assert (gc.isenabled(), gc.get_threshold(), gc.get_freeze_count()) == (
            enabled,
            threshold,
            0,
        )
        typer_run = CliRunner().invoke(edi_cli(), ["edi", "validate", *args])
        assert typer_run.exit_code == 2
        assert "Invalid value for 'paths'" in typer_run.output
        assert (gc.isenabled(), gc.get_threshold()) == (enabled, threshold)
    assert capsys.readouterr().out == ""


# -- random mutations --------------------------------------------------------------------------

SMALL = (
    "UNA:+.? '"
    + interchange("S1").replace("UNZ+1+S1'", "")
    + "UNH+2+PRICAT:D:96A:UN:EAN008'BGM+9+P2+9'UNT+3+2'"
    + edi_gen.varied_message(random.Random(4), 3).replace("\n", "")
    + "UNZ+3+S1'"
).encode("latin-1")
PIECES = [b"'", b"+", b":", b"?", b"*", b"\n", b"UNH+9+", b"UNT+2+9'", b"UNZ+", b"UNB+", b"UNA"]
PIECES += [b'"', b"\\", b"\x00", b"\xc3\xa4", b"\xe4", b"\xff\xfe", b"\x1a", b"20240231"]
EDITS = st.tuples(
    st.integers(0, len(SMALL)),
    st.sampled_from(["put", "insert", "delete"]),
    st.one_of(st.sampled_from(PIECES), st.binary(min_size=1, max_size=6)),
)


def _edited(data: bytes, edits: list[tuple[int, str, bytes]]) -> bytes:
    for at, how, piece in edits:
        at %= len(data) + 1
        if how == "delete":
            data = data[:at] + data[at + len(piece) :]
        else:
            data = data[:at] + piece + data[at + (len(piece) if how == "put" else 0) :]
    return data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(EDITS, max_size=5),
    st.sampled_from(POLICIES),
    st.sampled_from(LEVELS),
)
@example([], "strict", "standard")
@example([(0, "delete", b"x" * 9)], "strict", "standard")  # no UNA
@example([(len(SMALL) - 9, "delete", b"x" * 9)], "strict", "standard")  # no UNZ
def test_json_line_is_to_json_text_on_mutated_files(
    edits: list[tuple[int, str, bytes]], policy: CharsetPolicy, level: Strictness
) -> None:
    data = _edited(SMALL, edits)
    result = validate(data, file="mutated.edi", policy=policy, strictness=level)
    line = json_line(result)
    assert line == result.to_json()
    assert json.loads(line)["verdict"] == result.verdict


ISSUES = st.builds(
    Issue,
    code=st.one_of(st.integers(0, 99), st.sampled_from(["GTIN", "BUYER"])),
    level=st.sampled_from(["file", "interchange", "message", "segment", "element"]),
    message=st.text(max_size=20),
    segment_position=st.none() | st.integers(1, 99),
    tag=st.none() | st.text(max_size=4),
    warning=st.booleans(),
)
TEXTS = st.text(max_size=8) | st.sampled_from(["\x00the messages of this interchange\x00", '"'])
MESSAGES = st.builds(
    MessageResult,
    ref=TEXTS,
    type=st.sampled_from(["ORDERS:D:96A:UN:EAN008", "PRICAT:D:96A:UN", ""]) | TEXTS,
    position=st.integers(0, 9),
    errors=st.none() | st.lists(ISSUES, max_size=2),
    warnings=st.none() | st.lists(ISSUES, max_size=2),
    structure_checked=st.booleans(),
)
INTERCHANGES = st.builds(
    InterchangeResult,
    sender=TEXTS,
    sender_qualifier=st.just("14"),
    recipient=TEXTS,
    recipient_qualifier=st.just("14"),
    control_ref=TEXTS,
    syntax_identifier=st.just("UNOC"),
    syntax_version=st.just("3"),
    messages=st.lists(MESSAGES, max_size=4),
    errors=st.lists(ISSUES, max_size=2),
    warnings=st.lists(ISSUES, max_size=2),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.builds(
        FileResult,
        file=TEXTS,
        interchanges=st.lists(INTERCHANGES, max_size=2),
        errors=st.lists(ISSUES, max_size=2),
        warnings=st.lists(ISSUES, max_size=2),
    )
)
def test_json_line_is_to_json_text_for_any_result(result: FileResult) -> None:
    """Results no file gives: references holding quotes, control characters or the very
    text of json_line's stand-in, findings anywhere, errors and warnings mixed."""
    assert json_line(result) == result.to_json()
