"""EANCOM ORDERS (D96A EAN008, D01B EAN010) to canonical SalesOrder, and checks against the ERP.

Pure: segments in (anything with ``.tag`` and ``.element(position, component)``), a
SalesOrder or a list of positioned application errors out. Syntax and structure are checked
earlier by the codec; what is checked here is what the mapping relies on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Protocol

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from schemas.model import CENT, ErpSale, Product, SalesOrder
from transforms.edifact_orders_allowances import (
    alc_segments,
    line_adjustments,
    line_net_price,
    line_price_segments,
    order_level,
)


class SegmentLike(Protocol):
    """The little the mapping needs of a segment."""

    tag: str

    def element(self, position: int, component: int = 1) -> str: ...


@dataclass(frozen=True)
class AppError:
    """An application error in an order, positioned for APERAK/CONTRL and for people."""

    code: str  # our application error code, see APP_CODES
    message: str
    segment_position: int | None = None
    tag: str | None = None
    element_position: int | None = None
    line_no: int | None = None

    def as_dict(self) -> dict[str, object]:
        """JSON-able form (dead letters, reports)."""
        return {
            "code": self.code,
            "message": self.message,
            "segment_position": self.segment_position,
            "tag": self.tag,
            "element_position": self.element_position,
            "line_no": self.line_no,
        }


# application error codes used in APERAK ERC (EANCOM 9321 subset and hub-specific ones)
APP_CODES = {
    "12": "invalid value",
    "13": "missing",
    "BUYER": "unknown buyer (NAD+BY GLN not known in the ERP)",
    "DELIV": "unknown delivery party (NAD+DP GLN not known)",
    "GTIN": "unknown product (LIN GTIN not known in the ERP)",
    "PRICE": "price outside the agreed tolerance",
    "CUX": "currency not accepted",
    "DUP": "order number already used with different content",
    "FUNC": "message function not supported",
}


def parse_decimal(text: str) -> Decimal:
    """EDIFACT numeric: either decimal mark, optional leading minus; InvalidOperation if bad."""
    value = text.strip().replace(",", ".")
    if not value or value.count(".") > 1:
        raise InvalidOperation(text)
    return Decimal(value)


def parse_date(value: str, fmt: str) -> date:
    """DTM C507 value in format 102 (CCYYMMDD) or 203/204 (CCYYMMDDHHMM[SS])."""
    if fmt in ("", "102"):
        return datetime.strptime(value, "%Y%m%d").date()
    if fmt == "203":
        return datetime.strptime(value, "%Y%m%d%H%M").date()
    if fmt == "204":
        return datetime.strptime(value, "%Y%m%d%H%M%S").date()
    raise ValueError(f"date format {fmt!r} is not supported (use 102 or 203)")


@dataclass
class _OrderDraft:
    """What the segments of one ORDERS message said so far, and what was wrong with them."""

    fields: dict[str, object]
    errors: list[AppError] = field(default_factory=list)
    parties: dict[str, dict[str, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    lines: list[dict[str, object]] = field(default_factory=list)
    line: dict[str, object] | None = None
    declared_lines: tuple[int, int] | None = None
    in_detail: bool = False

    def err(self, code: str, message: str, pos: int, tag: str, element: int | None = None) -> None:
        """Record an application error, with the current line's number inside the detail."""
        line_no = int(str(self.line["line_no"])) if self.line and self.in_detail else None
        self.errors.append(AppError(code, message, pos, tag, element, line_no))


def _bgm(draft: _OrderDraft, seg: SegmentLike, pos: int) -> None:
    """BGM: document code, order number, message function."""
    doc = seg.element(1)
    if doc not in ("220", "105", "221", "226", "227", "402"):
        draft.err("12", f"BGM document code {doc!r} is not an order (220)", pos, seg.tag, 1)
    draft.fields["order_number"] = seg.element(2)
    function = seg.element(3) or "9"
    if function not in ("9", "29"):
        draft.err(
            "FUNC",
            f"BGM message function {function!r}: only 9 (original) is accepted",
            pos,
            seg.tag,
            3,
        )


