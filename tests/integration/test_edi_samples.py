"""Every real EDIFACT sample in ../shared/samples/edifact gets one verdict, never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.edi.result import FileResult
from connectors.edi.validation import validate

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def results(shared_dir: Path) -> dict[str, FileResult]:
    folder = shared_dir / "samples" / "edifact"
    if not folder.is_dir():
        pytest.skip(f"EDIFACT samples not found at {folder}")
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return {str(p.relative_to(folder)): validate(p) for p in files}


def _codes(result: FileResult) -> set[tuple[int, str | None]]:
    return {(int(e.code), e.tag) for e in result.all_errors()}


def test_every_file_gets_one_verdict(results: dict[str, FileResult]) -> None:
    assert len(results) >= 30
    counts = {"accepted": 0, "rejected": 0, "quarantined": 0}
    for result in results.values():
        counts[result.verdict] += 1
        result.to_json()
    assert sum(counts.values()) == len(results)


def test_junk_before_unb_is_skipped_and_reported(results: dict[str, FileResult]) -> None:
    r = results["bots-plugins/0T0000000004.edi"]
    assert len(r.interchanges) == 1 and r.message_count == 1
    assert r.warnings and "####" in r.warnings[0].message
    # the bots demo ids PARTNER1/PARTNER2 are not GLNs although qualified 14
    assert (12, "UNB") in _codes(r)


def test_unt_count_wrong(results: dict[str, FileResult]) -> None:
    r = results["OCA-edi/test_orders_-_no_PRI_segments.txt"]
    assert r.verdict == "rejected"
    assert (29, "UNT") in _codes(r)
    assert (29, "UNT") in _codes(results["pydifact/messages/v3/aperak.edi"])


def test_missing_unz(results: dict[str, FileResult]) -> None:
    for name in ("pydifact/order.edi", "pydifact/order2.edi"):
        assert (13, "UNZ") in _codes(results[name]), name


def test_unoc_declared_with_utf8_bytes(results: dict[str, FileResult]) -> None:
    r = results["OCA-edi/test_orders_-_no_ean_in_LIN_segments.txt"]
    assert (21, "NAD") in _codes(r)
    assert (13, "LIN") in _codes(r)  # no GTIN in LIN
    lenient = validate(Path(r.file) if Path(r.file).exists() else r.file, policy="utf8-fallback")
    assert (21, "NAD") not in _codes(lenient)


def test_placeholder_gln(results: dict[str, FileResult]) -> None:
    r = results["OCA-edi/Retail_EDIFACT_ORDERS_sample2.txt"]
    assert r.interchanges[0].recipient == "<Receiver GLN>"
    assert (12, "UNB") in _codes(r)


def test_vendor_header_before_una_with_group(results: dict[str, FileResult]) -> None:
    r = results["pydifact/sage_coala.ped"]
    assert r.warnings and "DOC+01" in r.warnings[0].message
    ich = r.interchanges[0]
    assert ich.syntax_identifier == "UNOL"
    assert [m.type for m in ich.messages] == ["INFENT:D:00B:UN:FD2401"]
    assert not any(e.tag in ("UNG", "UNE", "UNZ") for e in ich.errors)


def test_many_interchanges_and_messages(results: dict[str, FileResult]) -> None:
    concatenated = results["bots-plugins/one-on-one_edifact_order_xml/orders02.edi"]
    assert len(concatenated.interchanges) == 24
    r = results["bots-plugins/1.edi"]
    assert len(r.interchanges) == 1 and r.message_count == 12
    assert len(results["bots-plugins/order01.edi"].interchanges) == 2


def test_one_line_and_mixed_layouts(results: dict[str, FileResult]) -> None:
    for name in ("bots-plugins/order02.edi", "bots-plugins/order03.edi"):
        r = results[name]
        assert r.message_count == 1
        assert not any(e.code in (13, 15, 29) for e in r.all_errors()), name


def test_huge_file_without_unz(results: dict[str, FileResult]) -> None:
    r = results["pydifact/huge_file2.edi"]
    assert r.bytes_read > 2_000_000
    assert r.verdict == "rejected"
    assert {(13, "UNZ"), (29, "UNT")} <= _codes(r)


def test_clean_files_are_accepted(results: dict[str, FileResult]) -> None:
    assert results["pydifact/wikipedia_en.edi"].verdict == "accepted"
    assert results["pydifact/invoice1.edi"].verdict == "accepted"
    colon = results["pydifact/invoice_with_colon_at_end.edi"]
    assert colon.verdict == "accepted"
    warnings = [w for i in colon.interchanges for m in i.messages for w in m.warnings]
    assert [w.code for w in warnings] == [45]
