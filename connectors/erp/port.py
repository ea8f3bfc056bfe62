"""The ERP port: what the hub's flows ask of the ERP, in the canonical model, whatever the ERP.

Cursors are timestamps: ``*_changed_since(since)`` returns records whose last change is at or
after ``since`` (inclusive, oldest first, at most ``limit``); the flow keeps the largest
``updated_at`` it has processed as its watermark and drops repeats by content hash.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from connectors.erp.sales_feed import SalesFeed
from schemas.errors import HubError, PermanentError
from schemas.model import (
    ContactMechanism,
    ErpSale,
    Invoice,
    Party,
    Product,
    SalesOrder,
    SalesOrderChange,
    Shipment,
    StockLevel,
)

TargetState = Literal["draft", "quotation", "confirmed"]


@dataclass(frozen=True)
class SaleResult:
    """The outcome of one order of a batch: the ERP's sale, or why it was refused."""

    order_number: str
    sale: ErpSale | None = None
    error: HubError | None = None

    @property
    def ok(self) -> bool:
        """True when the ERP holds the sale (created now or found from an earlier run)."""
        return self.sale is not None


@dataclass(frozen=True)
class PartyQuery:
    """Criteria to find a party; every criterion given must match (AND)."""

    gln: str | None = None
    vat: str | None = None
    email: str | None = None
    name: str | None = None
    postal_code: str | None = None

    def is_empty(self) -> bool:
        """No criterion at all (a query that would match every party)."""
        return not any((self.gln, self.vat, self.email, self.name, self.postal_code))


