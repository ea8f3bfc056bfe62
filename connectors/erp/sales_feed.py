"""The ERP's sales feed: every sale from quotation on, by a cursor on its last change.

A small port mixin beside ``ErpPort`` (the CRM shows every quotation and sale however it was
entered, not only the hub's own): ``SalesFeed`` is the contract, ``TrytonSalesFeed`` reads
``sale.sale`` by write date in one search plus one product read, ``FakeSalesFeed`` stamps the
in-memory sales of ``FakeErp`` with its clock when their content changes.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

from schemas.model import ErpSale

if TYPE_CHECKING:
    from connectors.erp.tryton_records import TrytonRecords

FEED_STATES = ("quotation", "confirmed", "processing", "done", "cancelled")


@dataclass(frozen=True)
class SaleChange:
    """A sale as the ERP holds it now, and when it last changed (the cursor's value)."""

    sale: ErpSale
    updated_at: dt.datetime


class SalesFeed(ABC):
    """Sales changed since a moment, for flows that mirror the whole pipeline."""

    @abstractmethod
    def sales_changed_since(
        self, since: dt.datetime | None, *, limit: int = 200
    ) -> list[SaleChange]:
        """Sales from quotation on (drafts are left out) created or changed at/after
        ``since`` (all if None), oldest first then by id, at most ``limit``; with lines."""


class TrytonSalesFeed(SalesFeed):
    """The feed on Tryton: ``sale.sale`` by ``write_date``/``create_date``."""

    records: TrytonRecords

    def sales_changed_since(
        self, since: dt.datetime | None, *, limit: int = 200
    ) -> list[SaleChange]:
        from transforms import erp_tryton as tt
        from transforms import erp_tryton_documents as td

        rows = self.records.search_read(
            "sale.sale",
            [("state", "in", list(FEED_STATES)), *tt.changed_domain(since)],
            [*td.SALE_FIELDS, "write_date", "create_date"],
            limit=limit,
            order=tt.CHANGED_ORDER,
        )
        products = self.records.product_refs(
            {ln["product"] for r in rows for ln in tt.nested(r, "lines") if ln["product"]}
        )
        changes = []
        for row in rows:
            stamp = tt.utc(tt.latest(row.get("write_date"), row.get("create_date")))
            changes.append(SaleChange(td.to_sale(row, products), stamp or _EPOCH))
        changes.sort(key=lambda c: (c.updated_at, int(c.sale.erp_id)))
        return changes


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class FakeSalesFeed(SalesFeed):
    """The feed on ``FakeErp``: a sale is stamped with the fake clock when its content is
    first seen different (its state, lines or totals), as Tryton's write date would."""

    sales: dict[str, ErpSale]
    now: dt.datetime

    def sales_changed_since(
        self, since: dt.datetime | None, *, limit: int = 200
    ) -> list[SaleChange]:
        stamps: dict[str, tuple[ErpSale, dt.datetime]] = self.__dict__.setdefault(
            "_sale_stamps", {}
        )
        for erp_id, sale in self.sales.items():
            seen = stamps.get(erp_id)
            if seen is None or seen[0] != sale:
                stamps[erp_id] = (sale, self.now)
        found = [
            SaleChange(sale, stamp)
            for sale, stamp in stamps.values()
            if sale.state in FEED_STATES and (since is None or stamp >= since)
        ]
        found.sort(key=lambda c: (c.updated_at, int(c.sale.erp_id)))
        return found[:limit]
