"""In-memory ERP for unit tests of flows: same port, same idempotency rules, no server.

Seed it with ``add_product`` / ``create_parties``; drive time with ``tick``; simulate the ERP's
staff with ``ship`` and ``post_invoice``. ``fail_next`` injects one error into the next call.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from connectors.erp.port import ErpPort, PartyQuery, SaleResult, TargetState
from schemas.errors import HubError, PermanentError
from schemas.model import (
    CENT,
    Address,
    ContactMechanism,
    ErpSale,
    ErpSaleLine,
    Invoice,
    InvoiceLine,
    Party,
    PartyRef,
    Product,
    SalesOrder,
    Shipment,
    ShipmentLine,
    StockLevel,
    TaxLine,
)

_STATES = ["draft", "quotation", "confirmed"]


class FakeErp(ErpPort):
    """A deterministic in-memory ERP (ids are consecutive integers as strings)."""

    def __init__(self, *, now: dt.datetime | None = None, tax_rate: Decimal = Decimal(19)) -> None:
        self.now = now or dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
        self.tax_rate = tax_rate
        self.parties: dict[str, Party] = {}
        self.products: dict[str, Product] = {}
        self.stock: dict[tuple[str, str], Decimal] = {}
        self.sales: dict[str, ErpSale] = {}
        self.shipments: dict[str, Shipment] = {}
        self.invoices: dict[str, Invoice] = {}
        self.calls = 0
        self._next = 0
        self._fail: HubError | None = None

    # -- test controls ------------------------------------------------------------------------

    def _id(self) -> str:
        self._next += 1
        return str(self._next)

    def tick(self, seconds: float = 1.0) -> dt.datetime:
        """Advance the fake clock (every change is stamped with it)."""
        self.now += dt.timedelta(seconds=seconds)
        return self.now

    def fail_next(self, error: HubError) -> None:
        """Raise ``error`` from the next port call, once."""
        self._fail = error

    def _call(self) -> None:
        self.calls += 1
        if self._fail is not None:
            error, self._fail = self._fail, None
            raise error

    def add_product(
        self, product: Product, *, stock: Decimal | int = 0, warehouse: str = "WH"
    ) -> Product:
        """Put a product in the catalogue (with an erp_id) and on stock."""
        stored = product.model_copy(update={"erp_id": product.erp_id or self._id()})
        self.products[stored.erp_id or ""] = stored
        self.stock[(stored.code, warehouse)] = Decimal(stock)
        return stored

    # -- parties ------------------------------------------------------------------------------

    def get_parties(self, erp_ids: Sequence[str]) -> list[Party]:
        self._call()
        return [self.parties[i] for i in erp_ids if i in self.parties]

    def find_parties(self, query: PartyQuery, *, limit: int = 10) -> list[Party]:
        self._call()
        if query.is_empty():
            raise PermanentError("find_parties needs at least one criterion", system="erp")
        found = []
        for p in self.parties.values():
            if query.gln and p.gln != query.gln:
                continue
            if query.vat and (p.vat or "").upper() != query.vat.replace(" ", "").upper():
                continue
            if query.email and not any(
                m.type == "email" and m.value.lower() == query.email.lower()
                for m in p.contact_mechanisms
            ):
                continue
            if query.name and p.name.lower() != query.name.lower():
                continue
            if query.postal_code and not any(
                a.postal_code == query.postal_code for a in p.addresses
            ):
                continue
            found.append(p)
        return found[:limit]

    def find_parties_by_gln(self, glns: Sequence[str]) -> dict[str, Party]:
        self._call()
        wanted = set(glns)
        return {p.gln: p for p in self.parties.values() if p.gln and p.gln in wanted}

    def create_parties(self, parties: Sequence[Party]) -> list[Party]:
        self._call()
        created = []
        for party in parties:
            stored = party.model_copy(update={"erp_id": self._id(), "updated_at": self.now})
            self.parties[stored.erp_id or ""] = stored
            created.append(stored)
        return created

    def update_party(self, party: Party) -> Party:
        self._call()
        if not party.erp_id or party.erp_id not in self.parties:
            raise PermanentError(f"party {party.erp_id} does not exist in the ERP", system="erp")
        now = self.parties[party.erp_id]
        known = {(a.street, a.postal_code, a.city, a.country) for a in now.addresses}
        addresses = now.addresses + tuple(
            a for a in party.addresses if (a.street, a.postal_code, a.city, a.country) not in known
        )
        have = {(m.type, m.value.lower()) for m in now.contact_mechanisms}
        mechanisms = now.contact_mechanisms + tuple(
            m for m in party.contact_mechanisms if (m.type, m.value.lower()) not in have
        )
        updated = now.model_copy(
            update={
                "name": party.name,
                "gln": party.gln or now.gln,
                "vat": party.vat or now.vat,
                "addresses": addresses,
                "contact_mechanisms": mechanisms,
                "updated_at": self.now,
            }
        )
        if updated != now.model_copy(update={"updated_at": self.now}):
            self.parties[party.erp_id] = updated
            return updated
        return now

    def add_contact_mechanisms(self, erp_id: str, mechanisms: Sequence[ContactMechanism]) -> Party:
        now = self.get_parties([erp_id])
        if not now:
            raise PermanentError(f"party {erp_id} does not exist in the ERP", system="erp")
        return self.update_party(
            now[0].model_copy(update={"contact_mechanisms": tuple(mechanisms)})
        )

    def parties_changed_since(self, since: dt.datetime | None, *, limit: int = 500) -> list[Party]:
        self._call()
        parties = [
            p
            for p in self.parties.values()
            if since is None or (p.updated_at and p.updated_at >= since)
        ]
        parties.sort(key=lambda p: (p.updated_at or self.now, int(p.erp_id or 0)))
        return parties[:limit]

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

    # -- sales --------------------------------------------------------------------------------

    def create_sales(
        self, orders: Sequence[SalesOrder], *, state: TargetState = "confirmed"
    ) -> list[SaleResult]:
        self._call()
        by_gln = {p.gln: p for p in self.parties.values() if p.gln}
        by_gtin = {p.gtin: p for p in self.products.values() if p.gtin}
        by_code = {p.code: p for p in self.products.values()}
        results = []
        for order in orders:
            if order.buyer.erp_id:
                party = self.parties.get(order.buyer.erp_id)
            elif order.buyer.gln is not None:
                party = by_gln.get(order.buyer.gln)
            else:
                party = None
            if party is None:
                results.append(
                    SaleResult(
                        order.order_number,
                        error=PermanentError(
                            f"order {order.order_number}: buyer "
                            f"{order.buyer.gln or order.buyer.erp_id} is not a party in the ERP",
                            system="erp",
                            code="unknown_party",
                        ),
                    )
                )
                continue
            existing = next(
                (
                    s
                    for s in self.sales.values()
                    if s.party_erp_id == party.erp_id and s.reference == order.order_number
                ),
                None,
            )
            if existing is not None:
                sale = self._advance(existing, state)
                results.append(SaleResult(order.order_number, sale=sale))
                continue
            lines = []
            error = None
            for line in order.lines:
                if line.gtin:
                    product = by_gtin.get(line.gtin)
                elif line.product_code is not None:
                    product = by_code.get(line.product_code)
                else:
                    product = None
                if product is None:
                    error = PermanentError(
                        f"order {order.order_number} line {line.line_no}: "
                        f"{line.gtin or line.product_code} is unknown to the ERP",
                        system="erp",
                        code="unknown_product",
                    )
                    break
                price = line.unit_price if line.unit_price is not None else product.list_price
                price = (price or Decimal(0)) * (1 - line.discount_percent / 100)
                lines.append(
                    ErpSaleLine(
                        line_no=line.line_no,
                        product_code=product.code,
                        gtin=product.gtin,
                        quantity=line.quantity,
                        unit_price=price.quantize(Decimal("0.0001")),
                        erp_id=self._id(),
                    )
                )
            if error is not None:
                results.append(SaleResult(order.order_number, error=error))
                continue
            untaxed = sum(
                ((ln.quantity * ln.unit_price).quantize(CENT) for ln in lines), Decimal(0)
            )
            tax = (untaxed * self.tax_rate / 100).quantize(CENT)
            sale = ErpSale(
                erp_id=self._id(),
                number=f"S{self._next}",
                reference=order.order_number,
                party_erp_id=party.erp_id or "",
                state="draft",
                currency=order.currency,
                lines=tuple(lines),
                untaxed_amount=untaxed,
                total_amount=untaxed + tax,
            )
            sale = self._advance(sale, state)
            results.append(
                SaleResult(order.order_number, sale=sale.model_copy(update={"created": True}))
            )
        return results

    def _advance(self, sale: ErpSale, state: TargetState) -> ErpSale:
        if sale.state in _STATES and _STATES.index(sale.state) < _STATES.index(state):
            sale = sale.model_copy(update={"state": state})
        stored = sale.model_copy(update={"created": False})
        self.sales[sale.erp_id] = stored
        return stored

    def get_sales(self, erp_ids: Sequence[str]) -> list[ErpSale]:
        self._call()
        return [self.sales[i] for i in erp_ids if i in self.sales]

    def find_sale(self, party_erp_id: str, reference: str) -> ErpSale | None:
        self._call()
        return next(
            (
                s
                for s in self.sales.values()
                if s.party_erp_id == party_erp_id and s.reference == reference
            ),
            None,
        )

    # -- stock --------------------------------------------------------------------------------

    def stock_levels(
        self, product_codes: Sequence[str] | None = None, *, warehouse: str | None = None
    ) -> list[StockLevel]:
        self._call()
        gtins = {p.code: p.gtin for p in self.products.values()}
        return [
            StockLevel(
                product_code=code, gtin=gtins.get(code), location=wh, quantity=qty, as_of=self.now
            )
            for (code, wh), qty in sorted(self.stock.items())
            if (product_codes is None or code in product_codes) and warehouse in (None, wh)
        ]

    # -- operator actions and documents -------------------------------------------------------

    def ship(self, sale_erp_id: str) -> Shipment:
        """What the warehouse does: ship the whole sale (stock goes down) and invoice it."""
        sale = self.sales[sale_erp_id]
        party = self.parties[sale.party_erp_id]
        for ln in sale.lines:
            key = (ln.product_code, "WH")
            self.stock[key] = self.stock.get(key, Decimal(0)) - ln.quantity
        shipment = Shipment(
            erp_id=self._id(),
            number=f"OUT{self._next}",
            state="done",
            customer=PartyRef(gln=party.gln, erp_id=party.erp_id, name=party.name),
            delivery_address=party.addresses[0] if party.addresses else Address(),
            order_numbers=(sale.reference,),
            sale_numbers=(sale.number or "",),
            effective_date=self.now.date(),
            lines=tuple(
                ShipmentLine(
                    line_no=i,
                    product_code=ln.product_code,
                    gtin=ln.gtin,
                    quantity=ln.quantity,
                    order_number=sale.reference,
                )
                for i, ln in enumerate(sale.lines, start=1)
            ),
            updated_at=self.now,
        )
        self.shipments[shipment.erp_id] = shipment
        self.sales[sale_erp_id] = sale.model_copy(update={"state": "processing"})
        return shipment

    def post_invoice(self, sale_erp_id: str) -> Invoice:
        """What accounting does: post the invoice of a sale, taxes at ``tax_rate``."""
        sale = self.sales[sale_erp_id]
        party = self.parties[sale.party_erp_id]
        lines = tuple(
            InvoiceLine(
                line_no=i,
                product_code=ln.product_code,
                gtin=ln.gtin,
                quantity=ln.quantity,
                unit_price=ln.unit_price,
                amount=(ln.quantity * ln.unit_price).quantize(CENT),
                tax_rate=self.tax_rate,
                order_number=sale.reference,
            )
            for i, ln in enumerate(sale.lines, start=1)
        )
        untaxed = sum((ln.amount for ln in lines), Decimal(0))
        tax = (untaxed * self.tax_rate / 100).quantize(CENT)
        invoice = Invoice(
            erp_id=self._id(),
            number=f"INV{self._next}",
            invoice_date=self.now.date(),
            customer=PartyRef(gln=party.gln, erp_id=party.erp_id, name=party.name),
            currency=sale.currency,
            lines=lines,
            taxes=(TaxLine(rate=self.tax_rate, base=untaxed, amount=tax),),
            untaxed_amount=untaxed,
            tax_amount=tax,
            total_amount=untaxed + tax,
            order_numbers=(sale.reference,),
            updated_at=self.now,
        )
        self.invoices[invoice.erp_id] = invoice
        return invoice

    def shipments_changed_since(
        self, since: dt.datetime | None, *, limit: int = 200
    ) -> list[Shipment]:
        self._call()
        items = [
            s
            for s in self.shipments.values()
            if since is None or (s.updated_at and s.updated_at >= since)
        ]
        return sorted(items, key=lambda s: (s.updated_at or self.now, int(s.erp_id)))[:limit]

    def set_shipment_tracking(self, erp_id: str, tracking_number: str) -> None:
        self._call()
        if erp_id not in self.shipments:
            raise PermanentError(f"shipment {erp_id} does not exist in the ERP", system="erp")
        shipment = self.shipments[erp_id]
        if shipment.tracking_number != tracking_number:
            self.shipments[erp_id] = shipment.model_copy(
                update={"tracking_number": tracking_number, "updated_at": self.now}
            )

    def invoices_posted_since(
        self, since: dt.datetime | None, *, limit: int = 200
    ) -> list[Invoice]:
        self._call()
        items = [
            i
            for i in self.invoices.values()
            if since is None or (i.updated_at and i.updated_at >= since)
        ]
        return sorted(items, key=lambda i: (i.updated_at or self.now, int(i.erp_id)))[:limit]
