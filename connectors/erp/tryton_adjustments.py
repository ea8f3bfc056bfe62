"""A Tryton sale's order-level allowance/charge service lines split again after a change.

The sale carries each allowance or charge as one service line per VAT rate of its goods
(ALLOWANCE, ALLOWANCE-7, ...; ``tryton_sales``). A change to the goods, or a restated
allowance, moves the split (``transforms.sale_adjustments``): a sale Tryton lets us edit
(draft) gets its service lines rewritten, created or deleted; a processed one gets them
in the change's own amendment (product, price; one no rate needs goes to quantity 0), and
is refused when a rate needs a service line it does not have (Tryton adds no line then).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from connectors.erp.tryton_records import TrytonRecords
from schemas.errors import PermanentError
from schemas.model import SalesOrderChange
from transforms import erp_tryton as tt
from transforms.edifact_orders_allowances import ADJUSTMENT_PRODUCTS, Adjustment
from transforms.sale_adjustments import SaleAdjustment, goods_bases, plan, resplit

SYSTEM = "erp"
LINE_FIELDS = ["sequence", "product", "quantity", "unit", "unit_price", "description", "taxes"]


def services(records: TrytonRecords) -> dict[int, tt.ProductRow]:
    """Product id -> the ERP's allowance/charge service products."""
    return {r.id: r for r in records.product_rows_by_code(sorted(ADJUSTMENT_PRODUCTS)).values()}


def separate(
    rows: Iterable[dict[str, Any]], products: Mapping[int, tt.ProductRow]
) -> tuple[list[dict[str, Any]], list[SaleAdjustment]]:
    """The sale's goods lines, and its service lines as ``SaleAdjustment``."""
    goods: list[dict[str, Any]] = []
    extra: list[SaleAdjustment] = []
    for r in rows:
        product = products.get(r["product"])
        if product is None:
            goods.append(r)
            continue
        extra.append(SaleAdjustment(int(r["sequence"] or 0), product.code,
                                    Decimal(str(r["quantity"])), Decimal(str(r["unit_price"])),
                                    r["description"] or "", str(r["id"])))  # fmt: skip
    return goods, extra


def target(
    records: TrytonRecords, goods: list[dict[str, Any]], extra: list[SaleAdjustment],
    change: SalesOrderChange, name: str,
) -> list[Adjustment]:  # fmt: skip
    """The service lines the sale needs for ``goods`` (rows as they will be: product,
    quantity, unit_price, taxes); PermanentError when it would go negative."""
    taxes = {t for r in goods for t in r["taxes"]}
    rates = records.tax_rates(taxes)
    bases = goods_bases(
        (sum((rates.get(t, Decimal(0)) for t in r["taxes"]), Decimal(0)),
         Decimal(str(r["quantity"])), Decimal(str(r["unit_price"] or 0)))
        for r in goods
    )  # fmt: skip
    after = max((int(r["sequence"] or 0) for r in goods), default=0)
    lines, error = resplit(bases, after, extra, change.allowance_charges)
    if error is not None:
        raise PermanentError(f"sale {name}: {error}: nothing was changed", system=SYSTEM,
                             code="bad_allowance")  # fmt: skip
    return lines


def _products(
    records: TrytonRecords, lines: list[Adjustment], name: str
) -> dict[str, tt.ProductRow]:
    codes = sorted({a.product_code for a in lines})
    found = records.product_rows_by_code(codes)
    missing = [c for c in codes if c not in found]
    if missing:
        raise PermanentError(
            f"sale {name}: the order-level allowances and charges need the service product(s) "
            f"{', '.join(missing)} in the ERP: create them (type service, salable, taxed at the "
            "rate their name ends with, 19% without)", system=SYSTEM, code="unknown_product",
        )  # fmt: skip
    return found