def _dtm(draft: _OrderDraft, seg: SegmentLike, pos: int) -> None:
    """DTM+137 order date and DTM+2 requested delivery date (header level only)."""
    qualifier, value, fmt = seg.element(1, 1), seg.element(1, 2), seg.element(1, 3)
    if qualifier not in ("137", "2"):
        return
    try:
        parsed = parse_date(value, fmt)
    except ValueError as exc:
        draft.err(
            "12",
            f"DTM+{qualifier}: {value!r} is not a date in format {fmt or '102'}: {exc}",
            pos,
            seg.tag,
            1,
        )
        return
    if draft.in_detail and draft.line is not None and qualifier == "2":
        return  # line-level delivery dates are not mapped (header date rules)
    key = "order_date" if qualifier == "137" else "requested_delivery_date"
    draft.fields[key] = parsed


def _ftx(draft: _OrderDraft, seg: SegmentLike, pos: int) -> None:
    """FTX: free text becomes a note."""
    text = " ".join(filter(None, (seg.element(4, c) for c in range(1, 6))))
    if text:
        draft.notes.append(text)


def _nad(draft: _OrderDraft, seg: SegmentLike, pos: int) -> None:
    """NAD: a party's GLN by qualifier (BY, SU, DP, IV, ...)."""
    draft.parties[seg.element(1)] = {
        "gln": seg.element(2, 1),
        "agency": seg.element(2, 3),
        "pos": str(pos),
    }


def _cux(draft: _OrderDraft, seg: SegmentLike, pos: int) -> None:
    """CUX: the order currency, when given."""
    currency = seg.element(1, 2)
    if currency:
        draft.fields["currency"] = currency


def _lin(draft: _OrderDraft, seg: SegmentLike, pos: int) -> None:
    """LIN: closes the previous line and opens a new one (GTIN or buyer's item code)."""
    draft.in_detail = True
    if draft.line is not None:
        draft.lines.append(draft.line)
    number = seg.element(1)
    item, item_type = seg.element(3, 1), seg.element(3, 2)
    try:
        line_no = int(number)
    except ValueError:
        line_no = len(draft.lines) + 1
        draft.err("12", f"LIN line number {number!r} is not a number", pos, seg.tag, 1)
    line: dict[str, object] = {"line_no": line_no, "_pos": pos}
    if item and item_type in ("EN", "SRV", "UP", ""):
        line["gtin"] = item
    elif item:
        line["buyer_item_code"] = item
    draft.line = line


def _pia(draft: _OrderDraft, seg: SegmentLike, pos: int) -> None:
    """PIA: the buyer's (IN, BP) or supplier's (SA) item code of the current line."""
    if draft.line is None:
        return
    code, qualifier = seg.element(2, 1), seg.element(2, 2)
    if code and qualifier in ("IN", "BP"):
        draft.line["buyer_item_code"] = code
    elif code and qualifier in ("SA",):
        draft.line["product_code"] = code


def _imd(draft: _OrderDraft, seg: SegmentLike, pos: int) -> None:
    """IMD: the current line's description."""
    if draft.line is None:
        return
    description = seg.element(3, 4) or seg.element(3, 1)
    if description:
        draft.line["description"] = description


def _qty(draft: _OrderDraft, seg: SegmentLike, pos: int) -> None:
    """QTY+21: the current line's ordered quantity and unit."""
    line = draft.line
    if line is None:
        return
    qualifier, value, unit = seg.element(1, 1), seg.element(1, 2), seg.element(1, 3)
    if qualifier == "21":
        try:
            line["quantity"] = parse_decimal(value)
        except InvalidOperation:
            draft.err("12", f"QTY+21 quantity {value!r} is not a number", pos, seg.tag, 1)
        if unit:
            line["unit"] = unit


def _pri(draft: _OrderDraft, seg: SegmentLike, pos: int) -> None:
    """PRI+AAA/AAB: the current line's unit price (the first one given)."""
    line = draft.line
    if line is None:
        return
    qualifier, value = seg.element(1, 1), seg.element(1, 2)
    if qualifier in ("AAA", "AAB") and value and "unit_price" not in line:
        line["_net"] = qualifier == "AAA"
        try:
            line["unit_price"] = parse_decimal(value)
        except InvalidOperation:
            draft.err("12", f"PRI+{qualifier} price {value!r} is not a number", pos, seg.tag, 1)


def _alc(draft: _OrderDraft, seg: SegmentLike, pos: int) -> None:
    """ALC+A (allowance) / ALC+C (charge): opens an allowance whose PCD follows; in the
    detail it is the current line's, before it the whole order's (every line's)."""
    qualifier = seg.element(1)
    if qualifier not in ("A", "C"):
        draft.err("12", f"ALC qualifier {qualifier!r} is not A or C", pos, seg.tag, 1)
        return
    target = draft.line if draft.in_detail and draft.line is not None else draft.fields
    allowances = target.setdefault("_alc", [])
    assert isinstance(allowances, list)
    allowances.append({"kind": qualifier, "pos": pos, "percent": None, "amount": None,
                       "code": seg.element(5, 1), "text": seg.element(5, 4)})  # fmt: skip


