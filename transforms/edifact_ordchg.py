"""EANCOM ORDCHG (D96A EAN008) and ORDERS cancellations to a SalesOrderChange, and back.

Pure. An ORDCHG names the order it changes by RFF+ON (BGM 1004 is the change's own number);
BGM 1225 says what it is: 1 = cancellation of the whole order, 4/5 = a change (replace).
Per line LIN 1229: 1 added, 2 deleted, 3 changed (quantity QTY+21, price PRI, allowance
ALC/PCD, as in ORDERS), 4/5 unchanged (ignored). An ORDERS with BGM 1225 = 1 is a
cancellation of the order of that number. The lines' QTY/PRI/ALC are read by the ORDERS
mapping (``transforms.edifact_orders``), so both messages price a line the same way. An
ALC with an amount before the first LIN (MOA+204 allowance, MOA+23 charge; MOA 0: none any
more) restates the order-level allowances and charges: they replace the order's
(``SalesOrderChange.allowance_charges``); a percentage allowance there is the changed
lines' discount, as in ORDERS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Literal

from pydantic import ValidationError

from schemas.model import (
    AllowanceCharge,
    ErpSale,
    PartyRef,
    SalesOrderChange,
    SalesOrderLineChange,
)
from transforms.edifact_orders import AppError, SegmentLike, orders_to_sales_order, parse_decimal
from transforms.edifact_orders_allowances import ADJUSTMENT_PRODUCTS, alc_segments

ORDCHG_TYPE = ["ORDCHG", "D", "96A", "UN", "EAN008"]
CANCELLATION = "1"
LINE_ACTIONS: dict[str, Literal["add", "delete", "change"]] = {
    "1": "add",
    "2": "delete",
    "3": "change",
}
UNCHANGED = ("4", "5", "")
AMOUNTS = {"204": "A", "23": "C", "8": ""}  # MOA qualifiers of an ALC's amount (8: either)
ALC_GROUP = ("ALC", "PCD", "MOA", "TAX", "RTE", "QTY")  # an ALC and what follows it


def is_cancellation(segments: Sequence[SegmentLike]) -> bool:
    """An ORDERS (or ORDCHG) whose BGM message function is 1 (cancellation)."""
    bgm = next((s for s in segments if s.tag == "BGM"), None)
    return bgm is not None and bgm.element(3) == CANCELLATION


def _header(segments: Sequence[SegmentLike], kind: str) -> tuple[dict[str, str], list[AppError]]:
    """BGM number and function, RFF+ON, NAD+BY of a change or cancellation."""
    found: dict[str, str] = {}
    errors: list[AppError] = []
    for seg in segments:
        if seg.tag == "BGM":
            found["number"], found["function"] = seg.element(2), seg.element(3)
        elif seg.tag == "RFF" and seg.element(1, 1) == "ON" and "order" not in found:
            found["order"] = seg.element(1, 2)
        elif seg.tag == "NAD" and seg.element(1) == "BY":
            found["buyer"] = seg.element(2, 1)
        elif seg.tag == "DTM" and seg.element(1, 1) == "2":
            found["delivery"] = seg.element(1, 2)
        elif seg.tag == "LIN":
            break
    if kind == "ORDERS":  # a cancelling ORDERS names its own order in BGM
        found["order"] = found.get("number", "")
    for key, what, tag in (
        ("number", "BGM document number", "BGM"),
        ("order", "RFF+ON: the number of the order being changed", "RFF"),
        ("buyer", "NAD+BY buyer GLN", "NAD"),
    ):
        if not found.get(key):
            errors.append(AppError("13", f"{what} is missing", None, tag))
    return found, errors


def _line_actions(segments: Sequence[SegmentLike]) -> tuple[dict[int, str], list[AppError]]:
    actions: dict[int, str] = {}
    errors: list[AppError] = []
    for pos, seg in enumerate(segments, start=2):
        if seg.tag != "LIN":
            continue
        try:
            line_no = int(seg.element(1))
        except ValueError:
            continue  # the ORDERS mapping reports it
        code = seg.element(2)
        if code not in LINE_ACTIONS and code not in UNCHANGED:
            errors.append(AppError(
                "12", f"LIN {line_no}: action code {code!r} is not 1 (added), 2 (deleted), "
                "3 (changed) or 4/5 (unchanged)", pos, "LIN", 2, line_no,
            ))  # fmt: skip
        actions[line_no] = code
    return actions, errors


@dataclass
class _Bgm:
    """The BGM an ORDERS would have: the change's lines are read by the ORDERS mapping."""

    number: str
    tag: str = "BGM"

    def element(self, position: int, component: int = 1) -> str:
        values = {1: "220", 2: self.number, 3: "9"}
        return values.get(position, "") if component == 1 else ""


def _has_lines(segments: Sequence[SegmentLike]) -> bool:
    return any(s.tag == "LIN" for s in segments)


