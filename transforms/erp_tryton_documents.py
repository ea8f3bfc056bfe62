"""Pure mappings of Tryton sales, shipments and invoices to and from the canonical model."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from schemas.errors import PermanentError
from schemas.model import (
    ErpSale,
    ErpSaleLine,
    Invoice,
    InvoiceLine,
    PartyRef,
    SalesOrder,
    SalesOrderLine,
    Shipment,
    ShipmentLine,
    TaxLine,
)
from transforms.erp_tryton import (
    SYSTEM,
    PartyRow,
    ProductRef,
    ProductRow,
    latest,
    nested,
    to_address,
    unit_of,
    utc,
)

PRICE_DIGITS = Decimal("0.0001")
SALE_FIELDS = [
    "number",
    "reference",
    "party",
    "state",
    "currency.code",
    "untaxed_amount",
    "total_amount",
    "lines.type",
    "lines.sequence",
    "lines.product",
    "lines.quantity",
    "lines.unit_price",
    "lines.unit.symbol",
]
SHIPMENT_FIELDS = [
    "number",
    "reference",
    "state",
    "customer",
    "planned_date",
    "effective_date",
    "write_date",
    "create_date",
    "delivery_address.party_name",
    "delivery_address.street",
    "delivery_address.postal_code",
    "delivery_address.city",
    "delivery_address.country.code",
    "outgoing_moves.product",
    "outgoing_moves.quantity",
    "outgoing_moves.unit.symbol",
    "outgoing_moves.origin",
    "outgoing_moves.state",
]
INVOICE_FIELDS = [
    "number",
    "invoice_date",
    "party",
    "currency.code",
    "state",
    "untaxed_amount",
    "tax_amount",
    "total_amount",
    "write_date",
    "create_date",
    "lines.type",
    "lines.sequence",
    "lines.product",
    "lines.description",
    "lines.quantity",
    "lines.unit_price",
    "lines.amount",
    "lines.unit.symbol",
    "lines.taxes",
    "lines.origin",
    "taxes.base",
    "taxes.amount",
    "taxes.tax",
    "lines_to_pay.maturity_date",
]
ORIGIN_FIELDS = ["sale.reference", "sale.number"]
OriginRef = tuple[str, str]
"""What a document line needs of its sale line's sale: (partner order number, sale number)."""


def tax_rate(row: dict[str, Any]) -> Decimal:
    """An ``account.tax`` row's rate in percent (0 for a tax that is not a percentage)."""
    rate = row["rate"] if row["type"] == "percentage" and row["rate"] is not None else 0
    return (Decimal(rate) * 100).normalize()


def discounted(price: Decimal | int | float, discount_percent: Decimal) -> Decimal:
    """A unit price less the line's discount, to Tryton's price digits."""
    return (Decimal(price) * (1 - discount_percent / 100)).quantize(PRICE_DIGITS)


# -- sales -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingPrice:
    """A sale line the order left unpriced: the ERP's price is read for it before creating.

    ``values`` are the line's create values; ``set_price`` completes them in place.
    """

    price_list: int | None
    quantity: Decimal
    currency: int
    product: int
    discount: Decimal
    values: dict[str, Any]

    @property
    def group(self) -> tuple[int | None, Decimal, int]:
        """Lines of one group share one price read (price list, quantity, currency)."""
        return (self.price_list, self.quantity, self.currency)

    def set_price(self, price: Decimal | int | float | None) -> None:
        """The ERP's price less the line's discount (0 when the ERP has none)."""
        self.values["unit_price"] = discounted(price or Decimal(0), self.discount)


def unknown_party(order: SalesOrder) -> PermanentError:
    """``unknown_party``: the order's buyer (by ERP id, else GLN) is not a party in the ERP."""
    buyer = order.buyer
    who = f"erp id {buyer.erp_id}" if buyer.erp_id else f"GLN {buyer.gln}"
    why = "is not a party in the ERP; create or bind the customer first"
    return PermanentError(
        f"order {order.order_number}: buyer {who} {why}", system=SYSTEM, code="unknown_party"
    )


def unknown_product(order: SalesOrder, line: SalesOrderLine) -> PermanentError:
    """``unknown_product``: the line's item (by GTIN, else product code) is not in the ERP."""
    what = f"GTIN {line.gtin}" if line.gtin else f"product code {line.product_code}"
    why = "is unknown to the ERP; fix the partner's item or add the product"
    where = f"order {order.order_number} line {line.line_no}"
    return PermanentError(f"{where}: {what} {why}", system=SYSTEM, code="unknown_product")


def _line_product(
    order: SalesOrder,
    line: SalesOrderLine,
    by_gtin: Mapping[str, ProductRow],
    by_code: Mapping[str, ProductRow],
) -> ProductRow:
    row = by_gtin.get(line.gtin) if line.gtin else by_code.get(line.product_code or "")
    if row is None:
        raise unknown_product(order, line)
    return row


