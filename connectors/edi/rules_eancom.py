"""EANCOM rules the hub relies on: order number, dates, GLN parties, GTIN lines, currency."""

from __future__ import annotations

from connectors.edi.codelists import CODED_ELEMENTS, CURRENCIES, DOCUMENT_NAMES, LISTS, NAMES
from connectors.edi.directory import AGENCY_GS1, GLN_PARTIES, GTIN_ITEM_TYPES
from connectors.edi.errors import Issue, SyntaxCode, echo, issue_at
from connectors.edi.tokenizer_events import Message
from connectors.edi.tokenizer_segments import Segment


def gs1_ok(digits: str) -> bool:
    """The GS1 mod-10 check digit of a string of digits holds.

    The algorithm of ``stdnum.ean`` (tests compare the two on random numbers), written out
    because it runs for every GLN and GTIN of every message: stdnum's ``is_valid`` (compact,
    validate, compute) costs about ten times more, most of the validation time on files
    whose parties and items all differ.
    """
    b = digits.encode("ascii")
    odd, even = b[-2::-2], b[-3::-2]
    return (3 * (sum(odd) - 48 * len(odd)) + sum(even) - 48 * len(even) + b[-1] - 48) % 10 == 0


def gtin_ok(value: str) -> bool:
    """A GTIN-8/12/13/14 with a valid check digit (not cached: on real-world data every
    order brings new ones, and a cache costs more than the check)."""
    if not (value.isdigit() and value.isascii() and len(value) in (8, 12, 13, 14)):
        return False
    b = value.encode("ascii")  # gs1_ok, inlined: this runs for every line of every order
    odd, even = b[-2::-2], b[-3::-2]
    return (3 * (sum(odd) - 48 * len(odd)) + sum(even) - 48 * len(even) + b[-1] - 48) % 10 == 0


def gln_ok(value: str) -> bool:
    """A GLN: 13 digits with a valid GS1 check digit."""
    return len(value) == 13 and gtin_ok(value)


def eancom_segment(seg: Segment, position: int, is_orders: bool, issues: list[Issue]) -> None:
    """The EANCOM rules that look at one segment alone (BGM, NAD, LIN, CUX)."""
    tag = seg.tag
    if tag == "BGM":
        _check_bgm(seg, position, issues)
    elif tag == "NAD":
        _check_nad(seg, position, issues)
    elif tag == "LIN":
        _check_lin(seg, position, is_orders, issues)
    elif tag == "CUX":
        _check_cux(seg, position, issues)


def _check_bgm(seg: Segment, position: int, issues: list[Issue]) -> None:
    """BGM: the document (order) number is there."""
    if not seg.element(2):
        issues.append(
            issue_at(
                SyntaxCode.MISSING,
                position,
                "BGM",
                "BGM document number (1004) is missing: the partner's order number "
                "goes in BGM element 2",
                2,
            )
        )


def _check_nad(seg: Segment, position: int, issues: list[Issue]) -> None:
    """NAD: a GS1 party id is a valid GLN; the parties the mapping resolves use GS1 ids."""
    qualifier = seg.element(1)
    party_id = seg.element(2)
    agency = seg.element(2, 3)
    if party_id and agency == AGENCY_GS1:
        if not gln_ok(party_id):
            issues.append(
                issue_at(
                    SyntaxCode.INVALID_VALUE,
                    position,
                    "NAD",
                    f"NAD+{qualifier} party id {echo(party_id)} is not a valid GLN "
                    "(13 digits with a GS1 check digit)",
                    2,
                    1,
                )
            )
    elif qualifier in GLN_PARTIES and party_id:
        issues.append(
            issue_at(
                SyntaxCode.VALUE_NOT_SUPPORTED_HERE,
                position,
                "NAD",
                f"NAD+{qualifier} code list agency {echo(agency or '(none)')} is not "
                "supported: identify the party by GLN with agency 9",
                2,
                3,
            )
        )


def _check_lin(seg: Segment, position: int, is_orders: bool, issues: list[Issue]) -> None:
    """LIN: an item number that is a valid GTIN (an order line must have one)."""
    item = seg.element(3)
    item_type = seg.element(3, 2)
    if not item:
        if is_orders:
            issues.append(
                issue_at(
                    SyntaxCode.MISSING,
                    position,
                    "LIN",
                    f"LIN {seg.element(1) or ''} has no GTIN in C212: put the item's "
                    "GTIN in LIN element 3 with type EN (e.g. LIN+1++4000862141404:EN)",
                    3,
                    1,
                )
            )
    elif item_type in GTIN_ITEM_TYPES:
        if not gtin_ok(item):
            issues.append(
                issue_at(
                    SyntaxCode.INVALID_VALUE,
                    position,
                    "LIN",
                    f"LIN GTIN {echo(item)} is not valid (8/12/13/14 digits with a GS1 "
                    "check digit)",
                    3,
                    1,
                )
            )
    elif is_orders:
        issues.append(
            issue_at(
                SyntaxCode.VALUE_NOT_SUPPORTED_HERE,
                position,
                "LIN",
                f"LIN item number type {echo(item_type or '(none)')} is not supported: "
                "use EN (GTIN)",
                3,
                2,
            )
        )


