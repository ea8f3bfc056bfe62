"""Buyer's changes to a sale Tryton has processed, through a ``sale.amendment`` (sale_amendment).

A processing sale's lines are read-only; Tryton's amendment changes a line's product,
quantity and price, then clears the sale's draft/waiting shipments and draft invoices and
processes the sale again. So, while no goods have left (every shipment draft or waiting,
no invoice posted): a changed line is amended, a deleted line and a cancellation set the
quantity to 0 (Tryton keeps such a sale, ``done`` with nothing to ship: it reads as
``cancelled``). A line cannot be added (Tryton creates lines only in draft): refused, like a
change once goods are picked or shipped (``code="too_late"``). One amendment per change
message, found again by its description: applying the same change twice changes nothing.
Tryton plans the goods of amended lines anew (today, without a product lead time): they get
the delivery date the sale's shipments had before (a date a change moved them to). That date
is written in the amendment's description after the marker, so a rerun after a crash between
the amendment and the move gives it back (older amendments: the marker alone, no date).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from connectors.erp import tryton_adjustments as adjustments
from connectors.erp.tryton_records import TrytonRecords
from schemas.errors import PermanentError
from schemas.model import SalesOrderChange, SalesOrderLineChange
from transforms.sale_adjustments import SaleAdjustment

SYSTEM = "erp"
UNSHIPPED = ("draft", "waiting", "cancelled")
UNINVOICED = ("draft", "cancelled")
PRICE_DIGITS = Decimal("0.0001")
KEPT = "; goods planned for "  # then the ISO date, in an amendment's description


def marker(change: SalesOrderChange) -> str:
    """The amendment's description begins so: names the change message, so a retry finds it."""
    return f"EDI change {change.change_number} of order {change.order_number}"


def description(change: SalesOrderChange, when: date | None) -> str:
    """The amendment's description: the marker and the date the sale's goods had before it,
    to give them back on a rerun when a crash came between the amendment and ``_keep_date``."""
    return marker(change) if when is None else f"{marker(change)}{KEPT}{when.isoformat()}"


def amend_sale(records: TrytonRecords, sale_id: int, name: str, change: SalesOrderChange) -> None:
    """Apply ``change`` to the processed sale ``sale_id`` (its number ``name``) by amendment."""
    if _resumed(records, sale_id, name, change):
        return
    _check_unshipped(records, sale_id, name)
    lines = records.search_read(
        "sale.line", [("sale", "=", sale_id), ("type", "=", "line")], adjustments.LINE_FIELDS
    )
    goods, extra = adjustments.separate(lines, adjustments.services(records))
    if not change.cancel and goods and not any(r["quantity"] for r in goods):
        raise PermanentError(
            f"sale {name} was cancelled (every line amended to 0): nothing was changed; "
            "send a new order", system=SYSTEM, code="cancelled",
        )  # fmt: skip
    amended = amendment_lines(records, lines if change.cancel else goods, change, name)
    if not change.cancel and (change.lines or change.allowance_charges):
        amended = _with_adjustments(records, goods, extra, lines, amended, change, name)
    if not amended:
        return  # the sale is already as the change asks
    when = planned_date(records, sale_id)
    rpc = records.rpc
    (amendment,) = rpc.model(
        "sale.amendment", "create",
        [{"sale": sale_id, "description": description(change, when),
          "lines": [("create", amended)]}],
        idempotent=False,
    )  # fmt: skip
    rpc.model("sale.amendment", "validate_amendment", [amendment], idempotent=True)
    _keep_date(records, sale_id, name, when)


def _resumed(records: TrytonRecords, sale_id: int, name: str, change: SalesOrderChange) -> bool:
    """Whether an earlier run made the amendment for ``change``; if so, what a failure left
    undone is finished: a draft one validated, the goods given back the date written in its
    description (a no-op when they have it, or when goods have left since: nothing to do)."""
    mark = marker(change)
    pattern = "".join("\\" + c if c in "\\%_" else c for c in mark) + "%"
    rows = records.search_read(
        "sale.amendment", [("sale", "=", sale_id), ("description", "like", pattern)],
        ["state", "description"],
    )  # fmt: skip
    found = [
        r for r in rows if r["description"] == mark or r["description"].startswith(mark + KEPT)
    ]
    if not found:
        return False
    drafts = [r["id"] for r in found if r["state"] == "draft"]
    kept = next((k for k in (_kept(r["description"], mark) for r in found) if k), None)
    when = (planned_date(records, sale_id) if drafts else None) or kept
    if drafts:
        records.rpc.model("sale.amendment", "validate_amendment", drafts, idempotent=True)
    if not _left(records, sale_id):
        _keep_date(records, sale_id, name, when)
    return True


