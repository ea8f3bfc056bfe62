"""The FakeErp's catalogue, customer prices and sales: batch creation, states, reads."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from connectors.erp.fake.base import PRICE_DIGITS, SYSTEM, FakeErpBase, checked_id, last
from connectors.erp.port import SaleResult, TargetState
from schemas.errors import PermanentError
from schemas.model import ErpSale, ErpSaleLine, Party, Product, SalesOrder, SalesOrderLine
from transforms import erp_tryton_documents as td
from transforms.edifact_orders_allowances import adjustment_lines

_STATES = ["draft", "quotation", "confirmed"]


class FakeSales(FakeErpBase):
    """Products, prices and sales of the fake ERP."""

    # -- products -----------------------------------------------------------------------------

    def list_products(self, *, limit: int | None = None) -> list[Product]:
        self._call()
        return list(self.products.values())[:limit]

    def find_products_by_gtin(self, gtins: Sequence[str]) -> dict[str, Product]:
        self._call()
        wanted = set(gtins)
        return {p.gtin: p for p in self.products.values() if p.gtin and p.gtin in wanted}

    def find_products_by_code(self, codes: Sequence[str]) -> dict[str, Product]:
        self._call()
        wanted = set(codes)
        return {p.code: p for p in self.products.values() if p.code in wanted}

    def customer_prices(
        self, party_erp_id: str, currency: str, lines: Sequence[tuple[str, Decimal]]
    ) -> dict[tuple[str, Decimal], Decimal]:
        """The list price times the factor of the customer's first break the quantity
        reaches (breaks as ``price_lists`` holds them); company currency only."""
        self._call()
        if currency not in self.currencies:
            raise PermanentError(
                f"currency {currency} is not defined in the ERP",
                system=SYSTEM,
                code="unknown_currency",
            )
        by_code = {p.code: p for p in self.products.values()}
        prices = {}
        for code, qty in lines:
            price = self._price_for(party_erp_id, by_code[code], qty) if code in by_code else None
            rate = Decimal(1) if currency == self.currency else self.rates.get(currency)
            if price is not None and rate is not None:
                prices[(code, qty)] = (price * rate).quantize(PRICE_DIGITS)
        return prices

    # -- sales --------------------------------------------------------------------------------

    def create_sales(
        self, orders: Sequence[SalesOrder], *, state: TargetState = "confirmed"
    ) -> list[SaleResult]:
        self._call()
        results = []
        for order in orders:
            try:
                party = self._buyer(order)
                existing = self._find_sale(party.erp_id or "", order.order_number)
                if existing is not None:
                    sale = self._advance(existing, state)
                else:
                    sale = self._new_sale(order, party, state).model_copy(update={"created": True})
            except PermanentError as exc:
                results.append(SaleResult(order.order_number, error=exc))
                continue
            results.append(SaleResult(order.order_number, sale=sale))
        return results

    def _buyer(self, order: SalesOrder) -> Party:
        """The buyer by ERP id, else by GLN; ``unknown_party`` when the ERP has none."""
        buyer = order.buyer
        party = None
        if buyer.erp_id:
            party = self.parties.get(buyer.erp_id)
        elif buyer.gln is not None:
            party = last(p for p in self.parties.values() if p.gln == buyer.gln)
        if party is None:
            raise td.unknown_party(order)
        return party

    def _product(self, order: SalesOrder, line: SalesOrderLine) -> Product:
        """The line's product by GTIN, else by code; ``unknown_product`` when there is none."""
        if line.gtin:
            found = (p for p in self.products.values() if p.gtin == line.gtin)
        else:
            found = (p for p in self.products.values() if p.code == line.product_code)
        product = last(found)
        if product is None:
            raise td.unknown_product(order, line)
        return product

    def _new_sale(self, order: SalesOrder, party: Party, state: TargetState) -> ErpSale:
        if order.currency not in self.currencies:
            raise PermanentError(
                f"order {order.order_number}: currency {order.currency} is not defined in the ERP",
                system=SYSTEM,
                code="unknown_currency",
            )
        products = [self._product(order, line) for line in order.lines]
        lines = []
        for line, product in zip(order.lines, products, strict=True):
            price = line.unit_price
            if price is None:
                price = self._price_for(party.erp_id or "", product, line.quantity)
            price = (price or Decimal(0)) * (1 - line.discount_percent / 100)
            lines.append(
                ErpSaleLine(
                    line_no=line.line_no,
                    product_code=product.code,
                    gtin=product.gtin,
                    quantity=line.quantity,
                    unit_price=price.quantize(PRICE_DIGITS),
                    erp_id=self._id(),
                )
            )
        extra = adjustment_lines(order, self.bases(lines))  # split over the goods' rates
        for a in extra:
            lines.append(ErpSaleLine(line_no=a.sequence, product_code=a.product_code,
                                     quantity=Decimal(1), unit_price=a.unit_price,
                                     erp_id=self._id()))  # fmt: skip
            self.line_texts[lines[-1].erp_id or ""] = a.description
        untaxed, total = self.totals(lines)
        when = order.requested_delivery_date  # Tryton's domain: not before the sale date
        sale = ErpSale(
            erp_id=self._id(),
            reference=order.order_number,
            party_erp_id=party.erp_id or "",
            state="draft",
            currency=order.currency,
            lines=tuple(lines),
            untaxed_amount=untaxed,
            total_amount=total,
            delivery_date=when if when and when >= order.order_date else None,
        )
        return self._advance(sale, state)

    def _advance(self, sale: ErpSale, state: TargetState) -> ErpSale:
        """Move the sale on to ``state`` if it is behind; it is numbered once quoted."""
        if sale.state in _STATES and _STATES.index(sale.state) < _STATES.index(state):
            sale = sale.model_copy(
                update={"state": state, "number": sale.number or f"S{sale.erp_id}"}
            )
        stored = sale.model_copy(update={"created": False})
        self.sales[sale.erp_id] = stored
        return stored

    def get_sales(self, erp_ids: Sequence[str]) -> list[ErpSale]:
        self._call()
        return [self.sales[i] for i in map(checked_id, erp_ids) if i in self.sales]

    def _find_sale(self, party_erp_id: str, reference: str) -> ErpSale | None:
        return next(
            (
                s
                for s in self.sales.values()
                if s.party_erp_id == party_erp_id
                and s.reference == reference
                and s.state != "cancelled"
            ),
            None,
        )

    def find_sale(self, party_erp_id: str, reference: str) -> ErpSale | None:
        self._call()
        return self._find_sale(checked_id(party_erp_id), reference)
