"""Tryton adapter of the ERP port: canonical model <-> Tryton records over JSON-RPC, in batches.

Every batch operation costs a constant number of HTTP calls whatever its size: nested reads
(``lines.product``, ``addresses.country.code``), one ``create`` with nested lines for many
sales, one ``quote`` and one ``confirm`` for all of them. Only sale lines without a partner
price need extra calls: one ``sale_price_uom`` read per (price list, quantity) group.

The roles live beside this class: ``tryton_records`` (shared batched reads, cached look-ups),
``tryton_parties``, ``tryton_sales``, ``tryton_stock`` (stock and shipments),
``tryton_invoices``; the record <-> canonical mappings are pure, in ``transforms.erp_tryton``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from connectors.erp import (
    tryton_changes,
    tryton_invoices,
    tryton_parties,
    tryton_prices,
    tryton_sales,
    tryton_stock,
)
from connectors.erp.jsonrpc import SYSTEM, TrytonRpc
from connectors.erp.port import ErpPort, PartyQuery, SaleResult, TargetState
from connectors.erp.sales_feed import TrytonSalesFeed
from connectors.erp.tryton_records import TrytonRecords
from schemas import model as m
from schemas.errors import PermanentError


class TrytonErp(TrytonSalesFeed, ErpPort):
    """The ERP port on a Tryton 8 server (JSON-RPC ``/<db>/rpc/``)."""

    def __init__(self, rpc: TrytonRpc) -> None:
        self.rpc = rpc
        self.records = TrytonRecords(rpc)

    @classmethod
    def connect(
        cls, base_url: str, database: str, login: str, password: str, **options: Any
    ) -> TrytonErp:
        """A connector for ``base_url`` (e.g. ``http://127.0.0.1:8000/``) and ``database``;
        ``options``: ``timeout`` and ``policy`` as ``TrytonRpc`` takes them."""
        return cls(TrytonRpc(base_url, database, login, password, **options))

    @classmethod
    def from_connection(cls, conn: Any) -> TrytonErp:
        """From an Airflow-style connection: host, port, login, password, schema = database.

        ``extra`` may hold ``scheme`` (http/https), ``timeout`` (read seconds) and
        ``database`` (instead of ``schema``).
        """
        extra = dict(getattr(conn, "extra", None) or {})
        database = getattr(conn, "schema", None) or extra.get("database")
        if not (getattr(conn, "host", None) and database and getattr(conn, "login", None)):
            raise PermanentError(
                f"connection {getattr(conn, 'conn_id', '?')!r} needs host, login, password and "
                "schema (the Tryton database name)",
                system=SYSTEM,
            )
        scheme = extra.get("scheme") or "http"
        port = f":{conn.port}" if getattr(conn, "port", None) else ""
        timeout = float(extra.get("timeout", 120))
        return cls.connect(
            f"{scheme}://{conn.host}{port}/",
            database,
            conn.login,
            conn.password or "",
            timeout=(5.0, timeout),
        )

    @property
    def calls(self) -> int:
        """HTTP requests sent so far (logins included)."""
        return self.rpc.calls

    # -- parties ------------------------------------------------------------------------------

    def get_parties(self, erp_ids: Sequence[str]) -> list[m.Party]:
        return tryton_parties.get_parties(self.records, erp_ids)

    def find_parties(self, query: PartyQuery, *, limit: int = 10) -> list[m.Party]:
        return tryton_parties.find_parties(self.records, query, limit=limit)

    def find_parties_by_gln(self, glns: Sequence[str]) -> dict[str, m.Party]:
        return {g: r.party for g, r in self.records.party_rows_by_gln(glns).items()}

    def create_parties(self, parties: Sequence[m.Party]) -> list[m.Party]:
        return tryton_parties.create_parties(self.records, parties)

    def update_party(self, party: m.Party) -> m.Party:
        return tryton_parties.update_party(self.records, party)

    def add_contact_mechanisms(
        self, erp_id: str, mechanisms: Sequence[m.ContactMechanism]
    ) -> m.Party:
        return tryton_parties.add_contact_mechanisms(self.records, erp_id, mechanisms)

    def parties_changed_since(
        self, since: dt.datetime | None, *, limit: int = 500
    ) -> list[m.Party]:
        return tryton_parties.parties_changed_since(self.records, since, limit=limit)

    # -- products -----------------------------------------------------------------------------

    def list_products(self, *, limit: int | None = None) -> list[m.Product]:
        return [r.product for r in self.records.product_rows([("salable", "=", True)], limit=limit)]

    def find_products_by_gtin(self, gtins: Sequence[str]) -> dict[str, m.Product]:
        return {g: r.product for g, r in self.records.product_rows_by_gtin(gtins).items()}

    def find_products_by_code(self, codes: Sequence[str]) -> dict[str, m.Product]:
        return {c: r.product for c, r in self.records.product_rows_by_code(codes).items()}

    def change_sale(self, sale_erp_id: str, change: m.SalesOrderChange) -> m.ErpSale:
        return tryton_changes.change_sale(self.records, sale_erp_id, change)

    def customer_prices(
        self, party_erp_id: str, currency: str, lines: Sequence[tuple[str, Decimal]]
    ) -> dict[tuple[str, Decimal], Decimal]:
        return tryton_prices.customer_prices(self.records, party_erp_id, currency, lines)

    # -- sales --------------------------------------------------------------------------------

    def create_sales(
        self, orders: Sequence[m.SalesOrder], *, state: TargetState = "confirmed"
    ) -> list[SaleResult]:
        return tryton_sales.create_sales(self.records, orders, state)

    def get_sales(self, erp_ids: Sequence[str]) -> list[m.ErpSale]:
        return tryton_sales.get_sales(self.records, erp_ids)

    def find_sale(self, party_erp_id: str, reference: str) -> m.ErpSale | None:
        return tryton_sales.find_sale(self.records, party_erp_id, reference)

    # -- stock, shipments, invoices -----------------------------------------------------------

    def stock_levels(
        self, product_codes: Sequence[str] | None = None, *, warehouse: str | None = None
    ) -> list[m.StockLevel]:
        return tryton_stock.stock_levels(self.records, product_codes, warehouse)

    def shipments_changed_since(
        self, since: dt.datetime | None, *, limit: int = 200
    ) -> list[m.Shipment]:
        return tryton_stock.shipments_changed_since(self.records, since, limit=limit)

    def set_shipment_tracking(self, erp_id: str, tracking_number: str) -> None:
        tryton_stock.set_shipment_tracking(self.records, erp_id, tracking_number)

    def invoices_posted_since(
        self, since: dt.datetime | None, *, limit: int = 200
    ) -> list[m.Invoice]:
        return tryton_invoices.invoices_posted_since(self.records, since, limit=limit)
