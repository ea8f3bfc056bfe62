"""Reading partners' CONTRL and APERAK (pure): round trips through our own serializer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.edi import EdifactReader, Message, validate
from sandbox.demo_partner import aperak_for, contrl_for
from transforms import edifact_acks as acks
from transforms.edifact_acks_in import ack_state, document_number, read_ack, read_aperak

NORD, US = "4300000000014", "4006389999993"
T0 = datetime(2026, 11, 4, 8, 0, tzinfo=UTC)


def _message(data: bytes) -> Message:
    (msg,) = [e for e in EdifactReader(data) if isinstance(e, Message)]
    return msg


findings = st.lists(
    st.builds(
        acks.SyntaxFinding,
        code=st.sampled_from([12, 13, 15, 16, 35, 37]),
        level=st.just("segment"),
        segment_position=st.integers(2, 99),
        tag=st.just("QTY"),
        element_position=st.integers(1, 9),
        component_position=st.one_of(st.none(), st.integers(1, 4)),
    ),
    max_size=4,
)


@settings(max_examples=60, deadline=None)
@given(
    ref=st.from_regex(r"[0-9]{9}", fullmatch=True),
    accepted=st.booleans(),
    errors=findings,
    version=st.sampled_from(["3", "4"]),
)
def test_contrl_built_by_our_serializer_reads_back(
    ref: str, accepted: bool, errors: list[acks.SyntaxFinding], version: str
) -> None:
    errors = [] if accepted else errors
    data = contrl_for(ref, "INVOIC:D:96A:UN:EAN008", partner_gln=NORD, our_gln=US,
                      control_ref="P1", accepted=accepted, errors=errors,
                      syntax_version=version)  # fmt: skip
    assert validate(data).verdict == "accepted"
    msg = _message(data)
    report = read_ack("CONTRL", msg.segments)
    assert report.kind == "CONTRL" and report.interchange_ref == ref
    assert report.accepted is accepted
    (m,) = report.messages
    assert (m.message_ref, m.message_type, m.accepted) == ("1", "INVOIC:D:96A:UN:EAN008", accepted)
    # every finding is reported with its segment; element positions as ISO 9735 counts them
    assert [e.code for e in m.errors] == [str(f.code) for f in errors]
    for error, finding in zip(m.errors, errors, strict=True):
        assert error.position.startswith(f"segment {finding.segment_position} element ")


def test_contrl_rejecting_the_whole_interchange() -> None:
    body = acks.contrl(
        interchange_ref="000000042", sender=(US, "14"), recipient=(NORD, "14"),
        interchange_findings=[acks.SyntaxFinding(7, "interchange", 1, "UNB", 3)], messages=[],
    )  # fmt: skip
    from hub.edi_out import to_segments

    report = read_ack("CONTRL", to_segments(body))
    assert not report.accepted and report.errors[0].code == "7"
    assert report.verdict_for("1") == (False, report.errors)


def test_aperak_reads_document_errors_and_function() -> None:
    rejected = read_aperak(_message(aperak_for("INV-9", "INVOIC", partner_gln=NORD, our_gln=US,
                           control_ref="A1", errors=[("12", "x" * 90), ("PRICE", "y")]))
                           .segments)  # fmt: skip
    assert not rejected.accepted and rejected.document_refs == ("INV-9",)
    assert [e.code for e in rejected.errors] == ["12", "PRICE"]
    assert rejected.errors[0].text == "x" * 90  # FTX components joined
    accepted = read_aperak(_message(aperak_for("INV-9", "INVOIC", partner_gln=NORD, our_gln=US,
                           control_ref="A2")).segments)  # fmt: skip
    assert accepted.accepted and accepted.errors == ()


def test_document_number_of_an_outbound_body() -> None:
    assert document_number([("BGM", "380", "INV-1", "9"), ("DTM", ["137", "x"])]) == "INV-1"
    assert document_number([("BGM", ["351"], ["D-7"], "9")]) == "D-7"
    assert document_number([("DTM", "x")]) == ""


def test_ack_state_rules() -> None:
    due = {"CONTRL": T0 + timedelta(hours=4), "APERAK": T0 + timedelta(hours=24)}
    both = ["APERAK", "CONTRL"]
    assert ack_state(both, {}, due, T0) == "sent"
    assert ack_state(both, {"CONTRL": "accepted"}, due, T0 + timedelta(hours=5)) == "sent"
    assert ack_state(both, {}, due, T0 + timedelta(hours=5)) == "overdue"
    assert ack_state(both, {"CONTRL": "accepted"}, due, T0 + timedelta(hours=25)) == "overdue"
    accepted = {"CONTRL": "accepted", "APERAK": "accepted"}
    assert ack_state(both, accepted, due, T0 + timedelta(hours=30)) == "accepted"
    assert ack_state(both, {"CONTRL": "rejected"}, due, T0) == "rejected"
    assert ack_state([], {}, {}, T0 + timedelta(days=9)) == "sent"  # nothing expected
    assert ack_state([], {"APERAK": "accepted"}, {}, T0) == "accepted"
    assert ack_state(both, {"CONTRL": "rejected"}, due, T0, resent=True) == "resent"