def _check_sale(order: SalesOrder, party: PartyRow, currencies: Mapping[str, int]) -> int:
    """The currency id of the order; PermanentError when the ERP cannot hold the sale."""
    if order.currency not in currencies:
        raise PermanentError(
            f"order {order.order_number}: currency {order.currency} is not defined in the ERP",
            system=SYSTEM,
            code="unknown_currency",
        )
    if party.address_id is None:
        raise PermanentError(
            f"order {order.order_number}: party {party.party.name!r} has no address in the "
            "ERP; add one before ordering",
            system=SYSTEM,
            code="party_without_address",
        )
    return currencies[order.currency]


def sale_values(
    order: SalesOrder,
    party: PartyRow,
    by_gtin: Mapping[str, ProductRow],
    by_code: Mapping[str, ProductRow],
    currencies: Mapping[str, int],
) -> tuple[dict[str, Any], list[PendingPrice]]:
    """Create values of the sale of ``order`` with its lines, and the lines still to price.

    PermanentError (``unknown_currency``, ``party_without_address``, ``unknown_product``) when
    the ERP cannot take the order.
    """
    currency_id = _check_sale(order, party, currencies)
    lines = []
    pending = []
    for line in order.lines:
        row = _line_product(order, line, by_gtin, by_code)
        values: dict[str, Any] = {
            "type": "line",
            "sequence": line.line_no,
            "product": row.id,
            "quantity": float(line.quantity),
            "unit": row.unit_id,
            "taxes": [("add", list(row.taxes))],
        }
        if line.description:
            values["description"] = line.description
        if line.unit_price is not None:
            values["unit_price"] = discounted(line.unit_price, line.discount_percent)
        else:
            pending.append(
                PendingPrice(
                    party.price_list,
                    line.quantity,
                    currency_id,
                    row.id,
                    line.discount_percent,
                    values,
                )
            )
        lines.append(values)
    sale: dict[str, Any] = {
        "party": party.id,
        "reference": order.order_number,
        "sale_date": order.order_date,
        "currency": currency_id,
        "invoice_address": party.address_id,
        "shipment_address": party.address_id,
        "lines": [("create", lines)],
    }
    if party.price_list:
        sale["price_list"] = party.price_list
    if party.payment_term:
        sale["payment_term"] = party.payment_term
    if order.notes:
        sale["comment"] = "\n".join(order.notes)
    return sale, pending


def to_sale(row: dict[str, Any], products: Mapping[int, ProductRef]) -> ErpSale:
    """A ``sale.sale`` row read with SALE_FIELDS; ``products`` maps line products to refs."""
    lines: list[ErpSaleLine] = []
    for ln in sorted(nested(row, "lines"), key=lambda x: (x.get("sequence") or 0, x["id"])):
        if ln.get("type") != "line" or not ln.get("product"):
            continue
        code, gtin = products.get(ln["product"], (str(ln["product"]), None))
        lines.append(
            ErpSaleLine(
                line_no=ln.get("sequence") or len(lines) + 1,
                product_code=code,
                gtin=gtin,
                quantity=Decimal(str(ln["quantity"])),
                unit=unit_of((ln.get("unit.") or {}).get("symbol")),
                unit_price=ln["unit_price"],
                erp_id=str(ln["id"]),
            )
        )
    state = row["state"]
    if state == "done" and lines and not any(ln.quantity for ln in lines):
        state = "cancelled"  # cancelled after processing: amended to nothing (sale_amendment)
    return ErpSale(
        erp_id=str(row["id"]),
        number=row.get("number") or None,
        reference=row.get("reference") or "",
        party_erp_id=str(row["party"]),
        state=state,
        currency=nested(row, "currency").get("code"),
        lines=tuple(lines),
        untaxed_amount=row.get("untaxed_amount"),
        total_amount=row.get("total_amount"),
    )


# -- shipments and invoices ------------------------------------------------------------------


def sale_line_ids(origins: Iterable[str | None]) -> list[int]:
    """The ``sale.line`` ids among document line origins (``'sale.line,12'``)."""
    return sorted({int(o.split(",")[1]) for o in origins if o and o.startswith("sale.line,")})


def to_origin_ref(row: dict[str, Any]) -> tuple[str, OriginRef]:
    """A ``sale.line`` row read with ORIGIN_FIELDS: its origin string and its sale's refs."""
    sale = row.get("sale.") or {}
    number = sale.get("number") or ""
    return f"sale.line,{row['id']}", (sale.get("reference") or number, number)