def _kept(text: str, mark: str) -> date | None:
    """The date an amendment's description keeps for the goods (none from older versions,
    whose description is the marker alone, nor when the sale had no open shipment)."""
    rest = text[len(mark) + len(KEPT) :]
    try:
        return date.fromisoformat(rest) if text.startswith(mark + KEPT) else None
    except ValueError:
        return None


def planned_date(records: TrytonRecords, sale_id: int) -> date | None:
    """When the sale's goods are planned to leave: its open shipments' latest date."""
    (sale,) = records.read("sale.sale", [sale_id], ["shipments"])
    rows = records.read("stock.shipment.out", sale["shipments"], ["state", "planned_date"])
    dates = [r["planned_date"] for r in rows if r["state"] in ("draft", "waiting")
             and r["planned_date"]]  # fmt: skip
    return max(dates, default=None)


def _keep_date(records: TrytonRecords, sale_id: int, name: str, when: date | None) -> None:
    """Tryton plans the moves of amended lines anew (the product's lead time, else today):
    they go back to the date the sale's goods had (``move_shipments``)."""
    if when is not None and planned_date(records, sale_id) not in (None, when):
        move_shipments(records, sale_id, name, when)


def _with_adjustments(
    records: TrytonRecords, goods: list[dict[str, Any]], extra: list[SaleAdjustment],
    lines: list[dict[str, Any]], amended: list[dict[str, Any]], change: SalesOrderChange,
    name: str,
) -> list[dict[str, Any]]:  # fmt: skip
    """``amended`` and the lines that split the order-level allowances and charges again
    over the amended goods' VAT rates; one ``taxes`` line last when a product changes."""
    after = adjustments.amended_goods(records, goods, amended)
    more, product_changed = adjustments.amendment_lines(
        records, after, extra, {r["id"]: r for r in lines}, change, name
    )
    taxes = product_changed or any(a["action"] == "taxes" for a in amended)
    return [a for a in amended if a["action"] != "taxes"] + more + (
        [{"action": "taxes"}] if taxes else [])  # fmt: skip


def move_shipments(records: TrytonRecords, sale_id: int, name: str, when: date) -> None:
    """A new delivery date for a processed sale: its draft and waiting shipments planned for
    ``when`` (``move_shipments_many`` for this one sale); refused (``too_late``) once goods
    are assigned, picked or shipped."""
    refused = move_shipments_many(records, {sale_id: (name, when)})
    if sale_id in refused:
        raise refused[sale_id]


def move_shipments_many(
    records: TrytonRecords, targets: dict[int, tuple[str, date]]
) -> dict[int, PermanentError]:
    """New delivery dates for processed sales (sale id -> (its number, the date)), in a
    constant number of calls: each sale's draft and waiting shipments planned for its date
    (a waiting one goes back to draft for it, Tryton's rule, and waits again). A sale whose
    goods are assigned, picked or shipped, or invoiced, is not touched: its ``too_late``
    refusal is returned (sale id -> error), the others are moved. Idempotent, also after a
    crash between the draft and the wait: where Tryton waits a sale's shipments
    (``sale_wait_shipment``), a draft one is waited again on the retry."""
    if not targets:
        return {}
    shipments, left = _shipments_and_left(records, targets)
    refused = {s: _too_late(targets[s][0], left[s]) for s in sorted(targets) if left[s]}
    moved: dict[date, list[int]] = {}
    back: list[int] = []
    drafts: list[int] = []
    for sale_id, (_, when) in sorted(targets.items()):
        if sale_id in refused:
            continue
        for r in shipments[sale_id]:
            if r["state"] not in ("draft", "waiting"):
                continue
            if r["planned_date"] != when:
                moved.setdefault(when, []).append(r["id"])
                if r["state"] == "waiting":
                    back.append(r["id"])
            if r["state"] == "draft":
                drafts.append(r["id"])
    rewait = back + (drafts if drafts and _waits(records) else [])
    rpc = records.rpc
    if back:
        rpc.model("stock.shipment.out", "draft", back, idempotent=True)
    if moved:
        pairs = [x for day, ids in sorted(moved.items()) for x in (ids, {"planned_date": day})]
        rpc.model("stock.shipment.out", "write", *pairs, idempotent=True)
    if rewait:
        rpc.model("stock.shipment.out", "wait", rewait, idempotent=True)
    return refused


def _waits(records: TrytonRecords) -> bool:
    """Whether Tryton waits the shipments of a processed sale (sale configuration)."""
    (config,) = records.read("sale.configuration", [1], ["sale_wait_shipment"])
    return bool(config["sale_wait_shipment"])


