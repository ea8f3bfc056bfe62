"""Sales on Tryton: idempotent batch creation (buyers, create, prices, quote, confirm), reads.

A batch costs a constant number of calls whatever its size: one read of the buyers, one
search for sales already made, one ``create`` with nested lines, one ``quote`` and one
``confirm`` for all of them, one read back. Only lines without a partner price need more:
one ``sale_price_uom`` read per (price list, quantity, currency) group.

Tryton plans a processed sale's goods from the product's lead time and, for a product
without one, for today, whatever shipping date the order asked (DTM+2). The read back finds
such sales; only their open shipments are moved to the asked date, all in a few calls
(``move_shipments_many``), then read again. A rerun finds them there and writes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

from connectors.erp import tryton_amendments
from connectors.erp.jsonrpc import SYSTEM
from connectors.erp.port import SaleResult, TargetState
from connectors.erp.tryton_records import TrytonRecords
from schemas.errors import HubError, OutcomeUnknownError, PermanentError, TransientError
from schemas.model import CENT, ErpSale, SalesOrder
from transforms import erp_tryton as tt
from transforms import erp_tryton_documents as td
from transforms.edifact_orders_allowances import ADJUSTMENT_PRODUCTS, adjustment_lines

log = logging.getLogger(__name__)

SaleKey = tuple[int, str]
"""(party id, reference): at most one sale (not cancelled) per key."""

DATE_FIELDS = [
    "shipping_date",
    "shipments.planned_date",
    "shipments.origin_planned_date",  # Tryton's own plan: ``write`` leaves it
    "shipments.state",
]
OPEN_SHIPMENTS = ("draft", "waiting")  # a date Tryton may still move (``tryton_changes``)
_BEFORE = {"quote": "draft", "confirm": "quotation"}
_AFTER = {"quote": "quotation", "confirm": "confirmed"}


def create_sales(
    records: TrytonRecords, orders: Sequence[SalesOrder], state: TargetState
) -> list[SaleResult]:
    """The port's ``create_sales``: one result per order, bad orders refused one by one."""
    if not orders:
        return []
    errors: dict[int, HubError] = {}
    parties = _resolve_buyers(records, orders, errors)
    existing = _existing_sale_states(
        records, {(parties[i].id, o.order_number) for i, o in enumerate(orders) if i in parties}
    )
    sale_ids, twins, to_create = _plan(orders, parties, existing, errors)
    created = _create_new(records, orders, to_create, parties, errors)
    for i, first in twins.items():  # the same order twice in one batch: one sale
        if first in created:
            sale_ids[i] = created[first]
        else:
            errors[i] = errors.get(first) or PermanentError("twin failed", system=SYSTEM)
    sale_ids.update(created)
    known_states = dict(existing.values())
    known_states.update({sale_id: "draft" for sale_id in created.values()})
    _advance(records, sale_ids, known_states, state, orders, errors)
    rows = _sale_rows(records, sale_ids.values())
    _plan_asked_dates(records, rows, sale_ids, orders, errors)
    sales = _to_sales(records, rows)
    results = []
    for i, order in enumerate(orders):
        if i in errors:
            results.append(SaleResult(order.order_number, error=errors[i]))
            continue
        sale = sales[sale_ids[i]]
        if i in created:
            sale = sale.model_copy(update={"created": True})
        results.append(SaleResult(order.order_number, sale=sale))
    return results


def _resolve_buyers(
    records: TrytonRecords, orders: Sequence[SalesOrder], errors: dict[int, HubError]
) -> dict[int, tt.PartyRow]:
    """Order index -> buyer (by ERP id, else by GLN); an unknown buyer is the order's error."""
    by_gln = records.party_rows_by_gln(
        [o.buyer.gln for o in orders if o.buyer.gln and not o.buyer.erp_id]
    )
    ids = {o.buyer.erp_id: _maybe_id(o.buyer.erp_id) for o in orders if o.buyer.erp_id}
    by_id = records.party_rows_by_id(i for i in ids.values() if i is not None)
    parties: dict[int, tt.PartyRow] = {}
    for i, o in enumerate(orders):
        if o.buyer.erp_id:
            party_id = ids[o.buyer.erp_id]
            row = by_id.get(party_id) if party_id is not None else None
        else:
            row = by_gln.get(o.buyer.gln) if o.buyer.gln is not None else None
        if row is None:
            errors[i] = td.unknown_party(o)
        else:
            parties[i] = row
    return parties