def _without_deleted(
    segments: Sequence[SegmentLike],
) -> tuple[list[SegmentLike], list[tuple[int, str | None]]]:
    """The body without the deleted lines' groups (LIN 1229 = 2, up to the next LIN or UNS)
    and without CNT (its count includes them); and (line number, GTIN) of each deleted."""
    kept: list[SegmentLike] = []
    deleted: list[tuple[int, str | None]] = []
    skipping = False
    for seg in segments:
        if seg.tag in ("LIN", "UNS"):
            skipping = seg.tag == "LIN" and seg.element(2) == "2"
            if skipping and seg.element(1).isdigit():
                deleted.append((int(seg.element(1)), seg.element(3, 1) or None))
        if seg.tag == "BGM":
            kept.append(_Bgm(seg.element(2)))
        elif not skipping and seg.tag != "CNT":
            kept.append(seg)
    return kept, deleted


@dataclass
class _Alc:
    """One order-level ALC group of a change: where it is, what it says."""

    segments: list[int]
    charge: bool
    pos: int
    code: str
    text: str
    amount: Decimal | None = None
    percent: bool = False


def _header_alc_groups(segments: Sequence[SegmentLike]) -> list[_Alc]:
    """The ALC groups before the first LIN (segment indexes, kind, amount, percentage)."""
    groups: list[_Alc] = []
    for i, seg in enumerate(segments):
        if seg.tag == "LIN":
            break
        if seg.tag == "ALC":
            groups.append(_Alc([i], seg.element(1) == "C", i + 2, seg.element(5, 1),
                               seg.element(5, 4)))  # fmt: skip
        elif groups and seg.tag in ALC_GROUP and groups[-1].segments[-1] == i - 1:
            alc = groups[-1]
            alc.segments.append(i)
            alc.percent |= seg.tag == "PCD"
            if seg.tag == "MOA" and seg.element(1, 1) in AMOUNTS:
                try:
                    alc.amount = parse_decimal(seg.element(1, 2))
                except InvalidOperation:
                    alc.amount = Decimal(-1)  # reported below as not an amount
    return groups


def restated_allowances(
    segments: Sequence[SegmentLike],
) -> tuple[tuple[AllowanceCharge, ...], set[int], list[AppError]]:
    """The change's order-level allowances and charges (ALC with MOA before the first LIN),
    the indexes of their segments (the ORDERS mapping does not read them again), errors."""
    found: list[AllowanceCharge] = []
    taken: set[int] = set()
    errors: list[AppError] = []
    for alc in _header_alc_groups(segments):
        if alc.amount is None and alc.percent and not alc.charge:
            continue  # the changed lines' discount, as in ORDERS
        taken.update(alc.segments)
        kind = "ALC+C" if alc.charge else "ALC+A"
        if alc.amount is None:
            errors.append(AppError("13", f"order-level {kind}: restate it as an amount "
                                   "(MOA+204 allowance, MOA+23 charge; 0 for none)", alc.pos,
                                   "ALC", 1))  # fmt: skip
        elif alc.amount < 0:
            errors.append(AppError("12", f"order-level {kind}: the MOA amount is not a "
                                   "number of 0 or more", alc.pos, "MOA", 1))  # fmt: skip
        else:
            found.append(AllowanceCharge(charge=alc.charge, amount=alc.amount,
                                         reason=alc.text or None,
                                         reason_code=alc.code or None))  # fmt: skip
    return tuple(found), taken, errors


def ordchg_to_change(
    segments: Sequence[SegmentLike], *, kind: str = "ORDCHG", source: str | None = None
) -> tuple[SalesOrderChange | None, list[AppError]]:
    """The change (or cancellation) a message's body says, or the errors that stop it."""
    head, errors = _header(segments, kind)
    if errors:
        return None, errors
    cancel = head["function"] == CANCELLATION
    lines: list[SalesOrderLineChange] = []
    allowances: tuple[AllowanceCharge, ...] = ()
    delivery = _delivery(head.get("delivery", ""))
    if not cancel:
        actions, errors = _line_actions(segments)
        allowances, taken, alc_errors = restated_allowances(segments)
        errors += alc_errors
        if (
            not any(a in LINE_ACTIONS for a in actions.values())
            and delivery is None
            and not (allowances or alc_errors)
        ):
            errors.append(AppError("13", "the change has no added, deleted or changed line, "
                                   "no new delivery date (DTM+2) and no order-level allowance "
                                   "(ALC before the first LIN)"))  # fmt: skip
        kept, deleted = _without_deleted([s for i, s in enumerate(segments) if i not in taken])
        lines = [SalesOrderLineChange(line_no=n, action="delete", gtin=g) for n, g in deleted]
        order, mapped = orders_to_sales_order(kept, source=source) if _has_lines(kept) else (
            None, [])  # fmt: skip
        errors += mapped
        if errors:
            return None, errors
        for line in order.lines if order is not None else ():
            action = LINE_ACTIONS.get(actions.get(line.line_no, ""))
            if action is not None:
                lines.append(SalesOrderLineChange(
                    line_no=line.line_no, action=action, gtin=line.gtin,
                    product_code=line.product_code, quantity=line.quantity,
                    unit_price=line.unit_price, discount_percent=line.discount_percent,
                    allowance_charges=line.allowance_charges,
                ))  # fmt: skip
        lines.sort(key=lambda c: c.line_no)
    else:
        delivery = None
    try:
        change = SalesOrderChange(
            order_number=head["order"], change_number=head["number"],
            buyer=PartyRef(gln=head["buyer"]), cancel=cancel,
            requested_delivery_date=delivery, lines=tuple(lines), source=source,
            allowance_charges=allowances,
        )  # fmt: skip
    except ValidationError as exc:
        return None, [AppError("12", f"the change is not valid: {exc.errors()[0]['msg']}")]
    return change, []


