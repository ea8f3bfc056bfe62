"""Envelope checks (pure): UNB/UNZ, UNG/UNE, UNH/UNT contents, counts and references."""

from __future__ import annotations

from datetime import date

from connectors.edi.errors import Issue, Level, SyntaxCode, echo, issue_at, unb_issue
from connectors.edi.rules_eancom import gln_ok
from connectors.edi.strictness import Strictness
from connectors.edi.tokenizer import InterchangeHeader, Message, Segment

SUPPORTED_SYNTAX_VERSIONS = frozenset({"1", "2", "3", "4"})


def _party(
    seg: Segment,
    element: int,
    name: str,
    level: Level,
    position: int,
    strictness: Strictness = "strict",
) -> list[Issue]:
    issues: list[Issue] = []
    ident = seg.element(element, 1)
    qualifier = seg.element(element, 2)
    tag = seg.tag
    if not ident:
        issues.append(
            issue_at(
                SyntaxCode.MISSING,
                position,
                tag,
                f"{tag} {name} identification is missing (element {element})",
                element,
                1,
                level=level,
            )
        )
        return issues
    if len(ident) > 35:
        issues.append(
            issue_at(
                SyntaxCode.DATA_ELEMENT_TOO_LONG,
                position,
                tag,
                f"{tag} {name} identification is longer than 35 characters",
                element,
                1,
                level=level,
            )
        )
    if qualifier == "14" and not gln_ok(ident):
        issue = issue_at(
            SyntaxCode.INVALID_VALUE,
            position,
            tag,
            f"{tag} {name} {echo(ident)} has qualifier 14 (GLN) but is not a valid GLN "
            "(13 digits with a GS1 check digit): send the real GLN or the right qualifier",
            element,
            1,
            level=level,
        )
        issue.warning = strictness != "strict"  # ISO 9735 itself does not define GLNs
        issues.append(issue)
    return issues


def _valid_date(value: str, century: bool) -> bool:
    size = 8 if century else 6
    if len(value) != size or not value.isdigit():
        return False
    year = int(value[:4]) if century else 2000 + int(value[:2])
    try:
        date(year, int(value[-4:-2]), int(value[-2:]))
    except ValueError:
        return False
    return True


def _valid_time(value: str) -> bool:
    return len(value) == 4 and value.isdigit() and int(value[:2]) < 24 and int(value[2:]) < 60


def _trailer(
    trailer: Segment,
    level: Level,
    position: int,
    tag: str,
    expected: int,
    count_label: str,
    counted: str,
    opener: str,
    ref: str,
) -> list[Issue]:
    """A trailer's control count (element 1) and reference (element 2) against its opener's.

    A wrong count reads ``<count_label> '<found>' does not match <counted>``.
    """
    issues: list[Issue] = []
    count = trailer.element(1)
    if not (count.isdigit() and int(count) == expected):
        issues.append(
            issue_at(
                SyntaxCode.CONTROL_COUNT_MISMATCH,
                position,
                tag,
                f"{count_label} {echo(count)} does not match {counted}",
                1,
                level=level,
            )
        )
    if trailer.element(2) != ref:
        issues.append(
            issue_at(
                SyntaxCode.REFERENCES_DO_NOT_MATCH,
                position,
                tag,
                f"{tag} reference {echo(trailer.element(2))} does not match {opener} "
                f"reference {echo(ref)}",
                2,
                level=level,
            )
        )
    return issues


def check_unb(header: InterchangeHeader, strictness: Strictness = "strict") -> list[Issue]:
    """UNB: syntax identifier/version, sender, recipient, date/time, control reference.

    Findings a ``strictness`` level accepts come back with ``warning`` set.
    """
    unb = header.unb
    issues = _unb_syntax(header, strictness)
    issues.extend(_party(unb, 2, "sender", "interchange", 1, strictness))
    issues.extend(_party(unb, 3, "recipient", "interchange", 1, strictness))
    issues.extend(_unb_prepared(unb, header.syntax_version or "3", strictness))
    issues.extend(_unb_reference(unb))
    test = unb.element(11)
    if test and test != "1":
        issues.append(
            unb_issue(
                SyntaxCode.INVALID_VALUE,
                11,
                None,
                f"UNB test indicator {echo(test)} must be 1 or absent",
            )
        )
    return issues