def _maybe_id(erp_id: str) -> int | None:
    """A Tryton record id, or None for an id Tryton could never have issued (no such party)."""
    try:
        return tt.record_id(erp_id)
    except PermanentError:
        return None


def _existing_sale_states(
    records: TrytonRecords, keys: set[SaleKey]
) -> dict[SaleKey, tuple[int, str]]:
    """Key -> (sale id, state) of the sales (not cancelled) the ERP already holds for ``keys``."""
    if not keys:
        return {}
    rows = records.search_read(
        "sale.sale",
        [
            ("reference", "in", sorted({ref for _, ref in keys})),
            ("party", "in", sorted({p for p, _ in keys})),
            ("state", "!=", "cancelled"),
        ],
        ["reference", "party", "state"],
        order=[("id", "ASC")],
    )
    found: dict[SaleKey, tuple[int, str]] = {}
    for r in rows:
        found.setdefault((r["party"], r["reference"]), (r["id"], r["state"]))
    return {k: v for k, v in found.items() if k in keys}


def _plan(
    orders: Sequence[SalesOrder],
    parties: dict[int, tt.PartyRow],
    existing: dict[SaleKey, tuple[int, str]],
    errors: dict[int, HubError],
) -> tuple[dict[int, int], dict[int, int], list[int]]:
    """Orders with a sale already (index -> sale id), repeats of an earlier order of the batch
    (index -> that order's index), and the orders to create."""
    sale_ids: dict[int, int] = {}
    twins: dict[int, int] = {}
    firsts: dict[SaleKey, int] = {}
    for i, order in enumerate(orders):
        if i in errors:
            continue
        key = (parties[i].id, order.order_number)
        if key in existing:
            sale_ids[i] = existing[key][0]
        elif key in firsts:
            twins[i] = firsts[key]
        else:
            firsts[key] = i
    return sale_ids, twins, list(firsts.values())


def _create_new(
    records: TrytonRecords,
    orders: Sequence[SalesOrder],
    indexes: list[int],
    parties: dict[int, tt.PartyRow],
    errors: dict[int, HubError],
) -> dict[int, int]:
    """Create the sales of ``orders[indexes]`` in one call; order index -> new sale id."""
    if not indexes:
        return {}
    lines = [line for i in indexes for line in orders[i].lines]
    by_gtin = records.product_rows_by_gtin([ln.gtin for ln in lines if ln.gtin])
    adjustments = (
        sorted(ADJUSTMENT_PRODUCTS) if any(orders[i].allowance_charges for i in indexes) else []
    )
    by_code = records.product_rows_by_code(
        [ln.product_code for ln in lines if ln.product_code and not ln.gtin] + adjustments
    )
    currencies = records.currency_ids({orders[i].currency for i in indexes})
    prepared: dict[int, dict[str, Any]] = {}
    pending: list[td.PendingPrice] = []
    for i in indexes:
        try:
            prepared[i], unpriced = td.sale_values(
                orders[i], parties[i], by_gtin, by_code, currencies
            )
            when = orders[i].requested_delivery_date
            if when is not None and when >= orders[i].order_date:  # Tryton's domain
                prepared[i]["shipping_date"] = when
        except PermanentError as exc:
            errors[i] = exc
            continue
        pending += unpriced
    _price_lines(records, pending)
    for i in [i for i in indexes if i in prepared and orders[i].allowance_charges]:
        try:  # after the prices: an allowance is split over the VAT rates of the goods
            _add_adjustments(records, prepared[i], orders[i], by_code)
        except PermanentError as exc:
            errors[i] = exc
            del prepared[i]
    order_ix = [i for i in indexes if i in prepared]
    if not order_ix:
        return {}
    try:
        ids = records.rpc.model(
            "sale.sale", "create", [prepared[i] for i in order_ix], idempotent=False
        )
        return dict(zip(order_ix, ids, strict=True))
    except OutcomeUnknownError:  # the batch may exist: never create it again one by one
        raise
    except PermanentError:
        if len(order_ix) == 1:
            raise
    # one bad sale fails the whole transaction: isolate it, create the others one by one
    created: dict[int, int] = {}
    for i in order_ix:
        try:
            (sale_id,) = records.rpc.model("sale.sale", "create", [prepared[i]], idempotent=False)
            created[i] = sale_id
        except PermanentError as exc:
            errors[i] = PermanentError(
                f"order {orders[i].order_number}: {exc.message}", system=SYSTEM, code=exc.code
            )
    return created


