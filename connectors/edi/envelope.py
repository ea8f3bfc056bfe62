"""Envelope checks (pure): UNB/UNZ, UNG/UNE, UNH/UNT contents, counts and references."""

from __future__ import annotations

from datetime import date

from stdnum import ean

from connectors.edi.errors import Issue, Level, SyntaxCode
from connectors.edi.tokenizer import InterchangeHeader, Message, Segment

SUPPORTED_SYNTAX_VERSIONS = frozenset({"1", "2", "3", "4"})


def _i(
    code: int,
    level: Level,
    position: int | None,
    tag: str,
    text: str,
    element: int | None = None,
    component: int | None = None,
) -> Issue:
    return Issue(code, level, text, position, tag, element, component)


def _party(seg: Segment, element: int, name: str, level: Level, position: int) -> list[Issue]:
    issues: list[Issue] = []
    ident = seg.element(element, 1)
    qualifier = seg.element(element, 2)
    tag = seg.tag
    if not ident:
        issues.append(
            _i(
                SyntaxCode.MISSING,
                level,
                position,
                tag,
                f"{tag} {name} identification is missing (element {element})",
                element,
                1,
            )
        )
        return issues
    if len(ident) > 35:
        issues.append(
            _i(
                SyntaxCode.DATA_ELEMENT_TOO_LONG,
                level,
                position,
                tag,
                f"{tag} {name} identification is longer than 35 characters",
                element,
                1,
            )
        )
    if qualifier == "14" and not (ident.isdigit() and len(ident) == 13 and ean.is_valid(ident)):
        issues.append(
            _i(
                SyntaxCode.INVALID_VALUE,
                level,
                position,
                tag,
                f"{tag} {name} {ident!r} has qualifier 14 (GLN) but is not a valid GLN "
                "(13 digits with a GS1 check digit): send the real GLN or the right qualifier",
                element,
                1,
            )
        )
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


def check_unb(header: InterchangeHeader) -> list[Issue]:
    """UNB: syntax identifier/version, sender, recipient, date/time, control reference."""
    unb = header.unb
    issues: list[Issue] = []
    ident = header.syntax_identifier
    if not ident:
        issues.append(
            _i(
                SyntaxCode.MISSING,
                "interchange",
                1,
                "UNB",
                "UNB syntax identifier (0001, e.g. UNOC) is missing",
                1,
                1,
            )
        )
    elif header.charset is None:
        issues.append(
            _i(
                SyntaxCode.CHARACTER_SET_NOT_SUPPORTED,
                "interchange",
                1,
                "UNB",
                f"syntax identifier {ident!r} is not supported: use UNOA, UNOB, UNOC..UNOK, "
                "UNOY or UNOW",
                1,
                1,
            )
        )
    version = header.syntax_version
    if version not in SUPPORTED_SYNTAX_VERSIONS:
        issues.append(
            _i(
                SyntaxCode.SYNTAX_VERSION_NOT_SUPPORTED,
                "interchange",
                1,
                "UNB",
                f"syntax version {version!r} is not supported: use 1, 2, 3 or 4",
                1,
                2,
            )
        )
    issues.extend(_party(unb, 2, "sender", "interchange", 1))
    issues.extend(_party(unb, 3, "recipient", "interchange", 1))
    prep_date, prep_time = unb.element(4, 1), unb.element(4, 2)
    century = version == "4"
    if not prep_date or not prep_time:
        issues.append(
            _i(
                SyntaxCode.MISSING,
                "interchange",
                1,
                "UNB",
                "UNB date/time of preparation (S004) is missing",
                4,
                1 if not prep_date else 2,
            )
        )
    else:
        if not _valid_date(prep_date, century):
            shape = "CCYYMMDD" if century else "YYMMDD"
            issues.append(
                _i(
                    SyntaxCode.INVALID_VALUE,
                    "interchange",
                    1,
                    "UNB",
                    f"UNB date {prep_date!r} is not a valid {shape} date (syntax version "
                    f"{version or '?'})",
                    4,
                    1,
                )
            )
        if not _valid_time(prep_time):
            issues.append(
                _i(
                    SyntaxCode.INVALID_VALUE,
                    "interchange",
                    1,
                    "UNB",
                    f"UNB time {prep_time!r} is not a valid HHMM time",
                    4,
                    2,
                )
            )
    ref = unb.element(5)
    if not ref:
        issues.append(
            _i(
                SyntaxCode.MISSING,
                "interchange",
                1,
                "UNB",
                "UNB interchange control reference (0020) is missing",
                5,
            )
        )
    elif len(ref) > 14:
        issues.append(
            _i(
                SyntaxCode.DATA_ELEMENT_TOO_LONG,
                "interchange",
                1,
                "UNB",
                f"UNB control reference {ref!r} is longer than 14 characters",
                5,
            )
        )
    test = unb.element(11)
    if test and test != "1":
        issues.append(
            _i(
                SyntaxCode.INVALID_VALUE,
                "interchange",
                1,
                "UNB",
                f"UNB test indicator {test!r} must be 1 or absent",
                11,
            )
        )
    return issues


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
            _i(
                SyntaxCode.MISSING,
                "interchange",
                position,
                "UNZ",
                f"interchange {control_ref!r} has no UNZ trailer: the file is truncated or "
                f"UNZ+{groups or messages}+{control_ref} is missing",
            )
        ]
    issues: list[Issue] = []
    expected = groups if groups else messages
    count = unz.element(1)
    if count != str(expected) and not (count.isdigit() and int(count) == expected):
        issues.append(
            _i(
                SyntaxCode.CONTROL_COUNT_MISMATCH,
                "interchange",
                position,
                "UNZ",
                f"UNZ count {count!r} does not match the {expected} "
                f"{'groups' if groups else 'messages'} in the interchange",
                1,
            )
        )
    if unz.element(2) != control_ref:
        issues.append(
            _i(
                SyntaxCode.REFERENCES_DO_NOT_MATCH,
                "interchange",
                position,
                "UNZ",
                f"UNZ reference {unz.element(2)!r} does not match UNB reference {control_ref!r}",
                2,
            )
        )
    return issues