def _check_cux(seg: Segment, position: int, issues: list[Issue]) -> None:
    """CUX: the currency is an ISO 4217 code."""
    currency = seg.element(1, 2)
    if currency and not (len(currency) == 3 and currency.isupper() and currency in CURRENCIES):
        issues.append(
            issue_at(
                SyntaxCode.INVALID_VALUE,
                position,
                "CUX",
                f"currency {echo(currency)} is not an ISO 4217 code (e.g. EUR)",
                1,
                2,
            )
        )


def check_codes(
    seg: Segment, position: int, message: str, issues: list[Issue], *, lenient: bool = False
) -> None:
    """The EANCOM code lists of one segment (``codelists``); ``message``: e.g. ``ORDERS``."""
    tag = seg.tag
    if tag == "BGM":
        names = DOCUMENT_NAMES.get(message)
        code = seg.element(1)
        if names is not None and code and code not in names:
            issues.append(_code_issue(seg, position, "1001", code, 1, 1, lenient, message))
    for element, component, number in CODED_ELEMENTS.get(tag, ()):
        code = seg.element(element, component)
        if code and code not in LISTS[number]:
            issues.append(
                _code_issue(seg, position, number, code, element, component, lenient, message)
            )


def _code_issue(
    seg: Segment,
    position: int,
    number: str,
    code: str,
    element: int,
    component: int,
    lenient: bool,
    message: str,
) -> Issue:
    issue = issue_at(
        SyntaxCode.INVALID_VALUE,
        position,
        seg.tag,
        f"{seg.tag} {echo(code)} is not in EANCOM code list {number} ({NAMES[number]})"
        + (f" for {message}" if number == "1001" else "")
        + ": use a code of that list",
        element,
        component,
    )
    issue.warning = lenient
    return issue


EANCOM_SEGMENT_TAGS = frozenset({"BGM", "NAD", "LIN", "CUX"})
# tags whose values the plain checks read beyond the element formats
FACT_TAGS = EANCOM_SEGMENT_TAGS | {"DTM", "QTY", "UNS"} | frozenset(CODED_ELEMENTS)


def check_eancom(msg: Message, mtype: str, *, lenient: bool = False) -> list[Issue]:
    """EANCOM rules the hub relies on (ORDERS: order number, dates, parties, GTIN lines)
    and the code lists; ``lenient``: a code outside its list is a warning."""
    issues: list[Issue] = []
    is_orders = mtype.startswith("ORDERS:")
    message = mtype.split(":", 1)[0]
    header_dtm: set[str] = set()
    parties: set[str] = set()
    lines = 0
    line_start: tuple[int, str] | None = None
    line_has_qty21 = True
    in_lines = False
    last = msg.segment_count + 2

    def close_line(at: int) -> None:
        if line_start is not None and not line_has_qty21 and is_orders:
            issues.append(
                issue_at(
                    SyntaxCode.MISSING,
                    line_start[0],
                    "QTY",
                    f"order line {line_start[1] or '?'} (LIN at segment {line_start[0]}) has "
                    "no ordered quantity QTY+21: add QTY+21:<quantity>",
                    level="message",
                )
            )

    for i, seg in enumerate(msg.segments):
        position = i + 2
        tag = seg.tag
        if tag in CODED_ELEMENTS:
            check_codes(seg, position, message, issues, lenient=lenient)
        if tag == "BGM" or tag == "CUX":
            eancom_segment(seg, position, is_orders, issues)
        elif tag == "DTM" and not in_lines:
            header_dtm.add(seg.element(1))
        elif tag == "NAD":
            if not in_lines:
                parties.add(seg.element(1))
            eancom_segment(seg, position, is_orders, issues)
        elif tag == "LIN":
            close_line(position)
            in_lines = True
            lines += 1
            line_start = (position, seg.element(1))
            line_has_qty21 = False
            eancom_segment(seg, position, is_orders, issues)
        elif tag == "QTY":
            if seg.element(1) == "21":
                line_has_qty21 = True
        elif tag == "UNS":
            close_line(position)
            line_start = None
            in_lines = False
    close_line(last)
    if is_orders:
        issues.extend(_orders_missing("137" in header_dtm, parties, lines, last))
    return issues


def _orders_missing(has_137: bool, parties: set[str], lines: int, last: int) -> list[Issue]:
    issues: list[Issue] = []
    if not has_137:
        issues.append(
            issue_at(
                SyntaxCode.MISSING,
                last,
                "DTM",
                "the order date DTM+137 is missing in the header: add "
                "DTM+137:<CCYYMMDD>:102 after BGM",
                level="message",
            )
        )
    for qualifier, name in (("BY", "buyer"), ("SU", "supplier")):
        if qualifier not in parties:
            issues.append(
                issue_at(
                    SyntaxCode.MISSING,
                    last,
                    "NAD",
                    f"the {name} NAD+{qualifier} is missing: add "
                    f"NAD+{qualifier}+<GLN>::9 in the header",
                    level="message",
                )
            )
    if lines == 0:
        issues.append(
            issue_at(
                SyntaxCode.MISSING,
                last,
                "LIN",
                "the order has no lines: add at least one LIN group",
                level="message",
            )
        )
    return issues