def _add_adjustments(
    records: TrytonRecords, sale: dict[str, Any], order: SalesOrder,
    by_code: dict[str, tt.ProductRow],
) -> None:  # fmt: skip
    """One service line per order-level allowance (negative price) or charge and VAT rate of
    the goods (split in proportion to their net amounts; ALLOWANCE, ALLOWANCE-7, ...).

    Tryton invoices a service line when the sale is processed and goods when they ship,
    in two invoices; such a sale is invoiced on order instead, so its one invoice carries
    the goods and their allowances (INVOIC: header ALC per rate, MOA 79 + 131 = 125)."""
    (_, lines), *_ = sale["lines"]
    taxes = {t for ln in lines for _, ids in ln["taxes"] for t in ids}
    taxes |= {t for row in by_code.values() for t in row.taxes}
    rates = records.tax_rates(taxes)
    bases: dict[Decimal, Decimal] = {}
    for ln in lines:
        rate = sum((rates.get(t, Decimal(0)) for _, ids in ln["taxes"] for t in ids), Decimal(0))
        amount = Decimal(str(ln["quantity"])) * Decimal(str(ln.get("unit_price") or 0))
        bases[rate] = bases.get(rate, Decimal(0)) + amount.quantize(CENT)
    extra = adjustment_lines(order, bases)
    missing = sorted({a.product_code for a in extra} - by_code.keys())
    if missing:
        raise PermanentError(
            f"order {order.order_number}: order-level allowances and charges need the service "
            f"product(s) {', '.join(missing)} in the ERP: create them (type service, salable, "
            "taxed at the rate their name ends with, 19% without)",
            system=SYSTEM,
            code="unknown_product",
        )
    for a in extra:
        row = by_code[a.product_code]
        lines.append({"type": "line", "sequence": a.sequence, "product": row.id, "quantity": 1.0,
                      "unit": row.unit_id, "taxes": [("add", list(row.taxes))],
                      "description": a.description, "unit_price": a.unit_price})  # fmt: skip
    sale["invoice_method"] = "order"


def _price_lines(records: TrytonRecords, pending: list[td.PendingPrice]) -> None:
    """The ERP's own price (price list, quantity breaks) for lines the order left unpriced.

    One read per (price list, quantity, currency) group; a partner's price skips this.
    """
    groups: dict[tuple[int | None, Decimal, int], list[td.PendingPrice]] = {}
    for line in pending:
        groups.setdefault(line.group, []).append(line)
    for (price_list, quantity, currency), lines in groups.items():
        context: dict[str, Any] = {"quantity": float(quantity), "currency": currency}
        if price_list:
            context["price_list"] = price_list
        rows = records.rpc.model(
            "product.product",
            "read",
            sorted({line.product for line in lines}),
            ["sale_price_uom"],
            idempotent=True,
            context=context,
        )
        prices = {r["id"]: r["sale_price_uom"] for r in rows}
        for line in lines:
            line.set_price(prices.get(line.product))


