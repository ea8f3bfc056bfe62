"""Acknowledgement messages as segment lists: CONTRL (syntax), APERAK (application), ORDRSP.

Pure: the issues, the order and the ERP's answer in, segments (``(tag, *elements)`` tuples)
out; the caller wraps them in an interchange with the codec and allocated control numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from schemas.model import ErpSale, SalesOrder
from transforms.edifact_orders import AppError

Element = str | list[str]
SegmentTuple = tuple[str, ...] | tuple[object, ...]

CONTRL_TYPE = ["CONTRL", "2", "2", "UN", "EAN002"]
APERAK_TYPE = ["APERAK", "D", "96A", "UN", "EAN003"]
ORDRSP_TYPE = ["ORDRSP", "D", "96A", "UN", "EAN005"]

# 0013 service segment tags: the only values UCI may name (never a data segment's tag)
SERVICE_SEGMENT_TAGS = frozenset({"UNA", "UNB", "UNG", "UNE", "UNH", "UNT", "UNZ", "UNS"})

# UCI/UCM 0083 action codes
ACCEPTED = "7"
REJECTED = "4"


@dataclass(frozen=True)
class SyntaxFinding:
    """A syntax error as CONTRL reports it (from the codec's issues)."""

    code: int
    level: str
    segment_position: int | None = None
    tag: str | None = None
    element_position: int | None = None
    component_position: int | None = None


@dataclass(frozen=True)
class MessageVerdict:
    """One received message's outcome for UCM."""

    ref: str
    type: Sequence[str]  # S009 components, e.g. ["ORDERS", "D", "96A", "UN", "EAN008"]
    accepted: bool
    findings: Sequence[SyntaxFinding] = ()


def _num(value: Decimal, decimal_mark: str = ".") -> str:
    text = format(value.normalize(), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.replace(".", decimal_mark)


def contrl(
    *,
    interchange_ref: str,
    sender: tuple[str, str],
    recipient: tuple[str, str],
    interchange_findings: Sequence[SyntaxFinding],
    messages: Sequence[MessageVerdict],
) -> list[SegmentTuple]:
    """CONTRL body (UNH/UNT excluded) for one received interchange.

    ``sender``/``recipient`` are of the RECEIVED interchange (id, qualifier). Interchange
    level errors reject it as a whole (UCI 4 with the first error); otherwise UCI 7 and
    one UCM per message, rejected messages with UCS/UCD pointing at the failing spot.
    """
    first = interchange_findings[0] if interchange_findings else None
    uci: list[Element] = [interchange_ref, [sender[0], sender[1]], [recipient[0], recipient[1]]]
    if first is not None:
        uci += [REJECTED, str(first.code)]
        if first.tag in SERVICE_SEGMENT_TAGS:
            uci.append(first.tag)
    else:
        uci.append(ACCEPTED)
    segments: list[SegmentTuple] = [("UCI", *uci)]
    for verdict in messages:
        if verdict.accepted:
            segments.append(("UCM", verdict.ref, list(verdict.type), ACCEPTED))
            continue
        head = verdict.findings[0] if verdict.findings else None
        ucm: list[Element] = [verdict.ref, list(verdict.type), REJECTED]
        if head is not None and head.level == "message":
            ucm.append(str(head.code))
        segments.append(("UCM", *ucm))
        for finding in verdict.findings[:99]:
            if finding.segment_position is None or finding.level == "message":
                continue
            if finding.element_position:
                segments.append(("UCS", str(finding.segment_position)))
                # ISO 9735 0098 counts the segment tag as position 1: the first data
                # element after the tag is 2 (the codec counts it as element 1)
                element = str(finding.element_position + 1)
                position: Element = (
                    [element, str(finding.component_position)]
                    if finding.component_position
                    else element
                )
                segments.append(("UCD", str(finding.code), position))
            else:
                segments.append(("UCS", str(finding.segment_position), str(finding.code)))
    return segments


def aperak(
    *,
    document_number: str,
    issued: date,
    order_number: str,
    order_message_ref: str,
    our_gln: str,
    partner_gln: str,
    errors: Iterable[AppError],
) -> list[SegmentTuple]:
    """APERAK body: which order was refused and why, one ERC + FTX per application error."""
    segments: list[SegmentTuple] = [
        ("BGM", "313", document_number, "9"),
        ("DTM", ["137", issued.strftime("%Y%m%d"), "102"]),
        ("RFF", ["ON", order_number[:35]]),
        ("RFF", ["ACW", order_message_ref[:35]]),
        ("NAD", "MS", [our_gln, "", "9"]),
        ("NAD", "MR", [partner_gln, "", "9"]),
    ]
    for error in errors:
        segments.append(("ERC", [error.code[:8]]))
        text = error.message
        chunks = [text[i : i + 70] for i in range(0, min(len(text), 350), 70)] or [""]
        segments.append(("FTX", "AAO", "", "", chunks))
        if error.line_no is not None:
            segments.append(("RFF", ["LI", str(error.line_no)]))
    return segments


def ordrsp(
    *,
    document_number: str,
    issued: date,
    order: SalesOrder,
    sale: ErpSale,
    line_status: Mapping[int, str],
    supplier_gln: str,
    gtin_by_code: Mapping[str, str],
    decimal_mark: str = ".",
    backorders: Mapping[int, tuple[Decimal, date]] | None = None,
) -> list[SegmentTuple]:
    """ORDRSP body: BGM+231, accepted (29) or changed (4), lines with the ERP's qty and price.

    ``backorders`` (line -> quantity, date): of the sale line's quantity that much comes
    later, by that date: QTY+21 is what ships now, QTY+83 the backorder, DTM+69 its date."""
    changed = any(status != "accepted" for status in line_status.values())
    segments: list[SegmentTuple] = [
        ("BGM", "231", document_number, "4" if changed else "29"),
        ("DTM", ["137", issued.strftime("%Y%m%d"), "102"]),
        ("RFF", ["ON", order.order_number]),
        ("DTM", ["171", order.order_date.strftime("%Y%m%d"), "102"]),
        ("RFF", ["VN", sale.number or sale.erp_id]),
        ("NAD", "BY", [order.buyer.gln or "", "", "9"]),
        ("NAD", "SU", [supplier_gln, "", "9"]),
        ("CUX", ["2", sale.currency, "9"]),
    ]
    by_no = {line.line_no: line for line in sale.lines}
    for line in order.lines:
        status = line_status.get(line.line_no, "not_accepted")
        action = {"accepted": "5", "changed": "3"}.get(status, "7")
        erp_line = by_no.get(line.line_no)
        gtin = line.gtin or (gtin_by_code.get(erp_line.product_code, "") if erp_line else "")
        segments.append(("LIN", str(line.line_no), action, [gtin, "EN"]))
        quantity = erp_line.quantity if erp_line else Decimal(0)
        later = (backorders or {}).get(line.line_no)
        segments.append(("QTY", ["21", _num(quantity - (later[0] if later else 0), decimal_mark)]))
        if later is not None:
            segments.append(("QTY", ["83", _num(later[0], decimal_mark)]))
            segments.append(("DTM", ["69", later[1].strftime("%Y%m%d"), "102"]))
        if erp_line is not None:
            segments.append(("PRI", ["AAA", _num(erp_line.unit_price, decimal_mark)]))
    segments.append(("UNS", "S"))
    segments.append(("CNT", ["2", str(len(order.lines))]))
    return segments