def _shipment_lines(
    row: dict[str, Any], products: Mapping[int, ProductRef], origins: Mapping[str, OriginRef]
) -> tuple[list[ShipmentLine], set[str]]:
    lines: list[ShipmentLine] = []
    sale_numbers: set[str] = set()
    for m in sorted(nested(row, "outgoing_moves"), key=lambda x: x["id"]):
        if not m.get("quantity") or m.get("state") == "cancelled":
            continue
        code, gtin = products.get(m["product"], (str(m["product"]), None))
        order_number, sale_number = origins.get(m.get("origin") or "", ("", ""))
        if sale_number:
            sale_numbers.add(sale_number)
        lines.append(
            ShipmentLine(
                line_no=len(lines) + 1,
                product_code=code,
                gtin=gtin,
                quantity=Decimal(str(m["quantity"])),
                unit=unit_of((m.get("unit.") or {}).get("symbol")),
                order_number=order_number or None,
            )
        )
    return lines, sale_numbers


def to_shipment(
    row: dict[str, Any],
    customers: Mapping[int, PartyRef],
    products: Mapping[int, ProductRef],
    origins: Mapping[str, OriginRef],
) -> Shipment:
    """A ``stock.shipment.out`` row read with SHIPMENT_FIELDS, with what its lines refer to."""
    lines, sale_numbers = _shipment_lines(row, products, origins)
    return Shipment(
        erp_id=str(row["id"]),
        number=row.get("number") or str(row["id"]),
        state=row["state"],
        customer=customers[row["customer"]],
        delivery_address=to_address(nested(row, "delivery_address")),
        order_numbers=tuple(sorted({ln.order_number for ln in lines if ln.order_number})),
        sale_numbers=tuple(sorted(sale_numbers)),
        planned_date=row.get("planned_date"),
        effective_date=row.get("effective_date"),
        tracking_number=row.get("reference") or None,
        lines=tuple(lines),
        updated_at=utc(latest(row.get("write_date"), row.get("create_date"))),
    )


def invoice_tax_ids(rows: Iterable[dict[str, Any]]) -> set[int]:
    """The taxes invoice rows (read with INVOICE_FIELDS) refer to, on lines and tax lines."""
    ids: set[int] = set()
    for r in rows:
        ids |= {t for ln in nested(r, "lines") for t in ln.get("taxes") or ()}
        ids |= {t["tax"] for t in nested(r, "taxes") if t.get("tax")}
    return ids


def _invoice_lines(row: dict[str, Any], products: Mapping[int, ProductRef],
                   origins: Mapping[str, OriginRef], rates: Mapping[int, Decimal],
                   ) -> list[InvoiceLine]:  # fmt: skip
    lines: list[InvoiceLine] = []
    for ln in sorted(nested(row, "lines"), key=lambda x: (x.get("sequence") or 0, x["id"])):
        if ln.get("type") != "line":
            continue
        ref = products.get(ln["product"]) if ln.get("product") else None
        code, gtin = ref if ref else (None, None)
        taxes = ln.get("taxes") or []
        lines.append(
            InvoiceLine(
                line_no=len(lines) + 1,
                product_code=code,
                gtin=gtin,
                description=ln.get("description") or None,
                quantity=Decimal(str(ln["quantity"])),
                unit=unit_of((ln.get("unit.") or {}).get("symbol")),
                unit_price=ln["unit_price"],
                amount=ln["amount"],
                tax_rate=rates.get(taxes[0]) if taxes else None,
                order_number=origins.get(ln.get("origin") or "", ("", ""))[0] or None,
            )
        )
    return lines


def to_invoice(
    row: dict[str, Any],
    customers: Mapping[int, PartyRef],
    products: Mapping[int, ProductRef],
    origins: Mapping[str, OriginRef],
    rates: Mapping[int, Decimal],
    company_currency: str | None,
) -> Invoice:
    """An ``account.invoice`` row read with INVOICE_FIELDS; amounts exactly as the ERP's."""
    lines = _invoice_lines(row, products, origins, rates)
    taxes = tuple(
        TaxLine(rate=rates.get(t["tax"], Decimal(0)), base=t["base"], amount=t["amount"])
        for t in nested(row, "taxes")
    )
    maturities = [m["maturity_date"] for m in nested(row, "lines_to_pay") if m.get("maturity_date")]
    total = row["total_amount"]
    return Invoice(
        erp_id=str(row["id"]),
        number=row.get("number") or str(row["id"]),
        kind="credit_note" if total < 0 else "invoice",
        invoice_date=row["invoice_date"],
        customer=customers[row["party"]],
        currency=nested(row, "currency").get("code"),
        lines=tuple(lines),
        taxes=taxes,
        untaxed_amount=row["untaxed_amount"],
        tax_amount=row["tax_amount"],
        total_amount=total,
        order_numbers=tuple(sorted({ln.order_number for ln in lines if ln.order_number})),
        due_date=min(maturities) if maturities else None,
        payment_state="paid" if row["state"] == "paid" else "unpaid",
        company_currency=company_currency,
        updated_at=utc(latest(row.get("write_date"), row.get("create_date"))),
    )