def _shipments_and_left(
    records: TrytonRecords, sale_ids: Iterable[int]
) -> tuple[dict[int, list[dict[str, Any]]], dict[int, list[str]]]:
    """Per sale, in three reads for all: its shipments' rows (``state``, ``number``,
    ``planned_date``) and what has left of it: shipments picked, packed or shipped, invoices
    posted. A shipment two sales share is moved for the first of them not refused only."""
    sales = records.read("sale.sale", sorted(set(sale_ids)), ["shipments", "invoices"])
    ships = _rows(records, "stock.shipment.out", sales, "shipments", ["planned_date"])
    invoices = _rows(records, "account.invoice", sales, "invoices", [])
    shipments: dict[int, list[dict[str, Any]]] = {}
    left: dict[int, list[str]] = {}
    seen: set[int] = set()
    for sale in sorted(sales, key=lambda s: s["id"]):
        shipments[sale["id"]] = [ships[i] for i in sale["shipments"] if i not in seen]
        gone = [("shipment", ships[i]) for i in sale["shipments"]
                if ships[i]["state"] not in UNSHIPPED]  # fmt: skip
        gone += [("invoice", invoices[i]) for i in sale["invoices"]
                 if invoices[i]["state"] not in UNINVOICED]  # fmt: skip
        if not gone:  # a sale refused moves nothing
            seen.update(sale["shipments"])
        left[sale["id"]] = [f"{kind} {r['number'] or r['id']} is {r['state']}" for kind, r in gone]
    return shipments, left


def _rows(
    records: TrytonRecords, model: str, sales: list[dict[str, Any]], field: str,
    more: list[str],
) -> dict[int, dict[str, Any]]:  # fmt: skip
    """Id -> row (``state``, ``number`` and ``more``) of the sales' ``field`` records, in
    one read (none for none)."""
    ids = sorted({i for s in sales for i in s[field]})
    rows = records.read(model, ids, ["state", "number", *more]) if ids else []
    return {r["id"]: r for r in rows}


def _left(records: TrytonRecords, sale_id: int) -> list[str]:
    """What has left of the sale: its shipments picked, packed or shipped, invoices posted."""
    return _shipments_and_left(records, [sale_id])[1][sale_id]


def _too_late(name: str, moved: list[str]) -> PermanentError:
    """The refusal of a change to sale ``name`` once ``moved`` has left."""
    return PermanentError(
        f"sale {name}: {', '.join(moved)}: the change comes too late; agree it with the "
        "customer by phone or a new order", system=SYSTEM, code="too_late",
    )  # fmt: skip


def _check_unshipped(records: TrytonRecords, sale_id: int, name: str) -> None:
    """Refuse once goods are picked, packed or shipped, or an invoice is posted."""
    moved = _left(records, sale_id)
    if moved:
        raise _too_late(name, moved)


def amendment_lines(
    records: TrytonRecords, lines: list[dict[str, Any]], change: SalesOrderChange, name: str
) -> list[dict[str, Any]]:
    """The amendment's lines (action ``line``) for what differs from the sale's lines now;
    a ``taxes`` line when a product changes (its taxes follow)."""
    by_no = {int(r["sequence"] or 0): r for r in lines}
    if change.cancel:
        targets = {no: {"quantity": 0.0} for no in by_no}
    else:
        added = [c.line_no for c in change.lines if c.line_no not in by_no and c.action != "delete"]
        if added:
            raise PermanentError(
                f"sale {name} is processed: Tryton cannot add line(s) "
                f"{', '.join(map(str, added))} to it (only change or cancel lines); the change "
                "comes too late for that: send the new lines as a new order",
                system=SYSTEM, code="too_late",
            )  # fmt: skip
        targets = {c.line_no: _target(c) for c in change.lines if c.line_no in by_no}
    codes = sorted({str(t["product_code"]) for t in targets.values() if t.get("product_code")})
    products = records.product_rows_by_code(codes)
    amended, product_changed = [], False
    for no, target in sorted(targets.items()):
        row = by_no[no]
        original = {"action": "line", "line": row["id"], "product": row["product"],
                    "quantity": row["quantity"], "unit": row["unit"],
                    "unit_price": row["unit_price"], "description": row["description"]}  # fmt: skip
        new = dict(original)
        product = products.get(str(target.pop("product_code", "")))
        if product is not None and product.id != row["product"]:
            new.update(product=product.id, unit=product.unit_id)
            product_changed = True
        new.update(target)
        if new != original:
            amended.append(new)
    if product_changed:
        amended.append({"action": "taxes"})
    return amended


def _target(c: SalesOrderLineChange) -> dict[str, Any]:
    """What a change line sets on its sale line (nothing said: kept as it is)."""
    if c.action == "delete":
        return {"quantity": 0.0}
    target: dict[str, Any] = {}
    if c.quantity is not None:
        target["quantity"] = float(c.quantity)
    if c.unit_price is not None:
        target["unit_price"] = net_price(c.unit_price, c.discount_percent)
    if c.product_code:
        target["product_code"] = c.product_code
    return target


def net_price(price: Decimal, discount_percent: Decimal) -> Decimal:
    """The unit price less the line's allowance, at Tryton's price digits."""
    return (price * (1 - discount_percent / 100)).quantize(PRICE_DIGITS)