def _delivery(value: str) -> date | None:
    """The header's DTM+2 (CCYYMMDD); a malformed one is reported by the ORDERS mapping."""
    try:
        return datetime.strptime(value, "%Y%m%d").date() if value else None
    except ValueError:
        return None


def change_to_ordchg(change: SalesOrderChange, *, order_date: str) -> list[tuple[object, ...]]:
    """The ORDCHG body a partner would send for ``change`` (sandbox, demo and tests)."""
    segments: list[tuple[object, ...]] = [
        ("BGM", "230", change.change_number, CANCELLATION if change.cancel else "4"),
        ("DTM", ["137", order_date, "102"]),
    ]
    if change.requested_delivery_date is not None:
        segments.append(("DTM", ["2", change.requested_delivery_date.strftime("%Y%m%d"), "102"]))
    segments += [
        ("RFF", ["ON", change.order_number]),
        ("NAD", "BY", [change.buyer.gln or "", "", "9"]),
    ]
    for a in change.allowance_charges:
        segments += alc_segments(a, ".")
    codes = {v: k for k, v in LINE_ACTIONS.items()}
    for line in change.lines:
        segments.append(("LIN", str(line.line_no), codes[line.action], [line.gtin or "", "EN"]))
        if line.quantity is not None:
            segments.append(("QTY", ["21", format(line.quantity.normalize(), "f")]))
        if line.unit_price is not None:
            segments.append(("PRI", ["AAA", format(line.unit_price.normalize(), "f")]))
    segments.append(("UNS", "S"))
    if change.lines:
        segments.append(("CNT", ["2", str(len(change.lines))]))
    return segments


def change_response(
    *,
    document_number: str,
    issued: str,
    change: SalesOrderChange,
    supplier_gln: str,
    currency: str,
    sale: ErpSale | None,
    refusal: str | None = None,
    gtin_by_code: dict[str, str] | None = None,
) -> list[tuple[object, ...]]:
    """The ORDRSP answering a change or cancellation (BGM 231, CCYYMMDD ``issued``).

    Applied: 29 (accepted), with the sale's lines as they are now (LIN 1229 5 unchanged,
    3 changed, 1 added) and the deleted ones (2) with quantity 0; a cancellation accepted
    has no lines; DTM+2 the sale's delivery date now. Refused (too late, unknown order): 27
    (not accepted) and FTX the reason. The sale's order-level allowance and charge lines
    (``ADJUSTMENT_PRODUCTS``) are no order lines: never answered as LIN.
    """
    segments: list[tuple[object, ...]] = [
        ("BGM", "231", document_number, "27" if refusal else "29"),
        ("DTM", ["137", issued, "102"]),
    ]
    if sale is not None and sale.delivery_date is not None and not refusal:
        segments.append(("DTM", ["2", sale.delivery_date.strftime("%Y%m%d"), "102"]))
    if refusal:
        segments.append(("FTX", "AAO", "", "", [refusal[i : i + 70] for i in range(0, min(
            len(refusal), 350), 70)]))  # fmt: skip
    segments.append(("RFF", ["ON", change.order_number]))
    if sale is not None and sale.number:
        segments.append(("RFF", ["VN", sale.number]))
    segments += [
        ("NAD", "BY", [change.buyer.gln or "", "", "9"]),
        ("NAD", "SU", [supplier_gln, "", "9"]),
        ("CUX", ["2", currency, "9"]),
    ]
    lines = 0
    if sale is not None and not refusal and not change.cancel:
        codes = gtin_by_code or {}
        actions = {c.line_no: c.action for c in change.lines}
        for line in (ln for ln in sale.lines if ln.product_code not in ADJUSTMENT_PRODUCTS):
            action = {"add": "1", "change": "3"}.get(actions.get(line.line_no, ""), "5")
            gtin = line.gtin or codes.get(line.product_code, "")
            segments.append(("LIN", str(line.line_no), action, [gtin, "EN"]))
            segments.append(("QTY", ["21", format(line.quantity.normalize(), "f")]))
            segments.append(("PRI", ["AAA", format(line.unit_price.normalize(), "f")]))
            lines += 1
        for c in change.lines:
            if c.action == "delete":
                segments.append(("LIN", str(c.line_no), "2", [c.gtin or "", "EN"]))
                segments.append(("QTY", ["21", "0"]))
                lines += 1
    segments.append(("UNS", "S"))
    segments.append(("CNT", ["2", str(lines)]))
    return segments