def amended_goods(
    records: TrytonRecords, goods: list[dict[str, Any]], amended: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The goods rows as the amendment lines ``amended`` will leave them (a new product
    brings its taxes)."""
    by_line = {a["line"]: a for a in amended if a["action"] == "line"}
    new = {a["product"] for a in by_line.values()} - {r["product"] for r in goods}
    found = records.product_rows([("id", "in", sorted(new))]) if new else []
    taxes = {p.id: list(p.taxes) for p in found}
    nothing: dict[str, Any] = {}
    rows = []
    for r in goods:
        a = by_line.get(r["id"], nothing)
        row: dict[str, Any] = {**r, **{k: a[k] for k in ("product", "quantity", "unit_price")
                                       if k in a}}  # fmt: skip
        if row["product"] != r["product"]:
            row["taxes"] = taxes.get(row["product"], [])
        rows.append(row)
    return rows


def amendment_lines(
    records: TrytonRecords, goods: list[dict[str, Any]], extra: list[SaleAdjustment],
    rows: Mapping[int, dict[str, Any]], change: SalesOrderChange, name: str,
) -> tuple[list[dict[str, Any]], bool]:  # fmt: skip
    """A processed sale's amendment lines for its service lines (``goods`` as amended;
    ``rows``: its lines by id), and whether a product changes (its taxes follow); too late
    when a rate needs a service line the sale does not have."""
    steps = plan(extra, target(records, goods, extra, change, name))
    if steps.create:
        raise PermanentError(
            f"sale {name} is processed: the order-level allowances and charges would need "
            f"the new service line(s) {', '.join(a.product_code for a in steps.create)} for "
            "the VAT rates of the changed goods, and Tryton adds no line to a processed sale: "
            "nothing was changed; agree it with the customer or send a new order",
            system=SYSTEM, code="too_late",
        )  # fmt: skip
    products = _products(records, [want for _, want in steps.write], name)
    lines: list[dict[str, Any]] = []
    for line, want in steps.write:
        product = products[want.product_code]
        lines.append({"action": "line", "line": int(line.ref), "product": product.id,
                      "unit": product.unit_id, "quantity": 1.0, "unit_price": want.unit_price,
                      "description": want.description})  # fmt: skip
    for line in steps.empty:  # no rate needs it now: kept at 0, as a deleted goods line
        row = rows[int(line.ref)]
        lines.append({"action": "line", "line": row["id"], "product": row["product"],
                      "unit": row["unit"], "quantity": 0.0, "unit_price": row["unit_price"],
                      "description": row["description"]})  # fmt: skip
    return lines, any(a.product_code != w.product_code for a, w in steps.write)


def rewrite(records: TrytonRecords, sale_id: int, change: SalesOrderChange, name: str) -> None:
    """A draft sale's service lines as its goods and the change's allowances ask: rewritten
    (sequence after the goods), created or deleted; nothing when they already are."""
    rows = records.search_read("sale.line", [("sale", "=", sale_id), ("type", "=", "line")],
                               LINE_FIELDS)  # fmt: skip
    goods, extra = separate(rows, services(records))
    if not extra and not change.allowance_charges:
        return
    steps = plan(extra, target(records, goods, extra, change, name))
    if not steps:
        return
    products = _products(records, [w for _, w in steps.write] + steps.create, name)
    kept = [(a, w) for a, w in steps.write if a.product_code == w.product_code]
    gone = [int(a.ref) for a in steps.empty] + [int(a.ref) for a, w in steps.write
                                                if (a, w) not in kept]  # fmt: skip
    create = steps.create + [w for a, w in steps.write if (a, w) not in kept]
    rpc = records.rpc
    if gone:  # a line of another product is made anew (with that product's taxes)
        rpc.model("sale.line", "delete", gone, idempotent=True)
    for line, want in kept:
        values = {k: v for k, v in _values(want, products).items() if k != "taxes"}
        rpc.model("sale.line", "write", [int(line.ref)], values, idempotent=True)
    if create:
        rpc.model("sale.line", "create", [{**_values(a, products), "sale": sale_id,
                                           "type": "line"} for a in create],
                  idempotent=False)  # fmt: skip
        rpc.model("sale.sale", "write", [sale_id], {"invoice_method": "order"}, idempotent=True)


def _values(a: Adjustment, products: Mapping[str, tt.ProductRow]) -> dict[str, Any]:
    row = products[a.product_code]
    return {"sequence": a.sequence, "product": row.id, "unit": row.unit_id, "quantity": 1.0,
            "unit_price": a.unit_price, "description": a.description,
            "taxes": [("add", list(row.taxes))]}  # fmt: skip
