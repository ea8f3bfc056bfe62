"""Tryton adapter of the ERP port: canonical model <-> Tryton records over JSON-RPC, in batches.

Every batch operation costs a constant number of HTTP calls whatever its size: nested reads
(``lines.product``, ``addresses.country.code``), one ``create`` with nested lines for many
sales, one ``quote`` and one ``confirm`` for all of them. Only sale lines without a partner
price need extra calls: one ``sale_price_uom`` read per (price list, quantity) group.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from stdnum import ean

from connectors.erp.jsonrpc import SYSTEM, TrytonRpc
from connectors.erp.port import ErpPort, PartyQuery, SaleResult, TargetState
from connectors.http import RetryPolicy
from schemas.errors import HubError, PermanentError
from schemas.model import (
    Address,
    Contact,
    ContactMechanism,
    ErpSale,
    ErpSaleLine,
    Invoice,
    InvoiceLine,
    MechanismType,
    Party,
    PartyRef,
    Product,
    SalesOrder,
    Shipment,
    ShipmentLine,
    StockLevel,
    TaxLine,
)

log = logging.getLogger(__name__)

PRICE_DIGITS = Decimal("0.0001")
_MECHANISM_TYPES = {"email", "phone", "mobile", "fax", "website"}
_STATE_ORDER = {"draft": 0, "quotation": 1, "confirmed": 2, "processing": 3, "done": 4}
_EU = {
    "AT",
    "BE",
    "BG",
    "CY",
    "CZ",
    "DE",
    "DK",
    "EE",
    "EL",
    "ES",
    "FI",
    "FR",
    "HR",
    "HU",
    "IE",
    "IT",
    "LT",
    "LU",
    "LV",
    "MT",
    "NL",
    "PL",
    "PT",
    "RO",
    "SE",
    "SI",
    "SK",
    "XI",
}

_PARTY_FIELDS = [
    "name",
    "code",
    "write_date",
    "create_date",
    "sale_price_list",
    "customer_payment_term",
    "identifiers.code",
    "identifiers.type",
    "addresses.party_name",
    "addresses.street",
    "addresses.postal_code",
    "addresses.city",
    "addresses.country.code",
    "addresses.write_date",
    "addresses.create_date",
    "contact_mechanisms.type",
    "contact_mechanisms.value",
    "contact_mechanisms.name",
    "contact_mechanisms.write_date",
    "contact_mechanisms.create_date",
]
_PRODUCT_FIELDS = [
    "code",
    "name",
    "write_date",
    "identifiers.code",
    "identifiers.type",
    "template.list_price",
    "sale_uom",
    "sale_uom.symbol",
    "template.account_category.customer_taxes_used",
]
_SALE_FIELDS = [
    "number",
    "reference",
    "party",
    "state",
    "currency.code",
    "untaxed_amount",
    "total_amount",
    "lines.type",
    "lines.sequence",
    "lines.product",
    "lines.quantity",
    "lines.unit_price",
    "lines.unit.symbol",
]


def _id(erp_id: str | int) -> int:
    try:
        return int(erp_id)
    except (TypeError, ValueError) as exc:
        raise PermanentError(
            f"ERP id {erp_id!r} is not a Tryton record id (an integer)", system=SYSTEM
        ) from exc


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    """Tryton stores naive UTC timestamps."""
    return value.replace(tzinfo=dt.UTC) if value is not None else None


def _naive_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def _latest(*values: dt.datetime | None) -> dt.datetime | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _changed_domain(since: dt.datetime | None, prefixes: Iterable[str] = ("",)) -> list[Any]:
    if since is None:
        return []
    moment = _naive_utc(since)
    clauses: list[Any] = ["OR"]
    for prefix in prefixes:
        clauses += [(f"{prefix}write_date", ">=", moment), (f"{prefix}create_date", ">=", moment)]
    return [clauses]


def _unit(symbol: str | None) -> str:
    return "unit" if symbol in (None, "u", "Unit") else symbol


def _is_gln(code: str | None) -> bool:
    return code is not None and len(code) == 13 and code.isdigit() and ean.is_valid(code)


def _nested(row: dict[str, Any], name: str) -> Any:
    """A nested read's value: ``row['lines.']`` (list) or ``row['currency.']`` (dict)."""
    return row.get(f"{name}.") or ([] if name.endswith("s") else {})


@dataclass(frozen=True)
class _ProductRow:
    """What creating a sale line needs of a product, beyond the canonical Product."""

    id: int
    code: str
    gtin: str | None
    unit_id: int | None
    taxes: tuple[int, ...]
    product: Product


@dataclass(frozen=True)
class _PartyRow:
    id: int
    party: Party
    address_id: int | None
    price_list: int | None
    payment_term: int | None