def _pcd_moa(draft: _OrderDraft, seg: SegmentLike, pos: int) -> None:
    """PCD+1/3 (percentage) or MOA+204/23/8 (amount) of the allowance ALC opened."""
    target = draft.line if draft.in_detail and draft.line is not None else draft.fields
    allowances = target.get("_alc")
    if not isinstance(allowances, list) or not allowances or (draft.lines and not draft.in_detail):
        return  # a MOA of something else (summary totals): not an allowance
    qualifier, value = seg.element(1, 1), seg.element(1, 2)
    key = "percent" if seg.tag == "PCD" else "amount"
    if (seg.tag == "PCD" and qualifier not in ("1", "3")) or (
        seg.tag == "MOA" and qualifier not in ("204", "23", "8")
    ):
        return
    try:
        allowances[-1][key] = parse_decimal(value)
        allowances[-1][f"{key}_pos"] = pos
    except InvalidOperation:
        draft.err("12", f"{seg.tag}+{qualifier} {value!r} is not a number", pos, seg.tag, 1)


def _uns(draft: _OrderDraft, seg: SegmentLike, pos: int) -> None:
    """UNS: the detail section ends; the open line is complete."""
    draft.in_detail = False
    if draft.line is not None:
        draft.lines.append(draft.line)
        draft.line = None


def _cnt(draft: _OrderDraft, seg: SegmentLike, pos: int) -> None:
    """CNT+2: the number of lines the message declares."""
    if seg.element(1, 1) != "2":
        return
    try:
        draft.declared_lines = (int(parse_decimal(seg.element(1, 2))), pos)
    except InvalidOperation:
        draft.err("12", f"CNT+2 {seg.element(1, 2)!r} is not a number", pos, seg.tag, 1)


_SEGMENTS: dict[str, Callable[[_OrderDraft, SegmentLike, int], None]] = {
    "BGM": _bgm,
    "DTM": _dtm,
    "FTX": _ftx,
    "NAD": _nad,
    "CUX": _cux,
    "LIN": _lin,
    "PIA": _pia,
    "IMD": _imd,
    "QTY": _qty,
    "PRI": _pri,
    "ALC": _alc,
    "PCD": _pcd_moa,
    "MOA": _pcd_moa,
    "UNS": _uns,
    "CNT": _cnt,
}


def _finish(draft: _OrderDraft) -> None:
    """Close the last line, check CNT+2, map the parties and check the mandatory fields."""
    if draft.line is not None:
        draft.lines.append(draft.line)
    declared = draft.declared_lines
    if declared is not None and declared[0] != len(draft.lines):
        draft.err(
            "12",
            f"CNT+2 says {declared[0]} lines, the message has {len(draft.lines)}",
            declared[1],
            "CNT",
            1,
        )
    _apply_allowances(draft)
    for qualifier, key in (
        ("BY", "buyer"),
        ("SU", "supplier"),
        ("DP", "delivery"),
        ("IV", "invoicee"),
    ):
        if qualifier in draft.parties and draft.parties[qualifier]["gln"]:
            draft.fields[key] = {"gln": draft.parties[qualifier]["gln"]}
    for mandatory, what, tag in (
        ("order_number", "BGM document number", "BGM"),
        ("order_date", "DTM+137 order date", "DTM"),
        ("buyer", "NAD+BY buyer GLN", "NAD"),
    ):
        if not draft.fields.get(mandatory):
            draft.errors.append(AppError("13", f"{what} is missing", None, tag))