def _advance(
    records: TrytonRecords,
    sale_ids: dict[int, int],
    known_states: dict[int, str],
    state: TargetState,
    orders: Sequence[SalesOrder],
    errors: dict[int, HubError],
) -> None:
    """Quote then confirm, each in one call for every sale behind ``state``.

    Neither is idempotent: Tryton refuses a button on a sale already past it ("You can not
    call quote on ..."), so a call whose answer was lost is not repeated blindly, nor is it
    a refusal: the sales' states are read back and the step goes on from what the ERP says.
    """
    if state == "draft" or not sale_ids:
        return
    states = {s: known_states.get(s, "unknown") for s in set(sale_ids.values())}
    orders_of = {s: [i for i, sid in sale_ids.items() if sid == s] for s in states}

    def fail(sale_id: int, error: HubError) -> None:
        for i in orders_of[sale_id]:
            errors[i] = type(error)(
                f"order {orders[i].order_number}: {error.message}", system=SYSTEM, code=error.code
            )
        states[sale_id] = "failed"

    for step in ["quote"] if state == "quotation" else ["quote", "confirm"]:
        todo = sorted(s for s, st in states.items() if st == _BEFORE[step])
        if not todo:
            continue
        try:
            records.rpc.model("sale.sale", step, todo, idempotent=False)
            states.update(dict.fromkeys(todo, _AFTER[step]))
            continue
        except OutcomeUnknownError as exc:
            _after_lost_answer(records, step, todo, exc, states, fail)
            continue
        except PermanentError:
            pass
        for s in todo:  # find the sale that blocks the batch
            try:
                records.rpc.model("sale.sale", step, [s], idempotent=False)
                states[s] = _AFTER[step]
            except OutcomeUnknownError as exc:
                _after_lost_answer(records, step, [s], exc, states, fail)
            except PermanentError as exc:
                error = f"ERP refused to {step} sale {s}: {exc.message}"
                fail(s, PermanentError(error, system=SYSTEM, code=exc.code))


def _after_lost_answer(
    records: TrytonRecords,
    step: str,
    sale_ids: list[int],
    unknown: OutcomeUnknownError,
    states: dict[int, str],
    fail: Callable[[int, HubError], None],
) -> None:
    """Take the ERP's word for where the sales of a ``step`` without an answer are: done, or
    still before it (failed, or still running: a retryable error, never a refusal).

    ``unknown`` is raised again when the ERP cannot tell (the read fails, a sale is gone)."""
    try:
        rows = records.search_read("sale.sale", [("id", "in", sale_ids)], ["state"])
    except HubError as exc:
        raise unknown from exc
    found = {r["id"]: str(r["state"]) for r in rows}
    if not set(sale_ids) <= found.keys():
        raise unknown
    states.update(found)
    for s in sale_ids:
        if found[s] == _BEFORE[step]:
            message = (f"no answer to {step} of sale {s} and the ERP still shows it "
                       f"{found[s]}: try again ({unknown.message})")  # fmt: skip
            fail(s, TransientError(message, system=SYSTEM, code=unknown.code))


def _plan_asked_dates(
    records: TrytonRecords,
    rows: dict[int, dict[str, Any]],
    sale_ids: dict[int, int],
    orders: Sequence[SalesOrder],
    errors: dict[int, HubError],
) -> None:
    """Move the open shipments Tryton planned before the sale's shipping date (the order's
    requested date) to that date, for all such sales at once (``move_shipments_many``), and
    read those sales again into ``rows``.

    A sale whose goods have left keeps its plan, as does one Tryton refuses to move; one that
    fails to move for a while is its orders' retryable error (the rerun finds it, moves it)."""
    today = dt.date.today()
    targets = {sale_id: (row.get("number") or str(sale_id), when)
               for sale_id, row in sorted(rows.items())
               if (when := _asked_date_ahead(row, today)) is not None}  # fmt: skip
    if not targets:
        return
    try:
        refused = tryton_amendments.move_shipments_many(records, targets)
    except PermanentError:  # Tryton refuses the batch: each sale alone, the others moved
        refused = _move_one_by_one(records, targets, sale_ids, orders, errors)
    except HubError as exc:  # tried again: the rerun finds the sales, moves them
        for sale_id, target in targets.items():
            _not_moved(sale_id, target, exc, sale_ids, orders, errors)
        refused = {}
    for sale_id, error in refused.items():  # the sale stands, planned as Tryton said
        name, when = targets[sale_id]
        log.warning("sale %s: goods not moved to %s: %s", name, when, error.message)
    rows.update(_sale_rows(records, targets))  # maybe half moved: read as it is


