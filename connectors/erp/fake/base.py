"""The FakeErp's state, clock, injected failures, catalogue and VAT rates, shared by its roles."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable
from decimal import Decimal
from typing import Protocol, TypeVar

from schemas.errors import HubError, PermanentError
from schemas.model import CENT, ErpSale, ErpSaleLine, Invoice, Party, Product, Shipment
from transforms.edifact_orders_allowances import ADJUSTMENT_RATES, adjustment_code

SYSTEM = "erp"
PRICE_DIGITS = Decimal("0.0001")
T = TypeVar("T")
# the allowance/charge services (ALLOWANCE, CHARGE-7, ...) are taxed at the rate they name
SERVICE_RATES = {adjustment_code(c, r): r for c in (False, True) for r in ADJUSTMENT_RATES}


class _Stamped(Protocol):
    """A record the ERP stamps when it changes (party, shipment, invoice)."""

    @property
    def erp_id(self) -> str | None: ...

    @property
    def updated_at(self) -> dt.datetime | None: ...


S = TypeVar("S", bound=_Stamped)


def checked_id(erp_id: str | None) -> str:
    """An ERP id as the fake stores it; PermanentError for one no ERP record could have."""
    try:
        int(erp_id or "")
    except ValueError as exc:
        raise PermanentError(
            f"ERP id {erp_id!r} is not an ERP record id (an integer)", system=SYSTEM
        ) from exc
    return erp_id or ""


def last(items: Iterable[T]) -> T | None:
    """The last item (the ERP's batch look-ups keep the last record per key), or None."""
    found = list(items)
    return found[-1] if found else None


class FakeErpBase:
    """What every role of the fake reads and writes (ids are consecutive integers as strings)."""

    def __init__(
        self,
        *,
        now: dt.datetime | None = None,
        tax_rate: Decimal = Decimal(19),
        currency: str = "EUR",
    ) -> None:
        self.now = now or dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
        self.tax_rate = tax_rate  # of every product without its own in ``tax_rates``
        self.tax_rates: dict[str, Decimal] = {}  # product code -> VAT rate in percent
        self.currency = currency  # the company's; sales in other currencies are refused
        self.currencies = {currency}
        self.warehouses = {"WH"}
        self.parties: dict[str, Party] = {}
        self.products: dict[str, Product] = {}
        self.stock: dict[tuple[str, str], Decimal] = {}
        self.sales: dict[str, ErpSale] = {}
        self.line_texts: dict[str, str] = {}  # sale line erp id -> its description
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
        self,
        product: Product,
        *,
        stock: Decimal | int = 0,
        warehouse: str = "WH",
        tax_rate: Decimal | None = None,
    ) -> Product:
        """Put a product in the catalogue (with an erp_id), on stock, at its VAT rate."""
        stored = product.model_copy(update={"erp_id": product.erp_id or self._id()})
        self.products[stored.erp_id or ""] = stored
        self.stock[(stored.code, warehouse)] = Decimal(stock)
        self.warehouses.add(warehouse)
        if tax_rate is not None:
            self.tax_rates[stored.code] = tax_rate
        return stored

    # -- VAT ----------------------------------------------------------------------------------

    def rate_of(self, code: str) -> Decimal:
        """The VAT rate (percent) of a product or allowance/charge service."""
        if code in self.tax_rates:
            return self.tax_rates[code]
        return SERVICE_RATES.get(code, self.tax_rate)

    def bases(self, lines: Iterable[ErpSaleLine]) -> dict[Decimal, Decimal]:
        """VAT rate -> the lines' net amount at it (each line rounded to the cent)."""
        found: dict[Decimal, Decimal] = {}
        for ln in lines:
            rate = self.rate_of(ln.product_code)
            found[rate] = found.get(rate, Decimal(0)) + (ln.quantity * ln.unit_price).quantize(CENT)
        return found

    def totals(self, lines: Iterable[ErpSaleLine]) -> tuple[Decimal, Decimal]:
        """The sale's untaxed and total amount: VAT per rate on its base, to the cent."""
        bases = self.bases(lines)
        untaxed = sum(bases.values(), Decimal(0))
        tax = sum(((b * r / 100).quantize(CENT) for r, b in bases.items()), Decimal(0))
        return untaxed, untaxed + tax

    # -- shared look-ups ----------------------------------------------------------------------

    def _changed_since(self, items: Iterable[S], since: dt.datetime | None, limit: int) -> list[S]:
        """The records updated at or after ``since`` (all when None), oldest first, by id."""
        found = [x for x in items if since is None or (x.updated_at and x.updated_at >= since)]
        found.sort(key=lambda x: (x.updated_at or self.now, int(x.erp_id or 0)))
        return found[:limit]

    def _price_for(self, party_erp_id: str, product: Product, qty: Decimal) -> Decimal | None:
        breaks = sorted(self.price_lists.get(party_erp_id, ()), reverse=True)
        factor = next((f for minimum, f in breaks if qty >= minimum), Decimal(1))
        base = product.list_price
        return None if base is None else (base * factor).quantize(PRICE_DIGITS)