def check_ung(ung: Segment, position: int) -> list[Issue]:
    """UNG: group id, sender, recipient, reference."""
    issues: list[Issue] = []
    if not ung.element(1):
        issues.append(
            _i(
                SyntaxCode.MISSING,
                "interchange",
                position,
                "UNG",
                "UNG message group identification (0038) is missing",
                1,
            )
        )
    if not ung.element(5):
        issues.append(
            _i(
                SyntaxCode.MISSING,
                "interchange",
                position,
                "UNG",
                "UNG group reference number (0048) is missing",
                5,
            )
        )
    return issues


def check_une(une: Segment | None, position: int, group_ref: str, messages: int) -> list[Issue]:
    """UNE present, count = messages in the group, reference = UNG 0048."""
    if une is None:
        return [
            _i(
                SyntaxCode.MISSING,
                "interchange",
                position,
                "UNE",
                f"group {group_ref!r} has no UNE trailer: add UNE+{messages}+{group_ref}",
            )
        ]
    issues: list[Issue] = []
    count = une.element(1)
    if not (count.isdigit() and int(count) == messages):
        issues.append(
            _i(
                SyntaxCode.CONTROL_COUNT_MISMATCH,
                "interchange",
                position,
                "UNE",
                f"UNE count {count!r} does not match the {messages} messages in group "
                f"{group_ref!r}",
                1,
            )
        )
    if une.element(2) != group_ref:
        issues.append(
            _i(
                SyntaxCode.REFERENCES_DO_NOT_MATCH,
                "interchange",
                position,
                "UNE",
                f"UNE reference {une.element(2)!r} does not match UNG reference {group_ref!r}",
                2,
            )
        )
    return issues


def check_unh_unt(msg: Message) -> list[Issue]:
    """UNH reference and identifier; UNT present, segment count and reference."""
    unh = msg.unh
    unt = msg.unt
    if unt is not None and len(unh.elements) > 1 and len(unt.elements) > 1:
        # the usual case, decided without building any finding
        ref, s009 = unh.elements[0], unh.elements[1]
        count, unt_ref = unt.elements[0], unt.elements[1]
        if (
            ref.__class__ is str
            and 0 < len(ref) <= 14
            and s009.__class__ is list
            and len(s009) >= 4
            and all(s009[:4])
            and unt_ref == ref
            and count == str(msg.segment_count + 2)
        ):
            return []
    issues: list[Issue] = []
    ref = msg.ref
    if not ref:
        issues.append(
            _i(
                SyntaxCode.MISSING,
                "message",
                1,
                "UNH",
                "UNH message reference number (0062) is missing",
                1,
            )
        )
    elif len(ref) > 14:
        issues.append(
            _i(
                SyntaxCode.DATA_ELEMENT_TOO_LONG,
                "message",
                1,
                "UNH",
                f"UNH reference {ref!r} is longer than 14 characters",
                1,
            )
        )
    for component, name in ((1, "message type"), (2, "version"), (3, "release"), (4, "agency")):
        if not unh.element(2, component):
            issues.append(
                _i(
                    SyntaxCode.MISSING,
                    "message",
                    1,
                    "UNH",
                    f"UNH {name} (S009 component {component}) is missing",
                    2,
                    component,
                )
            )
    segments = msg.segment_count + 2
    unt = msg.unt
    if unt is None:
        issues.append(
            _i(
                SyntaxCode.MISSING,
                "message",
                segments - 1,
                "UNT",
                f"message {ref!r} has no UNT trailer: add UNT+{segments}+{ref}",
            )
        )
        return issues
    count = unt.element(1)
    if not (count.isdigit() and int(count) == segments):
        issues.append(
            _i(
                SyntaxCode.CONTROL_COUNT_MISMATCH,
                "message",
                segments,
                "UNT",
                f"UNT segment count {count!r} does not match the {segments} segments of "
                f"message {ref!r} (UNH to UNT inclusive)",
                1,
            )
        )
    if unt.element(2) != ref:
        issues.append(
            _i(
                SyntaxCode.REFERENCES_DO_NOT_MATCH,
                "message",
                segments,
                "UNT",
                f"UNT reference {unt.element(2)!r} does not match UNH reference {ref!r}",
                2,
            )
        )
    return issues
