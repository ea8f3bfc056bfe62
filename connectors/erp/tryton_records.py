"""Batched Tryton reads every role of the adapter shares, and the look-ups it caches."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from connectors.erp.jsonrpc import SYSTEM, TrytonRpc
from schemas.errors import PermanentError
from schemas.model import PartyRef
from transforms import erp_tryton as tt
from transforms import erp_tryton_documents as td

log = logging.getLogger(__name__)

K = TypeVar("K", int, str)
R = TypeVar("R")


def _by_key(
    values: Iterable[K], rows: Callable[[list[K]], list[R]], key: Callable[[R], K | None]
) -> dict[K, R]:
    """``key(row) -> row`` for the rows ``rows(wanted)`` reads whose key is wanted; no call
    when nothing is wanted."""
    wanted = sorted(set(values))
    if not wanted:
        return {}
    chosen = set(wanted)
    return {k: r for r in rows(wanted) if (k := key(r)) is not None and k in chosen}


def _by_identifier(codes: list[str]) -> list[Any]:
    """The domain of records with an identifier (GLN, GTIN) among ``codes``."""
    return [("identifiers", "where", [("code", "in", codes)])]


class TrytonRecords:
    """One Tryton database's records, read in batches: a constant number of calls per batch.

    Caches what does not change while the hub runs: the company, countries, currencies, tax
    rates and warehouses.
    """

    def __init__(self, rpc: TrytonRpc) -> None:
        self.rpc = rpc
        self._company: dict[str, Any] | None = None
        self._countries: dict[str, int] = {}
        self._currencies: dict[str, int] = {}
        self._tax_rates: dict[int, Decimal] = {}
        self._warehouses: dict[str, int] | None = None

    def search_read(
        self,
        model: str,
        domain: list[Any],
        fields: list[str],
        *,
        limit: int | None = None,
        order: list[tuple[str, str]] | None = None,
        context: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """``model.search_read(domain, 0, limit, order, fields)``: a read, so retried."""
        return self.rpc.model(
            model, "search_read", domain, 0, limit, order, fields, idempotent=True, context=context
        )

    def read(self, model: str, ids: Sequence[int], fields: list[str]) -> list[dict[str, Any]]:
        """``model.read(ids, fields)``: every id must exist."""
        return self.rpc.model(model, "read", list(ids), fields, idempotent=True)

    # -- cached look-ups ----------------------------------------------------------------------

    def company(self) -> dict[str, Any]:
        """The user's current company: ``id``, ``party`` (its party id) and ``currency`` code."""
        if self._company is None:
            self.rpc.ensure_login()
            company_id = self.rpc.context.get("company")
            if not company_id:
                raise PermanentError(
                    f"user {self.rpc.login_name!r} on {self.rpc.url} has no current company: "
                    "set one in the user's preferences",
                    system=SYSTEM,
                )
            (row,) = self.read("company.company", [company_id], ["party", "currency.code"])
            self._company = {
                "id": company_id,
                "party": row["party"],
                "currency": tt.nested(row, "currency").get("code"),
            }
        return self._company

    def country_ids(self, codes: set[str]) -> dict[str, int]:
        """Country code -> id, for the codes the ERP defines."""
        return self._ids_by_code("country.country", codes, self._countries)

    def currency_ids(self, codes: set[str]) -> dict[str, int]:
        """Currency code -> id, for the codes the ERP defines."""
        return self._ids_by_code("currency.currency", codes, self._currencies)

    def _ids_by_code(self, model: str, codes: set[str], cache: dict[str, int]) -> dict[str, int]:
        """Ids of records by their ``code``, asking the ERP only for codes not cached yet."""
        missing = codes - cache.keys()
        if missing:
            rows = self.search_read(model, [("code", "in", sorted(missing))], ["code"])
            cache.update({r["code"]: r["id"] for r in rows})
        return {c: cache[c] for c in codes if c in cache}

    def tax_rates(self, tax_ids: set[int]) -> dict[int, Decimal]:
        """Tax id -> rate in percent."""
        missing = tax_ids - self._tax_rates.keys()
        if missing:
            for r in self.read("account.tax", sorted(missing), ["rate", "type"]):
                self._tax_rates[r["id"]] = td.tax_rate(r)
        return {t: self._tax_rates[t] for t in tax_ids if t in self._tax_rates}

    def warehouse_ids(self) -> dict[str, int]:
        """Warehouse code (or name) -> location id."""
        if self._warehouses is None:
            rows = self.search_read(
                "stock.location", [("type", "=", "warehouse")], ["code", "name"]
            )
            self._warehouses = {(r["code"] or r["name"]): r["id"] for r in rows}
        return self._warehouses

    # -- parties ------------------------------------------------------------------------------

    def party_rows(self, domain: list[Any], *, limit: int | None = None) -> list[tt.PartyRow]:
        """Parties matching ``domain`` (by id), with addresses, identifiers and mechanisms."""
        rows = self.search_read(
            "party.party", domain, tt.PARTY_FIELDS, limit=limit, order=[("id", "ASC")]
        )
        parties = [tt.to_party(r) for r in rows]
        for party in parties:
            for reason in party.skipped:
                log.warning("%s", reason)
        return parties

    def party_rows_by_id(self, ids: Iterable[int]) -> dict[int, tt.PartyRow]:
        """Party id -> party, for the ids that exist."""
        return _by_key(ids, lambda w: self.party_rows([("id", "in", w)]), lambda r: r.id)

    def party_rows_by_gln(self, glns: Sequence[str]) -> dict[str, tt.PartyRow]:
        """GLN -> party, for the GLNs the ERP knows."""
        return _by_key(glns, lambda w: self.party_rows(_by_identifier(w)), lambda r: r.party.gln)

    def party_refs(self, party_ids: set[int]) -> dict[int, PartyRef]:
        """Party id -> the reference a document carries (GLN, id, name)."""
        if not party_ids:
            return {}
        rows = self.read("party.party", sorted(party_ids), tt.PARTY_REF_FIELDS)
        return {r["id"]: tt.to_party_ref(r) for r in rows}

    # -- products -----------------------------------------------------------------------------

    def product_rows(self, domain: list[Any], *, limit: int | None = None) -> list[tt.ProductRow]:
        """Products matching ``domain`` (by id), priced in the company's currency."""
        rows = self.search_read(
            "product.product", domain, tt.PRODUCT_FIELDS, limit=limit, order=[("id", "ASC")]
        )
        currency = self.company()["currency"]
        return [tt.to_product(r, currency) for r in rows]

    def product_rows_by_gtin(self, gtins: Sequence[str]) -> dict[str, tt.ProductRow]:
        """GTIN -> product, for the GTINs the ERP knows."""
        return _by_key(gtins, lambda w: self.product_rows(_by_identifier(w)), lambda r: r.gtin)

    def product_rows_by_code(self, codes: Sequence[str]) -> dict[str, tt.ProductRow]:
        """Product code -> product, for the codes the ERP knows."""
        return _by_key(codes, lambda w: self.product_rows([("code", "in", w)]), lambda r: r.code)

    def product_refs(self, product_ids: set[int]) -> dict[int, tt.ProductRef]:
        """Product id -> (code, GTIN), for document lines."""
        if not product_ids:
            return {}
        rows = self.read("product.product", sorted(product_ids), tt.PRODUCT_REF_FIELDS)
        return {r["id"]: tt.to_product_ref(r) for r in rows}

    # -- documents ----------------------------------------------------------------------------

    def origins(self, origins: Iterable[str | None]) -> dict[str, td.OriginRef]:
        """``'sale.line,12'`` -> (partner order number, sale number) of that line's sale."""
        line_ids = td.sale_line_ids(origins)
        if not line_ids:
            return {}
        return dict(td.to_origin_ref(r) for r in self.read("sale.line", line_ids, td.ORIGIN_FIELDS))