class ErpPort(SalesFeed, ABC):
    """What a flow needs from the ERP: parties, products, sales, stock, shipments, invoices.

    An ERP id the ERP could never have issued (not an integer, for Tryton) is a
    ``PermanentError``; an id it could have issued but does not hold is "unknown".
    ``tests/contract/test_erp_port.py`` runs one suite against every implementation.
    """

    system = "erp"

    # -- parties ------------------------------------------------------------------------------

    @abstractmethod
    def get_parties(self, erp_ids: Sequence[str]) -> list[Party]:
        """The parties with these ERP ids (unknown ids are left out), in the order asked."""

    @abstractmethod
    def find_parties(self, query: PartyQuery, *, limit: int = 10) -> list[Party]:
        """Parties matching every criterion of ``query`` (GLN, VAT id, email, name+postcode)."""

    @abstractmethod
    def find_parties_by_gln(self, glns: Sequence[str]) -> dict[str, Party]:
        """Batch lookup: GLN -> party, for the GLNs the ERP knows."""

    @abstractmethod
    def create_parties(self, parties: Sequence[Party]) -> list[Party]:
        """Create parties (addresses, identifiers, contact mechanisms) in one go; with erp_id.

        As read back: the contacts' emails and phones are contact mechanisms named after the
        contact, and ``contacts`` are the names found on mechanisms; a party created without
        ``code`` gets one from the ERP.
        """

    @abstractmethod
    def update_party(self, party: Party) -> Party:
        """Update the party ``party.erp_id``: name, GLN, VAT; add missing addresses/mechanisms.

        A GLN or VAT id given replaces the party's; mechanisms (the contacts' emails and phones
        included) are added when the party has none of that type and value. Additive: the ERP
        is the system of record, so nothing the hub does not know is removed.
        """

    @abstractmethod
    def add_contact_mechanisms(self, erp_id: str, mechanisms: Sequence[ContactMechanism]) -> Party:
        """Add the mechanisms the party does not have yet (same type and value); return it."""

    @abstractmethod
    def parties_changed_since(self, since: datetime | None, *, limit: int = 500) -> list[Party]:
        """Customer parties created or changed at/after ``since`` (all if None), oldest first."""

    # -- products -----------------------------------------------------------------------------

    @abstractmethod
    def list_products(self, *, limit: int | None = None) -> list[Product]:
        """Salable products, with code, GTIN, unit and list price."""

    @abstractmethod
    def find_products_by_gtin(self, gtins: Sequence[str]) -> dict[str, Product]:
        """Batch lookup: GTIN -> product, for the GTINs the ERP knows."""

    def change_sale(self, sale_erp_id: str, change: SalesOrderChange) -> ErpSale:
        """Apply a buyer's change or cancellation to its sale while the ERP allows it (lines
        by line number; a ``product_code`` on added/changed lines), the sale back in the
        state it had. A sale the ERP has processed but not shipped is amended: lines changed,
        a deleted line kept at quantity 0, a cancelled sale all at 0 (it reads as
        ``cancelled``), no line added. ``PermanentError(code="too_late")`` once goods are
        picked or shipped, or for a line added to a processed sale. Applying the same change
        again changes nothing."""
        raise PermanentError(
            f"sale {sale_erp_id}: this ERP adapter cannot change sales", system="erp"
        )

    def customer_prices(
        self, party_erp_id: str, currency: str, lines: Sequence[tuple[str, Decimal]]
    ) -> dict[tuple[str, Decimal], Decimal]:
        """(product code, quantity) -> the unit price the ERP would charge this customer in
        ``currency``: its price list, quantity breaks and currency rate applied. The default
        is the list price (an ERP without price lists)."""
        products = self.find_products_by_code(sorted({code for code, _ in lines}))
        prices = {code: p.list_price for code, p in products.items() if p.list_price is not None}
        return {(code, qty): prices[code] for code, qty in lines if code in prices}

    @abstractmethod
    def find_products_by_code(self, codes: Sequence[str]) -> dict[str, Product]:
        """Batch lookup: product code -> product, for the codes the ERP knows."""

    # -- sales --------------------------------------------------------------------------------

    @abstractmethod
    def create_sales(
        self, orders: Sequence[SalesOrder], *, state: TargetState = "confirmed"
    ) -> list[SaleResult]:
        """Create sales for a batch of orders and move them to ``state``; one result per order.

        Idempotent: an order whose number is already the ``reference`` of a sale of the same
        buyer is not created again; that sale is returned (``created=False``) and moved on to
        ``state`` if it is behind; the same order twice in one batch makes one sale. Bad orders
        get a ``PermanentError`` in their result, its ``code`` saying why (``unknown_party``,
        ``unknown_product``, ``unknown_currency``, ``party_without_address``, or the ERP's
        refusal); the rest of the batch goes on. A sale has a ``number`` once quoted; the ERP
        may move a confirmed sale on by itself (Tryton: to ``processing``).
        """

    @abstractmethod
    def get_sales(self, erp_ids: Sequence[str]) -> list[ErpSale]:
        """Sales by ERP id (unknown ids are left out), in the order asked.

        State, lines with the ERP's quantities and unit prices, totals.
        """

    @abstractmethod
    def find_sale(self, party_erp_id: str, reference: str) -> ErpSale | None:
        """The sale (not cancelled) of this party whose reference (partner order number) is
        ``reference``."""

    # -- stock --------------------------------------------------------------------------------

    @abstractmethod
    def stock_levels(
        self, product_codes: Sequence[str] | None = None, *, warehouse: str | None = None
    ) -> list[StockLevel]:
        """Quantity on hand per product and warehouse (all products / warehouses if None).

        Unknown product codes are left out; an unknown warehouse is a ``PermanentError``.
        """

    # -- shipments and invoices ---------------------------------------------------------------

    @abstractmethod
    def shipments_changed_since(
        self, since: datetime | None, *, limit: int = 200
    ) -> list[Shipment]:
        """Customer shipments created or changed at/after ``since``, oldest first, with lines."""

    @abstractmethod
    def set_shipment_tracking(self, erp_id: str, tracking_number: str) -> None:
        """Record the carrier's tracking number on the shipment (idempotent)."""

    @abstractmethod
    def invoices_posted_since(self, since: datetime | None, *, limit: int = 200) -> list[Invoice]:
        """Posted (or paid) customer invoices and credit notes changed at/after ``since``.

        Lines, taxes and totals exactly as the ERP computed them.
        """