class TrytonErp(ErpPort):
    """The ERP port on a Tryton 8 server (JSON-RPC ``/<db>/rpc/``)."""

    def __init__(self, rpc: TrytonRpc) -> None:
        self.rpc = rpc
        self._company: dict[str, Any] | None = None
        self._countries: dict[str, int] = {}
        self._currencies: dict[str, int] = {}
        self._tax_rates: dict[int, Decimal] = {}
        self._warehouses: dict[str, int] | None = None

    @classmethod
    def connect(
        cls,
        base_url: str,
        database: str,
        login: str,
        password: str,
        *,
        timeout: float | tuple[float, float] = (5.0, 120.0),
        policy: RetryPolicy | None = None,
    ) -> TrytonErp:
        """A connector for ``base_url`` (e.g. ``http://127.0.0.1:8000/``) and ``database``."""
        return cls(TrytonRpc(base_url, database, login, password, timeout=timeout, policy=policy))

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

    # -- small cached look-ups ----------------------------------------------------------------

    def _company_info(self) -> dict[str, Any]:
        if self._company is None:
            self.rpc.ensure_login()
            company_id = self.rpc.context.get("company")
            if not company_id:
                raise PermanentError(
                    f"user {self.rpc.login_name!r} on {self.rpc.url} has no current company: "
                    "set one in the user's preferences",
                    system=SYSTEM,
                )
            (row,) = self.rpc.model(
                "company.company",
                "read",
                [company_id],
                ["party", "currency.code"],
                idempotent=True,
            )
            self._company = {
                "id": company_id,
                "party": row["party"],
                "currency": _nested(row, "currency").get("code"),
            }
        return self._company

    def _country_ids(self, codes: set[str]) -> dict[str, int]:
        return self._ids_by_code("country.country", codes, self._countries)

    def _currency_ids(self, codes: set[str]) -> dict[str, int]:
        return self._ids_by_code("currency.currency", codes, self._currencies)

    def _ids_by_code(self, model: str, codes: set[str], cache: dict[str, int]) -> dict[str, int]:
        """Ids of records by their ``code``, asking the ERP only for codes not cached yet."""
        missing = codes - cache.keys()
        if missing:
            rows = self.rpc.model(
                model,
                "search_read",
                [("code", "in", sorted(missing))],
                0,
                None,
                None,
                ["code"],
                idempotent=True,
            )
            cache.update({r["code"]: r["id"] for r in rows})
        return {c: cache[c] for c in codes if c in cache}

    def _rates(self, tax_ids: set[int]) -> dict[int, Decimal]:
        missing = tax_ids - self._tax_rates.keys()
        if missing:
            rows = self.rpc.model(
                "account.tax", "read", sorted(missing), ["rate", "type"], idempotent=True
            )
            for r in rows:
                rate = r["rate"] if r["type"] == "percentage" and r["rate"] is not None else 0
                self._tax_rates[r["id"]] = (Decimal(rate) * 100).normalize()
        return {t: self._tax_rates[t] for t in tax_ids if t in self._tax_rates}

    def _warehouse_ids(self) -> dict[str, int]:
        if self._warehouses is None:
            rows = self.rpc.model(
                "stock.location",
                "search_read",
                [("type", "=", "warehouse")],
                0,
                None,
                None,
                ["code", "name"],
                idempotent=True,
            )
            self._warehouses = {(r["code"] or r["name"]): r["id"] for r in rows}
        return self._warehouses

    # -- parties ------------------------------------------------------------------------------

    def _party_rows(self, domain: list[Any], *, limit: int | None = None) -> list[_PartyRow]:
        rows = self.rpc.model(
            "party.party",
            "search_read",
            domain,
            0,
            limit,
            [("id", "ASC")],
            _PARTY_FIELDS,
            idempotent=True,
        )
        return [self._to_party(r) for r in rows]

    def _to_party(self, row: dict[str, Any]) -> _PartyRow:
        gln = vat = None
        for ident in _nested(row, "identifiers"):
            code, kind = ident.get("code"), ident.get("type")
            if not kind and _is_gln(code) and gln is None:
                gln = code
            elif kind and kind.endswith("_vat") and vat is None:
                vat = code
        addresses = []
        for a in _nested(row, "addresses"):
            try:
                addresses.append(
                    Address(
                        name=a.get("party_name") or None,
                        street=a.get("street") or None,
                        postal_code=a.get("postal_code") or None,
                        city=a.get("city") or None,
                        country=(a.get("country.") or {}).get("code"),
                        erp_id=str(a["id"]),
                    )
                )
            except ValidationError as exc:
                log.warning("party %s address %s skipped: %s", row["id"], a.get("id"), exc)
        mechanisms: list[ContactMechanism] = []
        contacts: dict[str, dict[str, str]] = {}
        for m in _nested(row, "contact_mechanisms"):
            mech_type: MechanismType = (
                m.get("type") if m.get("type") in _MECHANISM_TYPES else "other"
            )
            try:
                mech = ContactMechanism(
                    type=mech_type,
                    value=m.get("value") or "",
                    name=m.get("name") or None,
                    erp_id=str(m["id"]),
                )
            except ValidationError as exc:
                log.warning("party %s contact mechanism %s skipped: %s", row["id"], m["id"], exc)
                continue
            mechanisms.append(mech)
            if mech.name:
                contacts.setdefault(mech.name, {"name": mech.name})
                if mech.type == "email":
                    contacts[mech.name].setdefault("email", mech.value)
                elif mech.type in ("phone", "mobile"):
                    contacts[mech.name].setdefault("phone", mech.value)
        updated = _latest(
            row.get("write_date"),
            row.get("create_date"),
            *(a.get("write_date") or a.get("create_date") for a in _nested(row, "addresses")),
            *(
                m.get("write_date") or m.get("create_date")
                for m in _nested(row, "contact_mechanisms")
            ),
        )
        values: dict[str, Any] = {
            "name": row["name"],
            "erp_id": str(row["id"]),
            "code": row.get("code") or None,
            "addresses": tuple(addresses),
            "contact_mechanisms": tuple(mechanisms),
            "contacts": tuple(Contact(**c) for c in contacts.values()),
            "updated_at": _utc(updated),
        }
        try:
            party = Party(gln=gln, vat=vat, **values)
        except ValidationError as exc:
            log.warning(
                "party %s: VAT id %r not valid for the hub, left out: %s",
                row["id"],
                vat,
                exc.errors()[0].get("msg"),
            )
            party = Party(gln=gln, **values)
        addr = _nested(row, "addresses")
        return _PartyRow(
            id=row["id"],
            party=party,
            address_id=addr[0]["id"] if addr else None,
            price_list=row.get("sale_price_list"),
            payment_term=row.get("customer_payment_term"),
        )

    def get_parties(self, erp_ids: Sequence[str]) -> list[Party]:
        if not erp_ids:
            return []
        ids = [_id(i) for i in erp_ids]
        by_id = {r.id: r.party for r in self._party_rows([("id", "in", ids)])}
        return [by_id[i] for i in ids if i in by_id]

    def find_parties(self, query: PartyQuery, *, limit: int = 10) -> list[Party]:
        if query.is_empty():
            raise PermanentError("find_parties needs at least one criterion", system=SYSTEM)
        domain: list[Any] = []
        if query.gln:
            domain.append(("identifiers", "where", [("code", "=", query.gln)]))
        if query.vat:
            compact = query.vat.replace(" ", "").replace(".", "").replace("-", "").upper()
            domain.append(("identifiers", "where", [("code_compact", "=", compact)]))
        if query.email:
            domain.append(
                (
                    "contact_mechanisms",
                    "where",
                    [("type", "=", "email"), ("value", "ilike", query.email.strip())],
                )
            )
        if query.name:
            domain.append(("name", "ilike", query.name.strip()))
        if query.postal_code:
            domain.append(("addresses.postal_code", "=", query.postal_code.strip()))
        return [r.party for r in self._party_rows(domain, limit=limit)]

    def _party_rows_by_gln(self, glns: Sequence[str]) -> dict[str, _PartyRow]:
        wanted = sorted(set(glns))
        if not wanted:
            return {}
        rows = self._party_rows([("identifiers", "where", [("code", "in", wanted)])])
        return {r.party.gln: r for r in rows if r.party.gln in wanted}

    def find_parties_by_gln(self, glns: Sequence[str]) -> dict[str, Party]:
        return {g: r.party for g, r in self._party_rows_by_gln(glns).items()}

    def _party_values(self, party: Party, countries: dict[str, int]) -> dict[str, Any]:
        identifiers = []
        if party.gln:
            identifiers.append({"type": None, "code": party.gln})
        if party.vat:
            kind = "eu_vat" if party.vat[:2] in _EU else None
            identifiers.append({"type": kind, "code": party.vat})
        values: dict[str, Any] = {"name": party.name}
        if party.code:
            values["code"] = party.code
        if identifiers:
            values["identifiers"] = [("create", identifiers)]
        addresses = [self._address_values(party, a, countries) for a in party.addresses]
        if addresses:
            values["addresses"] = [("create", addresses)]
        mechanisms = self._mechanism_values(party.contact_mechanisms, party.contacts)
        if mechanisms:
            values["contact_mechanisms"] = [("create", mechanisms)]
        return values

    @staticmethod
    def _address_values(party: Party, a: Address, countries: dict[str, int]) -> dict[str, Any]:
        if a.country and a.country not in countries:
            raise PermanentError(
                f"party {party.name!r}: country {a.country!r} is not defined in the ERP; "
                "import it in Tryton (trytond_import_countries) or fix the address",
                system=SYSTEM,
            )
        return {
            "party_name": a.name,
            "street": a.street,
            "postal_code": a.postal_code,
            "city": a.city,
            "country": countries.get(a.country) if a.country else None,
        }

    @staticmethod
    def _mechanism_values(
        mechanisms: Iterable[ContactMechanism], contacts: Iterable[Contact] = ()
    ) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = []
        seen: set[tuple[str, str]] = set()

        def add(kind: str, value: str, name: str | None) -> None:
            tryton_type = kind if kind in _MECHANISM_TYPES else "other"
            if (tryton_type, value.lower()) in seen:
                return
            seen.add((tryton_type, value.lower()))
            result.append({"type": tryton_type, "value": value, "name": name})

        for m in mechanisms:
            add(m.type, m.value, m.name)
        for c in contacts:
            if c.email:
                add("email", c.email, c.name)
            if c.phone:
                add("phone", c.phone, c.name)
        return result

    def create_parties(self, parties: Sequence[Party]) -> list[Party]:
        if not parties:
            return []
        countries = self._country_ids(
            {a.country for p in parties for a in p.addresses if a.country}
        )
        vlist = [self._party_values(p, countries) for p in parties]
        ids = self.rpc.model("party.party", "create", vlist, idempotent=False)
        return self.get_parties([str(i) for i in ids])

    def update_party(self, party: Party) -> Party:
        if not party.erp_id:
            raise PermanentError(f"update_party: party {party.name!r} has no erp_id", system=SYSTEM)
        current = self.get_parties([party.erp_id])
        if not current:
            raise PermanentError(
                f"party {party.erp_id} ({party.name!r}) no longer exists in the ERP", system=SYSTEM
            )
        (now,) = current
        values: dict[str, Any] = {}
        if party.name != now.name:
            values["name"] = party.name
        identifiers = []
        if party.gln and party.gln != now.gln:
            identifiers.append({"type": None, "code": party.gln})
        if party.vat and party.vat != now.vat:
            identifiers.append(
                {"type": "eu_vat" if party.vat[:2] in _EU else None, "code": party.vat}
            )
        if identifiers:
            values["identifiers"] = [("create", identifiers)]
        known = {(a.street, a.postal_code, a.city, a.country) for a in now.addresses}
        new_addresses = [
            a for a in party.addresses if (a.street, a.postal_code, a.city, a.country) not in known
        ]
        if new_addresses:
            countries = self._country_ids({a.country for a in new_addresses if a.country})
            values["addresses"] = [
                ("create", [self._address_values(party, a, countries) for a in new_addresses])
            ]
        mechanisms = self._missing_mechanisms(now, party.contact_mechanisms, party.contacts)
        if mechanisms:
            values["contact_mechanisms"] = [("create", mechanisms)]
        if not values:
            return now
        self.rpc.model("party.party", "write", [_id(party.erp_id)], values, idempotent=True)
        return self.get_parties([party.erp_id])[0]

    def _missing_mechanisms(
        self, now: Party, mechanisms: Iterable[ContactMechanism], contacts: Iterable[Contact] = ()
    ) -> list[dict[str, Any]]:
        have = {(m.type, m.value.lower()) for m in now.contact_mechanisms}
        return [
            v
            for v in self._mechanism_values(mechanisms, contacts)
            if (v["type"], v["value"].lower()) not in have
        ]

    def add_contact_mechanisms(self, erp_id: str, mechanisms: Sequence[ContactMechanism]) -> Party:
        current = self.get_parties([erp_id])
        if not current:
            raise PermanentError(f"party {erp_id} does not exist in the ERP", system=SYSTEM)
        missing = self._missing_mechanisms(current[0], mechanisms)
        if not missing:
            return current[0]
        self.rpc.model(
            "party.party",
            "write",
            [_id(erp_id)],
            {"contact_mechanisms": [("create", missing)]},
            idempotent=True,
        )
        return self.get_parties([erp_id])[0]

    def parties_changed_since(self, since: dt.datetime | None, *, limit: int = 500) -> list[Party]:
        company_party = self._company_info()["party"]
        domain = [
            ("id", "!=", company_party),
            *_changed_domain(since, ("", "addresses.", "contact_mechanisms.")),
        ]
        parties = [r.party for r in self._party_rows(domain)]
        epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
        parties.sort(key=lambda p: (p.updated_at or epoch, int(p.erp_id or 0)))
        return parties[:limit]

    # -- products -----------------------------------------------------------------------------

    def _product_rows(self, domain: list[Any], *, limit: int | None = None) -> list[_ProductRow]:
        rows = self.rpc.model(
            "product.product",
            "search_read",
            domain,
            0,
            limit,
            [("id", "ASC")],
            _PRODUCT_FIELDS,
            idempotent=True,
        )
        currency = self._company_info()["currency"]
        result = []
        for r in rows:
            gtins = [
                i["code"]
                for i in _nested(r, "identifiers")
                if i.get("type") in ("ean", None) and ean.is_valid(i.get("code") or "x")
            ]
            template = _nested(r, "template")
            category = template.get("account_category.") or {}
            product = Product(
                code=r.get("code") or str(r["id"]),
                name=r["name"],
                erp_id=str(r["id"]),
                gtin=gtins[0] if gtins else None,
                unit=_unit(_nested(r, "sale_uom").get("symbol")),
                list_price=template.get("list_price"),
                currency=currency,
            )
            result.append(
                _ProductRow(
                    id=r["id"],
                    code=product.code,
                    gtin=product.gtin,
                    unit_id=r.get("sale_uom"),
                    taxes=tuple(category.get("customer_taxes_used") or ()),
                    product=product,
                )
            )
        return result

    def list_products(self, *, limit: int | None = None) -> list[Product]:
        return [r.product for r in self._product_rows([("salable", "=", True)], limit=limit)]

    def _rows_by_gtin(self, gtins: Sequence[str]) -> dict[str, _ProductRow]:
        wanted = sorted(set(gtins))
        if not wanted:
            return {}
        rows = self._product_rows([("identifiers", "where", [("code", "in", wanted)])])
        return {r.gtin: r for r in rows if r.gtin in wanted}

    def _rows_by_code(self, codes: Sequence[str]) -> dict[str, _ProductRow]:
        wanted = sorted(set(codes))
        if not wanted:
            return {}
        return {r.code: r for r in self._product_rows([("code", "in", wanted)])}

    def find_products_by_gtin(self, gtins: Sequence[str]) -> dict[str, Product]:
        return {g: r.product for g, r in self._rows_by_gtin(gtins).items()}

    def find_products_by_code(self, codes: Sequence[str]) -> dict[str, Product]:
        return {c: r.product for c, r in self._rows_by_code(codes).items()}

    # -- sales --------------------------------------------------------------------------------

    def create_sales(
        self, orders: Sequence[SalesOrder], *, state: TargetState = "confirmed"
    ) -> list[SaleResult]:
        if not orders:
            return []
        errors: dict[int, HubError] = {}
        parties = self._resolve_buyers(orders, errors)
        # idempotency: sales already holding (party, reference)
        existing_states = self._existing_sale_states(
            {(parties[i].id, o.order_number) for i, o in enumerate(orders) if i in parties}
        )
        existing = {k: v[0] for k, v in existing_states.items()}
        known_states = dict(existing_states.values())
        to_create: list[int] = []
        sale_ids: dict[int, int] = {}
        seen: dict[tuple[int, str], int] = {}
        for i, order in enumerate(orders):
            if i in errors:
                continue
            key = (parties[i].id, order.order_number)
            if key in existing:
                sale_ids[i] = existing[key]
            elif key in seen:  # the same order twice in one batch: one sale
                sale_ids[i] = -1 - seen[key]
            else:
                seen[key] = i
                to_create.append(i)
        created = self._create_new(orders, to_create, parties, errors)
        for i in list(sale_ids):
            if sale_ids[i] < 0:
                twin = -1 - sale_ids[i]
                if twin in created:
                    sale_ids[i] = created[twin]
                else:
                    del sale_ids[i]
                    errors[i] = errors.get(twin) or PermanentError("twin failed", system=SYSTEM)
        sale_ids.update(created)
        known_states.update({sale_id: "draft" for sale_id in created.values()})
        self._advance(sale_ids, known_states, state, orders, errors)
        sales = {int(s.erp_id): s for s in self.get_sales([str(v) for v in set(sale_ids.values())])}
        results = []
        for i, order in enumerate(orders):
            if i in errors:
                results.append(SaleResult(order.order_number, error=errors[i]))
                continue
            sale = sales[sale_ids[i]]
            if i in created:
                sale = sale.model_copy(update={"created": True})
            results.append(SaleResult(order.order_number, sale=sale))
        return results

    def _resolve_buyers(
        self, orders: Sequence[SalesOrder], errors: dict[int, HubError]
    ) -> dict[int, _PartyRow]:
        by_gln = self._party_rows_by_gln(
            [o.buyer.gln for o in orders if o.buyer.gln and not o.buyer.erp_id]
        )
        ids = sorted({_id(o.buyer.erp_id) for o in orders if o.buyer.erp_id})
        by_id = {r.id: r for r in self._party_rows([("id", "in", ids)])} if ids else {}
        parties: dict[int, _PartyRow] = {}
        for i, o in enumerate(orders):
            if o.buyer.erp_id:
                row = by_id.get(_id(o.buyer.erp_id))
            else:
                row = by_gln.get(o.buyer.gln) if o.buyer.gln is not None else None
            if row is None:
                who = f"erp id {o.buyer.erp_id}" if o.buyer.erp_id else f"GLN {o.buyer.gln}"
                errors[i] = PermanentError(
                    f"order {o.order_number}: buyer {who} is not a party in the ERP; create or "
                    "bind the customer first",
                    system=SYSTEM,
                    code="unknown_party",
                )
            else:
                parties[i] = row
        return parties

    def _existing_sales(self, keys: set[tuple[int, str]]) -> dict[tuple[int, str], int]:
        return {k: v[0] for k, v in self._existing_sale_states(keys).items()}

    def _existing_sale_states(
        self, keys: set[tuple[int, str]]
    ) -> dict[tuple[int, str], tuple[int, str]]:
        if not keys:
            return {}
        rows = self.rpc.model(
            "sale.sale",
            "search_read",
            [
                ("reference", "in", sorted({ref for _, ref in keys})),
                ("party", "in", sorted({p for p, _ in keys})),
                ("state", "!=", "cancelled"),
            ],
            0,
            None,
            [("id", "ASC")],
            ["reference", "party", "state"],
            idempotent=True,
        )
        found: dict[tuple[int, str], tuple[int, str]] = {}
        for r in rows:
            found.setdefault((r["party"], r["reference"]), (r["id"], r["state"]))
        return {k: v for k, v in found.items() if k in keys}

    def _create_new(
        self,
        orders: Sequence[SalesOrder],
        indexes: list[int],
        parties: dict[int, _PartyRow],
        errors: dict[int, HubError],
    ) -> dict[int, int]:
        if not indexes:
            return {}
        lines = [line for i in indexes for line in orders[i].lines]
        by_gtin = self._rows_by_gtin([ln.gtin for ln in lines if ln.gtin])
        by_code = self._rows_by_code(
            [ln.product_code for ln in lines if ln.product_code and not ln.gtin]
        )
        currencies = self._currency_ids({orders[i].currency for i in indexes})
        prepared: dict[int, dict[str, Any]] = {}
        unpriced: dict[tuple[int | None, Decimal, int], list[dict[str, Any]]]
        unpriced = defaultdict(list)
        for i in indexes:
            order, party = orders[i], parties[i]
            try:
                prepared[i] = self._sale_values(
                    order, party, by_gtin, by_code, currencies, unpriced
                )
            except PermanentError as exc:
                errors[i] = exc
        self._price_lines(unpriced)
        created: dict[int, int] = {}
        order_ix = [i for i in indexes if i in prepared]
        if not order_ix:
            return created
        try:
            ids = self.rpc.model(
                "sale.sale", "create", [prepared[i] for i in order_ix], idempotent=False
            )
            return dict(zip(order_ix, ids, strict=True))
        except PermanentError:
            if len(order_ix) == 1:
                raise
        # one bad sale fails the whole transaction: isolate it, create the others one by one
        for i in order_ix:
            try:
                (sale_id,) = self.rpc.model("sale.sale", "create", [prepared[i]], idempotent=False)
                created[i] = sale_id
            except PermanentError as exc:
                errors[i] = PermanentError(
                    f"order {orders[i].order_number}: {exc.message}", system=SYSTEM, code=exc.code
                )
        return created

    def _sale_values(
        self,
        order: SalesOrder,
        party: _PartyRow,
        by_gtin: dict[str, _ProductRow],
        by_code: dict[str, _ProductRow],
        currencies: dict[str, int],
        unpriced: dict[tuple[int | None, Decimal, int], list[dict[str, Any]]],
    ) -> dict[str, Any]:
        if order.currency not in currencies:
            raise PermanentError(
                f"order {order.order_number}: currency {order.currency} is not defined in the ERP",
                system=SYSTEM,
                code="unknown_currency",
            )
        if party.address_id is None:
            raise PermanentError(
                f"order {order.order_number}: party {party.party.name!r} has no address in the "
                "ERP; add one before ordering",
                system=SYSTEM,
                code="party_without_address",
            )
        currency_id = currencies[order.currency]
        lines = []
        for line in order.lines:
            row = by_gtin.get(line.gtin) if line.gtin else by_code.get(line.product_code or "")
            if row is None:
                what = f"GTIN {line.gtin}" if line.gtin else f"product code {line.product_code}"
                raise PermanentError(
                    f"order {order.order_number} line {line.line_no}: {what} is unknown to the "
                    "ERP; fix the partner's item or add the product",
                    system=SYSTEM,
                    code="unknown_product",
                )
            values: dict[str, Any] = {
                "type": "line",
                "sequence": line.line_no,
                "product": row.id,
                "quantity": float(line.quantity),
                "unit": row.unit_id,
                "taxes": [("add", list(row.taxes))],
            }
            if line.description:
                values["description"] = line.description
            if line.unit_price is not None:
                price = line.unit_price * (1 - line.discount_percent / 100)
                values["unit_price"] = price.quantize(PRICE_DIGITS)
            else:
                key = (party.price_list, line.quantity, currency_id)
                values["_discount"] = line.discount_percent
                values["_product"] = row.id
                unpriced[key].append(values)
            lines.append(values)
        sale: dict[str, Any] = {
            "party": party.id,
            "reference": order.order_number,
            "sale_date": order.order_date,
            "currency": currency_id,
            "invoice_address": party.address_id,
            "shipment_address": party.address_id,
            "lines": [("create", lines)],
        }
        if party.price_list:
            sale["price_list"] = party.price_list
        if party.payment_term:
            sale["payment_term"] = party.payment_term
        if order.notes:
            sale["comment"] = "\n".join(order.notes)
        return sale

    def _price_lines(
        self, unpriced: dict[tuple[int | None, Decimal, int], list[dict[str, Any]]]
    ) -> None:
        """The ERP's own price (price list, quantity breaks) for lines the order left unpriced.

        One read per (price list, quantity, currency) group; a partner's price skips this.
        """
        for (price_list, quantity, currency), lines in unpriced.items():
            products = sorted({v["_product"] for v in lines})
            context: dict[str, Any] = {"quantity": float(quantity), "currency": currency}
            if price_list:
                context["price_list"] = price_list
            rows = self.rpc.model(
                "product.product",
                "read",
                products,
                ["sale_price_uom"],
                idempotent=True,
                context=context,
            )
            prices = {r["id"]: r["sale_price_uom"] for r in rows}
            for values in lines:
                price = prices.get(values.pop("_product"))
                discount = values.pop("_discount")
                if price is None:
                    price = Decimal(0)
                values["unit_price"] = (Decimal(price) * (1 - discount / 100)).quantize(
                    PRICE_DIGITS
                )

    def _advance(
        self,
        sale_ids: dict[int, int],
        known_states: dict[int, str],
        state: TargetState,
        orders: Sequence[SalesOrder],
        errors: dict[int, HubError],
    ) -> None:
        """Quote then confirm, each in one call for every sale behind ``state``."""
        if state == "draft" or not sale_ids:
            return
        states = {s: known_states.get(s, "unknown") for s in set(sale_ids.values())}
        steps = ["quote"] if state == "quotation" else ["quote", "confirm"]
        before = {"quote": "draft", "confirm": "quotation"}
        for step in steps:
            todo = sorted(s for s, st in states.items() if st == before[step])
            if not todo:
                continue
            try:
                self.rpc.model("sale.sale", step, todo, idempotent=True)
                for s in todo:
                    states[s] = "quotation" if step == "quote" else "confirmed"
            except PermanentError:
                for s in todo:  # find the sale that blocks the batch
                    try:
                        self.rpc.model("sale.sale", step, [s], idempotent=True)
                        states[s] = "quotation" if step == "quote" else "confirmed"
                    except PermanentError as exc:
                        for i, sid in sale_ids.items():
                            if sid == s:
                                errors[i] = PermanentError(
                                    f"order {orders[i].order_number}: ERP refused to {step} "
                                    f"sale {s}: {exc.message}",
                                    system=SYSTEM,
                                    code=exc.code,
                                )
                        states[s] = "failed"

    def get_sales(self, erp_ids: Sequence[str]) -> list[ErpSale]:
        if not erp_ids:
            return []
        ids = [_id(i) for i in erp_ids]
        rows = self.rpc.model("sale.sale", "read", ids, _SALE_FIELDS, idempotent=True)
        product_ids = {ln["product"] for r in rows for ln in _nested(r, "lines") if ln["product"]}
        gtins = self._gtins(product_ids)
        by_id = {r["id"]: self._to_sale(r, gtins) for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    def _gtins(self, product_ids: set[int]) -> dict[int, tuple[str, str | None]]:
        if not product_ids:
            return {}
        rows = self.rpc.model(
            "product.product",
            "read",
            sorted(product_ids),
            ["code", "identifiers.code", "identifiers.type"],
            idempotent=True,
        )
        result = {}
        for r in rows:
            codes = [
                i["code"]
                for i in _nested(r, "identifiers")
                if i.get("type") in ("ean", None) and ean.is_valid(i.get("code") or "x")
            ]
            result[r["id"]] = (r.get("code") or str(r["id"]), codes[0] if codes else None)
        return result

    @staticmethod
    def _to_sale(row: dict[str, Any], gtins: dict[int, tuple[str, str | None]]) -> ErpSale:
        lines: list[ErpSaleLine] = []
        for ln in sorted(_nested(row, "lines"), key=lambda x: (x.get("sequence") or 0, x["id"])):
            if ln.get("type") != "line" or not ln.get("product"):
                continue
            code, gtin = gtins.get(ln["product"], (str(ln["product"]), None))
            lines.append(
                ErpSaleLine(
                    line_no=ln.get("sequence") or len(lines) + 1,
                    product_code=code,
                    gtin=gtin,
                    quantity=Decimal(str(ln["quantity"])),
                    unit=_unit((ln.get("unit.") or {}).get("symbol")),
                    unit_price=ln["unit_price"],
                    erp_id=str(ln["id"]),
                )
            )
        return ErpSale(
            erp_id=str(row["id"]),
            number=row.get("number") or None,
            reference=row.get("reference") or "",
            party_erp_id=str(row["party"]),
            state=row["state"],
            currency=_nested(row, "currency").get("code"),
            lines=tuple(lines),
            untaxed_amount=row.get("untaxed_amount"),
            total_amount=row.get("total_amount"),
        )

    def find_sale(self, party_erp_id: str, reference: str) -> ErpSale | None:
        found = self._existing_sales({(_id(party_erp_id), reference)})
        if not found:
            return None
        return self.get_sales([str(next(iter(found.values())))])[0]

    # -- stock --------------------------------------------------------------------------------

    def stock_levels(
        self, product_codes: Sequence[str] | None = None, *, warehouse: str | None = None
    ) -> list[StockLevel]:
        warehouses = self._warehouse_ids()
        if warehouse is not None:
            if warehouse not in warehouses:
                raise PermanentError(
                    f"warehouse {warehouse!r} is unknown to the ERP (known: "
                    f"{', '.join(sorted(warehouses))})",
                    system=SYSTEM,
                )
            warehouses = {warehouse: warehouses[warehouse]}
        domain: list[Any] = [("type", "=", "goods")]
        if product_codes is not None:
            domain.append(("code", "in", sorted(set(product_codes))))
        as_of = dt.datetime.now(dt.UTC)
        levels = []
        for code, location_id in sorted(warehouses.items()):
            rows = self.rpc.model(
                "product.product",
                "search_read",
                domain,
                0,
                None,
                [("id", "ASC")],
                ["code", "quantity", "identifiers.code", "identifiers.type"],
                idempotent=True,
                context={"locations": [location_id], "with_childs": True},
            )
            for r in rows:
                gtins = [
                    i["code"]
                    for i in _nested(r, "identifiers")
                    if i.get("type") in ("ean", None) and ean.is_valid(i.get("code") or "x")
                ]
                levels.append(
                    StockLevel(
                        product_code=r.get("code") or str(r["id"]),
                        gtin=gtins[0] if gtins else None,
                        location=code,
                        quantity=Decimal(str(r["quantity"] or 0)),
                        as_of=as_of,
                    )
                )
        return levels

    # -- shipments ----------------------------------------------------------------------------

    def _origins(self, origins: Iterable[str | None]) -> dict[str, str]:
        """``'sale.line,12'`` -> partner order number of that line's sale (one read)."""
        line_ids = sorted(
            {int(o.split(",")[1]) for o in origins if o and o.startswith("sale.line,")}
        )
        if not line_ids:
            return {}
        rows = self.rpc.model(
            "sale.line", "read", line_ids, ["sale.reference", "sale.number"], idempotent=True
        )
        return {
            f"sale.line,{r['id']}": (r.get("sale.") or {}).get("reference")
            or (r.get("sale.") or {}).get("number")
            or ""
            for r in rows
        }

    def _party_refs(self, party_ids: set[int]) -> dict[int, PartyRef]:
        if not party_ids:
            return {}
        rows = self.rpc.model(
            "party.party",
            "read",
            sorted(party_ids),
            ["name", "identifiers.code", "identifiers.type"],
            idempotent=True,
        )
        refs = {}
        for r in rows:
            gln = next(
                (
                    i["code"]
                    for i in _nested(r, "identifiers")
                    if not i.get("type") and _is_gln(i.get("code"))
                ),
                None,
            )
            refs[r["id"]] = PartyRef(gln=gln, erp_id=str(r["id"]), name=r["name"])
        return refs

    def shipments_changed_since(
        self, since: dt.datetime | None, *, limit: int = 200
    ) -> list[Shipment]:
        rows = self.rpc.model(
            "stock.shipment.out",
            "search_read",
            _changed_domain(since),
            0,
            limit,
            [("write_date", "ASC"), ("create_date", "ASC"), ("id", "ASC")],
            [
                "number",
                "reference",
                "state",
                "customer",
                "planned_date",
                "effective_date",
                "write_date",
                "create_date",
                "delivery_address.party_name",
                "delivery_address.street",
                "delivery_address.postal_code",
                "delivery_address.city",
                "delivery_address.country.code",
                "outgoing_moves.product",
                "outgoing_moves.quantity",
                "outgoing_moves.unit.symbol",
                "outgoing_moves.origin",
                "outgoing_moves.state",
            ],
            idempotent=True,
        )
        moves = [m for r in rows for m in _nested(r, "outgoing_moves")]
        origins = self._origins(m.get("origin") for m in moves)
        products = self._gtins({m["product"] for m in moves if m.get("product")})
        customers = self._party_refs({r["customer"] for r in rows})
        shipments = []
        for r in rows:
            lines: list[ShipmentLine] = []
            for m in sorted(_nested(r, "outgoing_moves"), key=lambda x: x["id"]):
                if not m.get("quantity") or m.get("state") == "cancelled":
                    continue
                code, gtin = products.get(m["product"], (str(m["product"]), None))
                lines.append(
                    ShipmentLine(
                        line_no=len(lines) + 1,
                        product_code=code,
                        gtin=gtin,
                        quantity=Decimal(str(m["quantity"])),
                        unit=_unit((m.get("unit.") or {}).get("symbol")),
                        order_number=origins.get(m.get("origin") or "") or None,
                    )
                )
            addr = _nested(r, "delivery_address")
            shipments.append(
                Shipment(
                    erp_id=str(r["id"]),
                    number=r.get("number") or str(r["id"]),
                    state=r["state"],
                    customer=customers[r["customer"]],
                    delivery_address=Address(
                        name=addr.get("party_name") or None,
                        street=addr.get("street") or None,
                        postal_code=addr.get("postal_code") or None,
                        city=addr.get("city") or None,
                        country=(addr.get("country.") or {}).get("code"),
                        erp_id=str(addr["id"]) if addr.get("id") else None,
                    ),
                    order_numbers=tuple(
                        sorted({ln.order_number for ln in lines if ln.order_number})
                    ),
                    planned_date=r.get("planned_date"),
                    effective_date=r.get("effective_date"),
                    tracking_number=r.get("reference") or None,
                    lines=tuple(lines),
                    updated_at=_utc(_latest(r.get("write_date"), r.get("create_date"))),
                )
            )
        return shipments

    def set_shipment_tracking(self, erp_id: str, tracking_number: str) -> None:
        self.rpc.model(
            "stock.shipment.out",
            "write",
            [_id(erp_id)],
            {"reference": tracking_number},
            idempotent=True,
        )

    # -- invoices -----------------------------------------------------------------------------

    def invoices_posted_since(
        self, since: dt.datetime | None, *, limit: int = 200
    ) -> list[Invoice]:
        domain = [
            ("type", "=", "out"),
            ("state", "in", ["posted", "paid"]),
            *_changed_domain(since),
        ]
        rows = self.rpc.model(
            "account.invoice",
            "search_read",
            domain,
            0,
            limit,
            [("write_date", "ASC"), ("create_date", "ASC"), ("id", "ASC")],
            [
                "number",
                "invoice_date",
                "party",
                "currency.code",
                "state",
                "untaxed_amount",
                "tax_amount",
                "total_amount",
                "write_date",
                "create_date",
                "lines.type",
                "lines.sequence",
                "lines.product",
                "lines.description",
                "lines.quantity",
                "lines.unit_price",
                "lines.amount",
                "lines.unit.symbol",
                "lines.taxes",
                "lines.origin",
                "taxes.base",
                "taxes.amount",
                "taxes.tax",
                "lines_to_pay.maturity_date",
            ],
            idempotent=True,
        )
        lines = [ln for r in rows for ln in _nested(r, "lines")]
        origins = self._origins(ln.get("origin") for ln in lines)
        products = self._gtins({ln["product"] for ln in lines if ln.get("product")})
        customers = self._party_refs({r["party"] for r in rows})
        rates = self._rates(
            {t for ln in lines for t in ln.get("taxes") or ()}
            | {t["tax"] for r in rows for t in _nested(r, "taxes") if t.get("tax")}
        )
        company_currency = self._company_info()["currency"]
        invoices = []
        for r in rows:
            inv_lines: list[InvoiceLine] = []
            for ln in sorted(_nested(r, "lines"), key=lambda x: (x.get("sequence") or 0, x["id"])):
                if ln.get("type") != "line":
                    continue
                code, gtin = products.get(ln.get("product"), (None, None))
                taxes = ln.get("taxes") or []
                inv_lines.append(
                    InvoiceLine(
                        line_no=len(inv_lines) + 1,
                        product_code=code,
                        gtin=gtin,
                        description=ln.get("description") or None,
                        quantity=Decimal(str(ln["quantity"])),
                        unit=_unit((ln.get("unit.") or {}).get("symbol")),
                        unit_price=ln["unit_price"],
                        amount=ln["amount"],
                        tax_rate=rates.get(taxes[0]) if taxes else None,
                        order_number=origins.get(ln.get("origin") or "") or None,
                    )
                )
            taxes = tuple(
                TaxLine(rate=rates.get(t["tax"], Decimal(0)), base=t["base"], amount=t["amount"])
                for t in _nested(r, "taxes")
            )
            maturities = [
                m["maturity_date"] for m in _nested(r, "lines_to_pay") if m.get("maturity_date")
            ]
            total = r["total_amount"]
            invoices.append(
                Invoice(
                    erp_id=str(r["id"]),
                    number=r.get("number") or str(r["id"]),
                    kind="credit_note" if total < 0 else "invoice",
                    invoice_date=r["invoice_date"],
                    customer=customers[r["party"]],
                    currency=_nested(r, "currency").get("code"),
                    lines=tuple(inv_lines),
                    taxes=taxes,
                    untaxed_amount=r["untaxed_amount"],
                    tax_amount=r["tax_amount"],
                    total_amount=total,
                    order_numbers=tuple(
                        sorted({ln.order_number for ln in inv_lines if ln.order_number})
                    ),
                    due_date=min(maturities) if maturities else None,
                    payment_state="paid" if r["state"] == "paid" else "unpaid",
                    company_currency=company_currency,
                    updated_at=_utc(_latest(r.get("write_date"), r.get("create_date"))),
                )
            )
        return invoices
