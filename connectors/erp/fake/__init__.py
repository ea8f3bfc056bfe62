"""In-memory ERP for unit tests of flows: same port, same idempotency rules, no server.

Seed it with ``add_product`` / ``create_parties``; drive time with ``tick``; simulate the ERP's
staff with ``ship`` and ``post_invoice``. ``fail_next`` injects one error into the next call.
``tests/contract/test_erp_port.py`` runs the same suite on it and on the Tryton adapter; what
a party reads back as follows the adapter's own rules (``transforms.erp_tryton``).

One module per role: ``base`` (state, clock, catalogue, VAT rates: ``tax_rate`` for every
product without its own in ``tax_rates``, the allowance/charge services at the rate they
name), ``parties``, ``sales``, ``changes``, ``documents`` (stock, shipments, invoices).

Known simplifications: one VAT line per rate on an invoice, price lists only as quantity
breaks on the list price (``price_lists``), a confirmed sale stays ``confirmed`` until
shipped (Tryton moves it to ``processing`` at once), a shipment exists only once ``ship`` ran
(Tryton has it ``waiting`` from the confirmation), a processed sale asked for no date has
none (Tryton: today), and a party without an address can still order.
"""

from __future__ import annotations

from connectors.erp.fake.changes import FakeChanges
from connectors.erp.fake.documents import FakeDocuments
from connectors.erp.fake.parties import FakeParties
from connectors.erp.fake.sales import FakeSales
from connectors.erp.port import ErpPort
from connectors.erp.sales_feed import FakeSalesFeed

__all__ = ["FakeErp"]


class FakeErp(FakeParties, FakeSales, FakeChanges, FakeDocuments, FakeSalesFeed, ErpPort):
    """A deterministic in-memory ERP (ids are consecutive integers as strings)."""