def _unb_syntax(header: InterchangeHeader, strictness: Strictness) -> list[Issue]:
    """UNB S001: a supported syntax identifier and version."""
    issues: list[Issue] = []
    ident = header.syntax_identifier
    if not ident:
        issues.append(
            unb_issue(
                SyntaxCode.MISSING, 1, 1, "UNB syntax identifier (0001, e.g. UNOC) is missing"
            )
        )
    elif header.charset is None:
        issues.append(
            unb_issue(
                SyntaxCode.CHARACTER_SET_NOT_SUPPORTED,
                1,
                1,
                f"syntax identifier {echo(ident)} is not supported: use UNOA, UNOB, UNOC..UNOK, "
                "UNOY or UNOW",
            )
        )
    version = header.syntax_version
    if not version:
        missing = unb_issue(
            SyntaxCode.MISSING,
            1,
            2,
            "UNB syntax version number (0002) is missing: send e.g. UNOC:3"
            + (" (read as version 3)" if strictness == "lenient" else ""),
        )
        missing.warning = strictness == "lenient"
        issues.append(missing)
    elif version not in SUPPORTED_SYNTAX_VERSIONS:
        issues.append(
            unb_issue(
                SyntaxCode.SYNTAX_VERSION_NOT_SUPPORTED,
                1,
                2,
                f"syntax version {echo(version)} is not supported: use 1, 2, 3 or 4",
            )
        )
    return issues


def _unb_prepared(unb: Segment, version: str, strictness: Strictness) -> list[Issue]:
    """UNB S004: date (YYMMDD, CCYYMMDD from syntax version 4) and time of preparation."""
    prep_date, prep_time = unb.element(4, 1), unb.element(4, 2)
    if not prep_date or not prep_time:
        return [
            unb_issue(
                SyntaxCode.MISSING,
                4,
                1 if not prep_date else 2,
                "UNB date/time of preparation (S004) is missing",
            )
        ]
    issues: list[Issue] = []
    century = version == "4"
    if not _valid_date(prep_date, century):
        shape = "CCYYMMDD" if century else "YYMMDD"
        other = _valid_date(prep_date, not century)
        issue = unb_issue(
            SyntaxCode.INVALID_VALUE,
            4,
            1,
            f"UNB date {echo(prep_date)} is not a valid {shape} date (syntax version "
            f"{version or '?'})" + (": accepted as a common deviation (lenient)" if other else ""),
        )
        issue.warning = other and strictness == "lenient"
        issues.append(issue)
    if not _valid_time(prep_time):
        issues.append(
            unb_issue(
                SyntaxCode.INVALID_VALUE,
                4,
                2,
                f"UNB time {echo(prep_time)} is not a valid HHMM time",
            )
        )
    return issues


def _unb_reference(unb: Segment) -> list[Issue]:
    """UNB 0020: the interchange control reference, 1-14 characters."""
    ref = unb.element(5)
    if not ref:
        return [
            unb_issue(
                SyntaxCode.MISSING, 5, None, "UNB interchange control reference (0020) is missing"
            )
        ]
    if len(ref) > 14:
        return [
            unb_issue(
                SyntaxCode.DATA_ELEMENT_TOO_LONG,
                5,
                None,
                f"UNB control reference {echo(ref)} is longer than 14 characters",
            )
        ]
    return []


def check_unz(
    unz: Segment | None,
    position: int,
    control_ref: str,
    messages: int,
    groups: int,
) -> list[Issue]:
    """UNZ present, count = groups (if any) else messages, reference = UNB 0020."""
    if unz is None:
        return [
            issue_at(
                SyntaxCode.MISSING,
                position,
                "UNZ",
                f"interchange {echo(control_ref)} has no UNZ trailer: the file is truncated or "
                f"UNZ+{groups or messages}+{control_ref[:14]} is missing",
                level="interchange",
            )
        ]
    expected = groups if groups else messages
    return _trailer(
        unz,
        "interchange",
        position,
        "UNZ",
        expected,
        "UNZ count",
        f"the {expected} {'groups' if groups else 'messages'} in the interchange",
        "UNB",
        control_ref,
    )