def _apply_allowances(draft: _OrderDraft) -> None:
    """Percentage allowances become the lines' discount (an order-level one every line's);
    order-level amounts and charges the order's ``allowance_charges``.

    A line's own amount allowances and charges (and percentage charges) make its price the
    net price (``line_net_price``: exact to the cent, or refused); the line keeps them (with
    the order's percentage allowances) as its ``allowance_charges``, and so does a line of
    percentages only whose reason is more than the default TD (a code or a text)."""
    alcs = draft.fields.pop("_alc", None) or []
    assert isinstance(alcs, list)
    header = [a for a in alcs if a["kind"] == "A" and a["percent"] is not None]
    discount = sum((a["percent"] for a in header), Decimal(0))
    for line in draft.lines:
        own = line.pop("_alc", None) or []
        net = line.pop("_net", False)  # PRI+AAA: the allowances are in the price already
        assert isinstance(own, list)
        if net:
            continue
        if any(a["kind"] == "C" or a["percent"] is None for a in own):
            price, error = line_net_price(line, discount, own)
            if error is not None:
                draft.errors.append(AppError("ALC", error.message, error.pos, error.tag,
                                             error.element, int(str(line["line_no"]))))  # fmt: skip
            elif price is not None:
                line["allowance_charges"] = line_adjustments(line, [*header, *own])
                line["unit_price"] = price
            continue
        percent = discount + sum((a["percent"] for a in own), Decimal(0))
        if percent:
            line["discount_percent"] = percent
        if any(a.get("code") not in ("", None, "TD") or a.get("text") for a in [*header, *own]):
            line["allowance_charges"] = line_adjustments(line, [*header, *own])
    found, errors = order_level(alcs, draft.lines)
    draft.fields["allowance_charges"] = found
    for e in errors:
        draft.errors.append(AppError("ALC", e.message, e.pos, e.tag, e.element))


def orders_to_sales_order(
    segments: Sequence[SegmentLike],
    *,
    default_currency: str = "EUR",
    source: str | None = None,
) -> tuple[SalesOrder | None, list[AppError]]:
    """Map the body of one ORDERS message (UNH excluded, position UNH=1) to a SalesOrder."""
    draft = _OrderDraft(fields={"currency": default_currency, "source": source})
    for index, seg in enumerate(segments):
        handler = _SEGMENTS.get(seg.tag)
        if handler is not None:
            handler(draft, seg, index + 2)
    _finish(draft)
    lines = draft.lines
    position_of_line = {int(str(ln["line_no"])): int(str(ln.pop("_pos"))) for ln in lines}
    draft.fields["lines"] = lines
    draft.fields["notes"] = tuple(draft.notes)
    if draft.errors:
        return None, draft.errors
    try:
        return SalesOrder.model_validate(draft.fields), []
    except ValidationError as exc:
        return None, [_from_validation(e, position_of_line, draft.parties) for e in exc.errors()]


def _from_validation(
    error: ErrorDetails,
    line_pos: Mapping[int, int],
    parties: Mapping[str, Mapping[str, str]],
) -> AppError:
    loc = tuple(error.get("loc", ()))
    message = f"{'.'.join(str(p) for p in loc)}: {error.get('msg')} (got {error.get('input')!r})"
    if loc and loc[0] == "lines" and len(loc) > 1 and isinstance(loc[1], int):
        line_no = loc[1] + 1
        tag = {"gtin": "LIN", "quantity": "QTY", "unit_price": "PRI"}.get(str(loc[-1]), "LIN")
        return AppError("12", message, line_pos.get(line_no), tag, None, line_no)
    if loc and loc[0] in ("buyer", "supplier", "delivery", "invoicee"):
        qualifier = {"buyer": "BY", "supplier": "SU", "delivery": "DP", "invoicee": "IV"}[
            str(loc[0])
        ]
        pos = parties.get(qualifier, {}).get("pos")
        return AppError("12", message, int(pos) if pos else None, "NAD", 2)
    if loc and loc[0] == "currency":
        return AppError("CUX", message, None, "CUX", 1)
    return AppError("12", message)


def check_against_erp(
    order: SalesOrder,
    *,
    products_by_gtin: Mapping[str, Product],
    known_party_glns: Iterable[str],
    price_tolerance_percent: Decimal,
    agreed_prices: Mapping[int, Decimal] | None = None,
) -> list[AppError]:
    """Unknown buyer/delivery party, unknown GTINs, partner prices outside the tolerance.

    A line's price is its net price (PRI less its ALC/PCD allowances), checked against
    ``agreed_prices`` (line number -> what the ERP charges this customer for that quantity:
    its price list and quantity breaks) or, without one, the product's list price."""
    known = set(known_party_glns)
    errors: list[AppError] = []
    if order.buyer.gln and order.buyer.gln not in known:
        errors.append(
            AppError("BUYER", f"buyer GLN {order.buyer.gln} is not a known customer", tag="NAD")
        )
    if order.delivery and order.delivery.gln and order.delivery.gln not in known:
        errors.append(
            AppError(
                "DELIV",
                f"delivery party GLN {order.delivery.gln} is not a known address",
                tag="NAD",
            )
        )
    for line in order.lines:
        product = products_by_gtin.get(line.gtin or "")
        if product is None:
            errors.append(
                AppError(
                    "GTIN",
                    f"line {line.line_no}: GTIN {line.gtin} is not a known product",
                    tag="LIN",
                    line_no=line.line_no,
                )
            )
            continue
        agreed = (agreed_prices or {}).get(line.line_no, product.list_price)
        if line.unit_price is not None and agreed is not None and agreed > 0:
            net = line.unit_price * (1 - line.discount_percent / 100)
            deviation = abs(net - agreed) / agreed * 100
            if deviation > price_tolerance_percent:
                shown = (
                    f"{line.unit_price} less {line.discount_percent}% = {_fmt(net)}"
                    if (line.discount_percent)
                    else _fmt(line.unit_price)
                )
                errors.append(
                    AppError(
                        "PRICE",
                        f"line {line.line_no}: price {shown} differs from the agreed "
                        f"{_fmt(agreed)} by {deviation:.2f}% (tolerance "
                        f"{price_tolerance_percent}%)",
                        tag="PRI",
                        line_no=line.line_no,
                    )
                )
    return errors


