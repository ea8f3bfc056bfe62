"""The FakeErp's warehouse and accounting: stock, shipments, tracking and invoices."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from connectors.erp.fake.base import SYSTEM, FakeErpBase, checked_id
from schemas.errors import PermanentError
from schemas.model import (
    CENT,
    Address,
    ErpSale,
    ErpSaleLine,
    Invoice,
    InvoiceLine,
    PartyRef,
    Shipment,
    ShipmentLine,
    StockLevel,
    TaxLine,
)
from transforms.edifact_orders_allowances import ADJUSTMENT_PRODUCTS


class FakeDocuments(FakeErpBase):
    """What the ERP's staff do (``ship``, ``post_invoice``) and the reads of its documents."""

    # -- stock --------------------------------------------------------------------------------

    def stock_levels(
        self, product_codes: Sequence[str] | None = None, *, warehouse: str | None = None
    ) -> list[StockLevel]:
        self._call()
        if warehouse is not None and warehouse not in self.warehouses:
            raise PermanentError(
                f"warehouse {warehouse!r} is unknown to the ERP (known: "
                f"{', '.join(sorted(self.warehouses))})",
                system=SYSTEM,
            )
        gtins = {p.code: p.gtin for p in self.products.values()}
        return [
            StockLevel(
                product_code=code, gtin=gtins.get(code), location=wh, quantity=qty, as_of=self.now
            )
            for (code, wh), qty in sorted(self.stock.items())
            if (product_codes is None or code in product_codes) and warehouse in (None, wh)
        ]

    # -- operator actions and documents -------------------------------------------------------

    def _document_lines(
        self, sale: ErpSale, *, invoice: bool = False
    ) -> list[tuple[dict[str, Any], ErpSaleLine]]:
        """What a shipment or invoice line takes of each sale line (0 left out), and the line;
        an order-level allowance or charge (a service) is invoiced, not shipped."""
        shipped = [ln for ln in sale.lines if ln.quantity
                   and (invoice or ln.product_code not in ADJUSTMENT_PRODUCTS)]  # fmt: skip
        return [({"line_no": i, "product_code": ln.product_code, "gtin": ln.gtin,
                  "quantity": ln.quantity, "order_number": sale.reference}, ln)
                for i, ln in enumerate(shipped, start=1)]  # fmt: skip

    def ship(self, sale_erp_id: str) -> Shipment:
        """What the warehouse does: ship the whole sale at once (stock goes down)."""
        sale = self.sales[sale_erp_id]
        party = self.parties[sale.party_erp_id]
        for ln in (ln for ln in sale.lines if ln.product_code not in ADJUSTMENT_PRODUCTS):
            key = (ln.product_code, "WH")
            self.stock[key] = self.stock.get(key, Decimal(0)) - ln.quantity
        shipment = Shipment(
            erp_id=self._id(), number=f"OUT{self._next}", state="done",
            customer=PartyRef(gln=party.gln, erp_id=party.erp_id, name=party.name),
            delivery_address=party.addresses[0] if party.addresses else Address(),
            order_numbers=(sale.reference,), sale_numbers=(sale.number,) if sale.number else (),
            effective_date=self.now.date(), updated_at=self.now,
            lines=tuple(ShipmentLine(**values) for values, _ in self._document_lines(sale)),
        )  # fmt: skip
        self.shipments[shipment.erp_id] = shipment
        self.sales[sale_erp_id] = sale.model_copy(update={"state": "processing"})
        return shipment

    def post_invoice(self, sale_erp_id: str) -> Invoice:
        """What accounting does: post the invoice of a sale, VAT per line at its product's
        rate, one tax line per rate."""
        sale = self.sales[sale_erp_id]
        party = self.parties[sale.party_erp_id]
        invoiced = self._document_lines(sale, invoice=True)
        lines = tuple(
            InvoiceLine(**values, unit_price=ln.unit_price, tax_rate=self.rate_of(ln.product_code),
                        amount=(ln.quantity * ln.unit_price).quantize(CENT))
            for values, ln in invoiced
        )  # fmt: skip
        bases = self.bases(ln for _, ln in invoiced)
        taxes = tuple(TaxLine(rate=rate, base=base, amount=(base * rate / 100).quantize(CENT))
                      for rate, base in sorted(bases.items(), reverse=True))  # fmt: skip
        untaxed = sum((ln.amount for ln in lines), Decimal(0))
        tax = sum((t.amount for t in taxes), Decimal(0))
        invoice = Invoice(
            erp_id=self._id(), number=f"INV{self._next}", invoice_date=self.now.date(),
            customer=PartyRef(gln=party.gln, erp_id=party.erp_id, name=party.name),
            currency=sale.currency, lines=lines,
            taxes=taxes,
            untaxed_amount=untaxed, tax_amount=tax, total_amount=untaxed + tax,
            order_numbers=(sale.reference,), company_currency=self.currency,
            updated_at=self.now,
        )  # fmt: skip
        self.invoices[invoice.erp_id] = invoice
        return invoice

    def shipments_changed_since(
        self, since: dt.datetime | None, *, limit: int = 200
    ) -> list[Shipment]:
        self._call()
        return self._changed_since(self.shipments.values(), since, limit)

    def set_shipment_tracking(self, erp_id: str, tracking_number: str) -> None:
        self._call()
        if checked_id(erp_id) not in self.shipments:
            raise PermanentError(f"shipment {erp_id} does not exist in the ERP", system=SYSTEM)
        shipment = self.shipments[erp_id]
        if shipment.tracking_number != tracking_number:
            self.shipments[erp_id] = shipment.model_copy(
                update={"tracking_number": tracking_number, "updated_at": self.now}
            )

    def invoices_posted_since(
        self, since: dt.datetime | None, *, limit: int = 200
    ) -> list[Invoice]:
        self._call()
        return self._changed_since(self.invoices.values(), since, limit)