def _move_one_by_one(
    records: TrytonRecords,
    targets: dict[int, tuple[str, dt.date]],
    sale_ids: dict[int, int],
    orders: Sequence[SalesOrder],
    errors: dict[int, HubError],
) -> dict[int, PermanentError]:
    """``move_shipments`` sale by sale (a refused batch): sale id -> its refusal; a sale
    that fails for a while is its orders' retryable error."""
    refused: dict[int, PermanentError] = {}
    for sale_id, (name, when) in sorted(targets.items()):
        try:
            tryton_amendments.move_shipments(records, sale_id, name, when)
        except PermanentError as exc:
            refused[sale_id] = exc
        except HubError as exc:
            _not_moved(sale_id, (name, when), exc, sale_ids, orders, errors)
    return refused


def _not_moved(
    sale_id: int,
    target: tuple[str, dt.date],
    exc: HubError,
    sale_ids: dict[int, int],
    orders: Sequence[SalesOrder],
    errors: dict[int, HubError],
) -> None:
    """The retryable error of the orders of a sale made whose goods ``exc`` kept from moving."""
    name, when = target
    for i in [i for i, s in sale_ids.items() if s == sale_id and i not in errors]:
        text = f"order {orders[i].order_number}: sale {name} is made, its goods not yet"
        errors[i] = type(exc)(
            f"{text} planned for {when}: {exc.message}", system=SYSTEM, code=exc.code
        )


def _asked_date_ahead(row: dict[str, Any], today: dt.date) -> dt.date | None:
    """The processing sale's shipping date (read with ``DATE_FIELDS``) when goods Tryton
    planned (an open shipment at its own plan) wait before it, or a move to it was left
    half done (a draft shipment at it); None when nothing is to move: no date asked, a past
    one, goods that left, or shipments a change moved (the buyer's latest word)."""
    when = row.get("shipping_date")
    shipments = tt.nested(row, "shipments")
    if row.get("state") != "processing" or not when or when < today:
        return None
    if any(s.get("state") not in tryton_amendments.UNSHIPPED for s in shipments):
        return None
    for s in shipments:
        planned, origin, state = s.get("planned_date"), s.get("origin_planned_date"), s.get("state")
        if state in OPEN_SHIPMENTS and planned is not None and planned == origin < when:
            return when  # as Tryton planned it: before the date asked
        if state == "draft" and planned == when != origin:
            return when  # moved, not waited again (a crash in ``move_shipments``)
    return None


def get_sales(records: TrytonRecords, erp_ids: Sequence[str]) -> list[ErpSale]:
    """Sales with lines and totals, in the order asked; unknown ids are left out."""
    ids = [tt.record_id(i) for i in erp_ids]
    by_id = _to_sales(records, _sale_rows(records, ids))
    return [by_id[i] for i in ids if i in by_id]


def _sale_rows(records: TrytonRecords, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Sale id -> its row (``SALE_FIELDS`` and ``DATE_FIELDS``), in one read; none for none."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = records.search_read("sale.sale", [("id", "in", wanted)], td.SALE_FIELDS + DATE_FIELDS)
    return {r["id"]: r for r in rows}


def _to_sales(records: TrytonRecords, rows: dict[int, dict[str, Any]]) -> dict[int, ErpSale]:
    """Sale id -> the sale of its row, with its delivery date."""
    products = records.product_refs(
        {ln["product"] for r in rows.values() for ln in tt.nested(r, "lines") if ln["product"]}
    )
    return {
        i: td.to_sale(r, products).model_copy(update={"delivery_date": delivery_date(r)})
        for i, r in rows.items()
    }


def delivery_date(row: dict[str, Any]) -> dt.date | None:
    """The sale's shipping date; once processed, the planned date of its open shipments."""
    planned = [s["planned_date"] for s in tt.nested(row, "shipments")
               if s.get("state") in OPEN_SHIPMENTS and s.get("planned_date")]  # fmt: skip
    if row["state"] in ("processing", "done") and planned:
        return max(planned)
    return row.get("shipping_date") or None


def find_sale(records: TrytonRecords, party_erp_id: str, reference: str) -> ErpSale | None:
    """The sale (not cancelled) of this party with this reference."""
    found = _existing_sale_states(records, {(tt.record_id(party_erp_id), reference)})
    if not found:
        return None
    sale_id, _ = next(iter(found.values()))
    sales = get_sales(records, [str(sale_id)])
    return sales[0] if sales and sales[0].state != "cancelled" else None
