"""In-memory ERP for unit tests of flows: same port, same idempotency rules, no server.

Seed it with ``add_product`` / ``create_parties``; drive time with ``tick``; simulate the ERP's
staff with ``ship`` and ``post_invoice``. ``fail_next`` injects one error into the next call.
``tests/contract/test_erp_port.py`` runs the same suite on it and on the Tryton adapter; what
a party reads back as follows the adapter's own rules (``transforms.erp_tryton``).

Known simplifications: one tax rate for every product, no price lists (an unpriced line gets
the list price), a confirmed sale stays ``confirmed`` until shipped (Tryton moves it to
``processing`` at once), a shipment exists only once ``ship`` ran (Tryton has it ``waiting``
from the confirmation), a processed sale asked for no date has none (Tryton: today), and a
party without an address can still order.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from connectors.erp.port import ErpPort, PartyQuery, SaleResult, TargetState
from connectors.erp.sales_feed import FakeSalesFeed
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
    SalesOrderChange,
    SalesOrderLine,
    SalesOrderLineChange,
    Shipment,
    ShipmentLine,
    StockLevel,
    TaxLine,
)
from transforms import erp_tryton as tt
from transforms import erp_tryton_documents as td
from transforms.edifact_orders_allowances import ADJUSTMENT_PRODUCTS, adjustment_lines

SYSTEM = "erp"
PRICE_DIGITS = Decimal("0.0001")
_STATES = ["draft", "quotation", "confirmed"]
T = TypeVar("T")


class _Stamped(Protocol):
    """A record the ERP stamps when it changes (party, shipment, invoice)."""

    @property
    def erp_id(self) -> str | None: ...

    @property
    def updated_at(self) -> dt.datetime | None: ...


S = TypeVar("S", bound=_Stamped)


def _checked_id(erp_id: str | None) -> str:
    """An ERP id as the fake stores it; PermanentError for one no ERP record could have."""
    try:
        int(erp_id or "")
    except ValueError as exc:
        raise PermanentError(
            f"ERP id {erp_id!r} is not an ERP record id (an integer)", system=SYSTEM
        ) from exc
    return erp_id or ""


def _last(items: Iterable[T]) -> T | None:
    """The last item (the ERP's batch look-ups keep the last record per key), or None."""
    found = list(items)
    return found[-1] if found else None


def _readable_vat(vat: str | None) -> str | None:
    """The VAT id as the ERP reads it back: only EU VAT ids are typed as VAT ids."""
    return vat if vat and vat[:2] in tt.EU_VAT_PREFIXES else None


def _compact(vat: str) -> str:
    return vat.replace(" ", "").replace(".", "").replace("-", "").upper()


def _matches(party: Party, query: PartyQuery) -> bool:
    """Every criterion of ``query`` holds (names and emails ignoring case, trimmed)."""
    email = (query.email or "").strip().lower()
    postal_code = (query.postal_code or "").strip()
    return all(
        (
            not query.gln or party.gln == query.gln,
            not query.vat or _compact(party.vat or "") == _compact(query.vat),
            not email
            or any(
                m.type == "email" and m.value.lower() == email for m in party.contact_mechanisms
            ),
            not query.name or party.name.lower() == query.name.strip().lower(),
            not postal_code or any(a.postal_code == postal_code for a in party.addresses),
        )
    )


class FakeErp(FakeSalesFeed, ErpPort):
    """A deterministic in-memory ERP (ids are consecutive integers as strings)."""

    def __init__(
        self,
        *,
        now: dt.datetime | None = None,
        tax_rate: Decimal = Decimal(19),
        currency: str = "EUR",
    ) -> None:
        self.now = now or dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
        self.tax_rate = tax_rate
        self.currency = currency  # the company's; sales in other currencies are refused
        self.currencies = {currency}
        self.warehouses = {"WH"}
        self.parties: dict[str, Party] = {}
        self.products: dict[str, Product] = {}
        self.stock: dict[tuple[str, str], Decimal] = {}
        self.sales: dict[str, ErpSale] = {}
        self.shipments: dict[str, Shipment] = {}
        self.invoices: dict[str, Invoice] = {}
        # party erp id -> quantity breaks (minimum quantity, factor on the list price)
        self.price_lists: dict[str, tuple[tuple[Decimal, Decimal], ...]] = {}
        self.rates: dict[str, Decimal] = {}  # other currency -> units per company currency unit
        self.calls = 0
        self._next = 0
        self._line_ids = itertools.count(1)  # addresses and contact mechanisms
        self._party_codes = itertools.count(1)
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
        self.warehouses.add(warehouse)
        return stored

    # -- parties ------------------------------------------------------------------------------

    def _party(self, erp_id: str | None, missing: str) -> Party:
        """The stored party ``erp_id``; PermanentError (``missing``) when there is none."""
        party = self.parties.get(_checked_id(erp_id)) if erp_id else None
        if party is None:
            raise PermanentError(missing, system=SYSTEM)
        return party

    def _mechanisms(self, values: Iterable[dict[str, Any]]) -> tuple[ContactMechanism, ...]:
        return tuple(ContactMechanism(erp_id=str(next(self._line_ids)), **v) for v in values)

    def _addresses(self, addresses: Iterable[Address]) -> tuple[Address, ...]:
        # the ERP keeps no GLN per address
        return tuple(
            a.model_copy(update={"erp_id": str(next(self._line_ids)), "gln": None})
            for a in addresses
        )

    def get_parties(self, erp_ids: Sequence[str]) -> list[Party]:
        self._call()
        return [self.parties[i] for i in map(_checked_id, erp_ids) if i in self.parties]

    def find_parties(self, query: PartyQuery, *, limit: int = 10) -> list[Party]:
        self._call()
        if query.is_empty():
            raise PermanentError("find_parties needs at least one criterion", system=SYSTEM)
        return [p for p in self.parties.values() if _matches(p, query)][:limit]

    def find_parties_by_gln(self, glns: Sequence[str]) -> dict[str, Party]:
        self._call()
        wanted = set(glns)
        return {p.gln: p for p in self.parties.values() if p.gln and p.gln in wanted}

    def create_parties(self, parties: Sequence[Party]) -> list[Party]:
        """Store the parties as the ERP reads them back (see ``ErpPort.create_parties``)."""
        self._call()
        created = []
        for party in parties:
            mechanisms = self._mechanisms(
                tt.mechanism_values(party.contact_mechanisms, party.contacts)
            )
            stored = party.model_copy(
                update={
                    "erp_id": self._id(),
                    "code": party.code or str(next(self._party_codes)),
                    "vat": _readable_vat(party.vat),
                    "lang": None,
                    "addresses": self._addresses(party.addresses),
                    "contact_mechanisms": mechanisms,
                    "contacts": tt.contacts_of(mechanisms),
                    "updated_at": self.now,
                }
            )
            self.parties[stored.erp_id or ""] = stored
            created.append(stored)
        return created

    def update_party(self, party: Party) -> Party:
        self._call()
        if not party.erp_id:
            raise PermanentError(f"update_party: party {party.name!r} has no erp_id", system=SYSTEM)
        now = self._party(
            party.erp_id, f"party {party.erp_id} ({party.name!r}) no longer exists in the ERP"
        )
        changes: dict[str, Any] = {}
        if party.name != now.name:
            changes["name"] = party.name
        if party.gln and party.gln != now.gln:
            changes["gln"] = party.gln
        if party.vat and party.vat != now.vat:
            changes["vat"] = _readable_vat(party.vat)
        addresses = tt.new_addresses(party, now)
        if addresses:
            changes["addresses"] = now.addresses + self._addresses(addresses)
        return self._store(
            now, changes, tt.missing_mechanisms(now, party.contact_mechanisms, party.contacts)
        )

    def _store(
        self, now: Party, changes: dict[str, Any], mechanisms: list[dict[str, Any]]
    ) -> Party:
        """``now`` with ``changes`` and the new ``mechanisms``, stamped; ``now`` if no change."""
        if not changes and not mechanisms:
            return now
        if mechanisms:
            merged = now.contact_mechanisms + self._mechanisms(mechanisms)
            changes.update(contact_mechanisms=merged, contacts=tt.contacts_of(merged))
        updated = now.model_copy(update={**changes, "updated_at": self.now})
        self.parties[now.erp_id or ""] = updated
        return updated

    def add_contact_mechanisms(self, erp_id: str, mechanisms: Sequence[ContactMechanism]) -> Party:
        self._call()
        now = self._party(erp_id, f"party {erp_id} does not exist in the ERP")
        return self._store(now, {}, tt.missing_mechanisms(now, mechanisms))

    def _changed_since(self, items: Iterable[S], since: dt.datetime | None, limit: int) -> list[S]:
        """The records updated at or after ``since`` (all when None), oldest first, by id."""
        found = [x for x in items if since is None or (x.updated_at and x.updated_at >= since)]
        found.sort(key=lambda x: (x.updated_at or self.now, int(x.erp_id or 0)))
        return found[:limit]

    def parties_changed_since(self, since: dt.datetime | None, *, limit: int = 500) -> list[Party]:
        self._call()
        return self._changed_since(self.parties.values(), since, limit)

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

    def change_sale(self, sale_erp_id: str, change: SalesOrderChange) -> ErpSale:
        """Lines by number while the sale is draft or quotation; a confirmed sale (Tryton's
        processing, nothing shipped) is amended: no line added, a deleted one kept at 0, a
        cancelled one all at 0; ``ship`` makes it processing: too late, as on Tryton."""
        self._call()
        sale = self.sales[sale_erp_id]
        if sale.state == "cancelled" and change.cancel:
            return sale
        name = sale.number or sale_erp_id
        if sale.state not in ("draft", "quotation", "confirmed"):
            raise PermanentError(f"sale {name} is {sale.state}: the change comes too late",
                                 system=SYSTEM, code="too_late")  # fmt: skip
        amend = sale.state == "confirmed"
        if change.requested_delivery_date is not None and not change.cancel:
            sale = sale.model_copy(update={"delivery_date": change.requested_delivery_date})
            self.sales[sale_erp_id] = sale
        lines = {ln.line_no: ln for ln in sale.lines}
        added = [c.line_no for c in change.lines if c.line_no not in lines and c.action != "delete"]
        if amend and added and not change.cancel:
            raise PermanentError(f"sale {name} is processed: Tryton cannot add line(s) {added}",
                                 system=SYSTEM, code="too_late")  # fmt: skip
        if change.cancel and not amend:
            self.sales[sale_erp_id] = sale.model_copy(update={"state": "cancelled"})
            return self.sales[sale_erp_id]
        zero = {"quantity": Decimal(0)}
        for c in change.lines if not change.cancel else ():
            if c.action == "delete" and amend and c.line_no in lines:
                lines[c.line_no] = lines[c.line_no].model_copy(update=zero)
            elif c.action == "delete":
                lines.pop(c.line_no, None)
            else:
                lines[c.line_no] = self._changed_line(sale, lines.get(c.line_no), c)
        if change.cancel:
            lines = {no: ln.model_copy(update=zero) for no, ln in lines.items()}
        kept = tuple(sorted(lines.values(), key=lambda ln: ln.line_no))
        untaxed = sum(((ln.quantity * ln.unit_price).quantize(CENT) for ln in kept), Decimal(0))
        tax = (untaxed * self.tax_rate / 100).quantize(CENT)
        state = "cancelled" if kept and not any(ln.quantity for ln in kept) else sale.state
        self.sales[sale_erp_id] = sale.model_copy(update={
            "lines": kept, "untaxed_amount": untaxed, "total_amount": untaxed + tax,
            "state": state})  # fmt: skip
        return self.sales[sale_erp_id]

    def _changed_line(
        self, sale: ErpSale, old: ErpSaleLine | None, c: SalesOrderLineChange
    ) -> ErpSaleLine:
        by_code = {p.code: p for p in self.products.values()}
        product = by_code.get(c.product_code or "") or (by_code.get(old.product_code)
                                                          if old else None)  # fmt: skip
        if product is None:
            raise PermanentError(f"line {c.line_no}: unknown product", system=SYSTEM,
                                 code="unknown_product")  # fmt: skip
        price = c.unit_price if c.unit_price is not None else (
            old.unit_price if old else self._price_for(sale.party_erp_id, product,
                                                       c.quantity or Decimal(1)))  # fmt: skip
        return ErpSaleLine(
            line_no=c.line_no, product_code=product.code, gtin=product.gtin,
            quantity=c.quantity or (old.quantity if old else Decimal(1)),
            unit_price=((price or Decimal(0)) * (1 - c.discount_percent / 100)).quantize(
                PRICE_DIGITS), erp_id=old.erp_id if old else self._id(),
        )  # fmt: skip

    def _price_for(self, party_erp_id: str, product: Product, qty: Decimal) -> Decimal | None:
        breaks = sorted(self.price_lists.get(party_erp_id, ()), reverse=True)
        factor = next((f for minimum, f in breaks if qty >= minimum), Decimal(1))
        base = product.list_price
        return None if base is None else (base * factor).quantize(PRICE_DIGITS)

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
            party = _last(p for p in self.parties.values() if p.gln == buyer.gln)
        if party is None:
            raise td.unknown_party(order)
        return party

    def _product(self, order: SalesOrder, line: SalesOrderLine) -> Product:
        """The line's product by GTIN, else by code; ``unknown_product`` when there is none."""
        if line.gtin:
            found = (p for p in self.products.values() if p.gtin == line.gtin)
        else:
            found = (p for p in self.products.values() if p.code == line.product_code)
        product = _last(found)
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
        lines += [ErpSaleLine(line_no=a.sequence, product_code=a.product_code, quantity=Decimal(1),
                              unit_price=a.unit_price, erp_id=self._id())
                  for a in adjustment_lines(order)]  # fmt: skip
        untaxed = sum(((ln.quantity * ln.unit_price).quantize(CENT) for ln in lines), Decimal(0))
        tax = (untaxed * self.tax_rate / 100).quantize(CENT)
        when = order.requested_delivery_date  # Tryton's domain: not before the sale date
        sale = ErpSale(
            erp_id=self._id(),
            reference=order.order_number,
            party_erp_id=party.erp_id or "",
            state="draft",
            currency=order.currency,
            lines=tuple(lines),
            untaxed_amount=untaxed,
            total_amount=untaxed + tax,
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
        return [self.sales[i] for i in map(_checked_id, erp_ids) if i in self.sales]

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
        return self._find_sale(_checked_id(party_erp_id), reference)

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
        """What accounting does: post the invoice of a sale, taxes at ``tax_rate``."""
        sale = self.sales[sale_erp_id]
        party = self.parties[sale.party_erp_id]
        lines = tuple(
            InvoiceLine(**values, unit_price=ln.unit_price, tax_rate=self.tax_rate,
                        amount=(ln.quantity * ln.unit_price).quantize(CENT))
            for values, ln in self._document_lines(sale, invoice=True)
        )  # fmt: skip
        untaxed = sum((ln.amount for ln in lines), Decimal(0))
        tax = (untaxed * self.tax_rate / 100).quantize(CENT)
        invoice = Invoice(
            erp_id=self._id(), number=f"INV{self._next}", invoice_date=self.now.date(),
            customer=PartyRef(gln=party.gln, erp_id=party.erp_id, name=party.name),
            currency=sale.currency, lines=lines,
            taxes=(TaxLine(rate=self.tax_rate, base=untaxed, amount=tax),),
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
        if _checked_id(erp_id) not in self.shipments:
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