def check_ung(ung: Segment, position: int) -> list[Issue]:
    """UNG: group id, sender, recipient, reference."""
    issues: list[Issue] = []
    if not ung.element(1):
        issues.append(
            issue_at(
                SyntaxCode.MISSING,
                position,
                "UNG",
                "UNG message group identification (0038) is missing",
                1,
                level="interchange",
            )
        )
    if not ung.element(5):
        issues.append(
            issue_at(
                SyntaxCode.MISSING,
                position,
                "UNG",
                "UNG group reference number (0048) is missing",
                5,
                level="interchange",
            )
        )
    return issues


def check_une(une: Segment | None, position: int, group_ref: str, messages: int) -> list[Issue]:
    """UNE present, count = messages in the group, reference = UNG 0048."""
    if une is None:
        return [
            issue_at(
                SyntaxCode.MISSING,
                position,
                "UNE",
                f"group {echo(group_ref)} has no UNE trailer: add UNE+{messages}+{group_ref[:14]}",
                level="interchange",
            )
        ]
    return _trailer(
        une,
        "interchange",
        position,
        "UNE",
        messages,
        "UNE count",
        f"the {messages} messages in group {echo(group_ref)}",
        "UNG",
        group_ref,
    )


def check_unh_unt(msg: Message) -> list[Issue]:
    """UNH reference and identifier; UNT present, segment count and reference."""
    if _usual_unh_unt(msg):
        return []
    issues = _unh_issues(msg)
    ref = msg.ref
    segments = msg.segment_count + 2
    unt = msg.unt
    if unt is None:
        issues.append(
            issue_at(
                SyntaxCode.MISSING,
                segments - 1,
                "UNT",
                f"message {echo(ref)} has no UNT trailer: add UNT+{segments}+{ref[:14]}",
                level="message",
            )
        )
        return issues
    issues += _trailer(
        unt,
        "message",
        segments,
        "UNT",
        segments,
        "UNT segment count",
        f"the {segments} segments of message {echo(ref)} (UNH to UNT inclusive)",
        "UNH",
        ref,
    )
    return issues


def _usual_unh_unt(msg: Message) -> bool:
    """The usual case (all fine), decided without building any finding."""
    unh = msg.unh
    unt = msg.unt
    if unt is not None and len(unh.elements) > 1 and len(unt.elements) > 1:
        ref, s009 = unh.elements[0], unh.elements[1]
        count, unt_ref = unt.elements[0], unt.elements[1]
        return (
            ref.__class__ is str
            and 0 < len(ref) <= 14
            and s009.__class__ is list
            and len(s009) >= 4
            and all(s009[:4])
            and unt_ref == ref
            and count == str(msg.segment_count + 2)
        )
    return False


def _unh_issues(msg: Message) -> list[Issue]:
    """UNH: the message reference (1-14 characters) and the S009 identifier components."""
    issues: list[Issue] = []
    ref = msg.ref
    if not ref:
        issues.append(
            issue_at(
                SyntaxCode.MISSING,
                1,
                "UNH",
                "UNH message reference number (0062) is missing",
                1,
                level="message",
            )
        )
    elif len(ref) > 14:
        issues.append(
            issue_at(
                SyntaxCode.DATA_ELEMENT_TOO_LONG,
                1,
                "UNH",
                f"UNH reference {echo(ref)} is longer than 14 characters",
                1,
                level="message",
            )
        )
    for component, name in ((1, "message type"), (2, "version"), (3, "release"), (4, "agency")):
        if not msg.unh.element(2, component):
            issues.append(
                issue_at(
                    SyntaxCode.MISSING,
                    1,
                    "UNH",
                    f"UNH {name} (S009 component {component}) is missing",
                    2,
                    component,
                    level="message",
                )
            )
    return issues