def resolve_codes(order: SalesOrder, products_by_gtin: Mapping[str, Product]) -> SalesOrder:
    """The order with each line's product_code filled in from its GTIN."""
    lines = [
        line.model_copy(update={"product_code": products_by_gtin[line.gtin].code})
        if line.gtin is not None and line.gtin in products_by_gtin and not line.product_code
        else line
        for line in order.lines
    ]
    return order.model_copy(update={"lines": tuple(lines)})


def line_differences(order: SalesOrder, sale: ErpSale) -> dict[int, str]:
    """Per order line: 'accepted' or 'changed' (ERP quantity or net price differs), for ORDRSP
    (the order's price less its allowances against the ERP's, to the cent)."""
    by_no = {line.line_no: line for line in sale.lines}
    result: dict[int, str] = {}
    for line in order.lines:
        erp_line = by_no.get(line.line_no)
        if erp_line is None:
            result[line.line_no] = "not_accepted"
        elif erp_line.quantity != line.quantity or (
            line.unit_price is not None
            and erp_line.unit_price.quantize(CENT)
            != (line.unit_price * (1 - line.discount_percent / 100)).quantize(CENT)
        ):
            result[line.line_no] = "changed"
        else:
            result[line.line_no] = "accepted"
    return result


def _fmt(value: Decimal, decimal_mark: str = ".") -> str:
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.replace(".", decimal_mark)


def sales_order_to_orders(
    order: SalesOrder, *, decimal_mark: str = "."
) -> list[tuple[object, ...]]:
    """The ORDERS body (UNH/UNT excluded) a partner would send for ``order``.

    The inverse of ``orders_to_sales_order`` for what EANCOM carries (used by the sandbox
    partner, the demo and property tests).
    """
    segments: list[tuple[object, ...]] = [
        ("BGM", "220", order.order_number, "9"),
        ("DTM", ["137", order.order_date.strftime("%Y%m%d"), "102"]),
    ]
    if order.requested_delivery_date:
        segments.append(("DTM", ["2", order.requested_delivery_date.strftime("%Y%m%d"), "102"]))
    for note in order.notes:
        segments.append(
            ("FTX", "ZZZ", "", "", [note[i : i + 70] for i in range(0, len(note), 70)][:5])
        )
    for qualifier, ref in (
        ("BY", order.buyer),
        ("SU", order.supplier),
        ("DP", order.delivery),
        ("IV", order.invoicee),
    ):
        if ref is not None and ref.gln:
            segments.append(("NAD", qualifier, [ref.gln, "", "9"]))
    segments.append(("CUX", ["2", order.currency, "9"]))
    for a in order.allowance_charges:
        segments += alc_segments(a, decimal_mark)
    for line in order.lines:
        segments.append(("LIN", str(line.line_no), "", [line.gtin or "", "EN"]))
        if line.buyer_item_code:
            segments.append(("PIA", "1", [line.buyer_item_code, "IN"]))
        if line.description:
            segments.append(("IMD", "F", "", ["", "", "", line.description[:35]]))
        quantity = ["21", _fmt(line.quantity, decimal_mark)]
        if line.unit != "unit":
            quantity.append(line.unit)
        segments.append(("QTY", quantity))
        segments += line_price_segments(line, decimal_mark)
    segments.append(("UNS", "S"))
    segments.append(("CNT", ["2", str(len(order.lines))]))
    return segments
