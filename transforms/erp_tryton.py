"""Pure Tryton record <-> canonical mappings: shared conversions, parties, products, stock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from stdnum import ean

from schemas.errors import PermanentError
from schemas.model import (
    Address,
    Contact,
    ContactMechanism,
    MechanismType,
    Party,
    PartyRef,
    Product,
    StockLevel,
)

SYSTEM = "erp"
MECHANISM_TYPES = {"email", "phone", "mobile", "fax", "website"}
# VAT id prefixes Tryton's ``eu_vat`` identifier type accepts (EL: Greece, XI: Northern Ireland)
EU_VAT_PREFIXES = {
    *("AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "EL", "ES", "FI", "FR", "HR", "HU"),
    *("IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK", "XI"),
}

PARTY_FIELDS = [
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
PARTY_REF_FIELDS = ["name", "identifiers.code", "identifiers.type"]
PRODUCT_FIELDS = [
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
PRODUCT_REF_FIELDS = ["code", "identifiers.code", "identifiers.type"]
STOCK_FIELDS = ["code", "quantity", "identifiers.code", "identifiers.type"]
# oldest change first, for the ``*_changed_since`` reads
CHANGED_ORDER = [("write_date", "ASC"), ("create_date", "ASC"), ("id", "ASC")]

ProductRef = tuple[str, str | None]
"""What a document line needs of a product: (code, GTIN)."""


# -- small conversions ---------------------------------------------------------------------------


def record_id(erp_id: str | int) -> int:
    """The Tryton record id behind an ERP id (an integer); PermanentError for anything else."""
    try:
        return int(erp_id)
    except (TypeError, ValueError) as exc:
        raise PermanentError(
            f"ERP id {erp_id!r} is not a Tryton record id (an integer)", system=SYSTEM
        ) from exc


def utc(value: dt.datetime | None) -> dt.datetime | None:
    """Tryton stores naive UTC timestamps."""
    return value.replace(tzinfo=dt.UTC) if value is not None else None


def naive_utc(value: dt.datetime) -> dt.datetime:
    """An aware timestamp as the naive UTC one Tryton compares with."""
    if value.tzinfo is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def latest(*values: dt.datetime | None) -> dt.datetime | None:
    """The latest of the timestamps given (None when there is none)."""
    present = [v for v in values if v is not None]
    return max(present) if present else None


def changed_domain(since: dt.datetime | None, prefixes: Iterable[str] = ("",)) -> list[Any]:
    """Domain: records (or the ``prefixes`` relations) written or created at/after ``since``."""
    if since is None:
        return []
    moment = naive_utc(since)
    clauses: list[Any] = ["OR"]
    for prefix in prefixes:
        clauses += [(f"{prefix}write_date", ">=", moment), (f"{prefix}create_date", ">=", moment)]
    return [clauses]


def unit_of(symbol: str | None) -> str:
    """Tryton's unit symbol as the canonical unit (Tryton's ``u`` is ``unit``)."""
    return "unit" if symbol in (None, "u", "Unit") else symbol


def is_gln(code: str | None) -> bool:
    """A 13-digit code with a valid check digit."""
    return code is not None and len(code) == 13 and code.isdigit() and ean.is_valid(code)


def nested(row: dict[str, Any], name: str) -> Any:
    """A nested read's value: ``row['lines.']`` (list) or ``row['currency.']`` (dict)."""
    return row.get(f"{name}.") or ([] if name.endswith("s") else {})


def gtins_of(row: dict[str, Any]) -> list[str]:
    """The valid GTINs among a product's identifiers (type ``ean`` or untyped)."""
    return [
        i["code"]
        for i in nested(row, "identifiers")
        if i.get("type") in ("ean", None) and ean.is_valid(i.get("code") or "x")
    ]


def gln_of(row: dict[str, Any]) -> str | None:
    """A party's GLN: its first untyped identifier that is a valid GLN."""
    return next(
        (
            i["code"]
            for i in nested(row, "identifiers")
            if not i.get("type") and is_gln(i.get("code"))
        ),
        None,
    )


# -- parties ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartyRow:
    """A party as read, with what creating a sale or updating identifiers needs of it."""

    id: int
    party: Party
    address_id: int | None
    price_list: int | None
    payment_term: int | None
    gln_identifier: int | None = None
    vat_identifier: int | None = None
    skipped: tuple[str, ...] = field(default=(), compare=False)  # what was left out, and why


def to_address(row: dict[str, Any]) -> Address:
    """A ``party.address`` row (or nested read) as a canonical Address."""
    return Address(
        name=row.get("party_name") or None,
        street=row.get("street") or None,
        postal_code=row.get("postal_code") or None,
        city=row.get("city") or None,
        country=(row.get("country.") or {}).get("code"),
        erp_id=str(row["id"]) if row.get("id") else None,
    )


def contacts_of(mechanisms: Iterable[ContactMechanism]) -> tuple[Contact, ...]:
    """Contact persons: the names on mechanisms, with their first email and phone."""
    contacts: dict[str, dict[str, str]] = {}
    for mech in mechanisms:
        if not mech.name:
            continue
        contacts.setdefault(mech.name, {"name": mech.name})
        if mech.type == "email":
            contacts[mech.name].setdefault("email", mech.value)
        elif mech.type in ("phone", "mobile"):
            contacts[mech.name].setdefault("phone", mech.value)
    return tuple(Contact(**c) for c in contacts.values())


def _identifiers(row: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The party's GLN identifier (untyped, valid GLN) and VAT identifier (type ``*_vat``)."""
    gln = vat = None
    for ident in nested(row, "identifiers"):
        code, kind = ident.get("code"), ident.get("type")
        if not kind and is_gln(code) and gln is None:
            gln = ident
        elif kind and kind.endswith("_vat") and vat is None:
            vat = ident
    return gln, vat


def _addresses(row: dict[str, Any], skipped: list[str]) -> list[Address]:
    addresses = []
    for a in nested(row, "addresses"):
        try:
            addresses.append(to_address(a))
        except ValidationError as exc:
            skipped.append(f"party {row['id']} address {a.get('id')} skipped: {exc}")
    return addresses


def _mechanisms(row: dict[str, Any], skipped: list[str]) -> list[ContactMechanism]:
    mechanisms = []
    for m in nested(row, "contact_mechanisms"):
        mech_type: MechanismType = m.get("type") if m.get("type") in MECHANISM_TYPES else "other"
        try:
            mechanisms.append(
                ContactMechanism(
                    type=mech_type,
                    value=m.get("value") or "",
                    name=m.get("name") or None,
                    erp_id=str(m["id"]),
                )
            )
        except ValidationError as exc:
            skipped.append(f"party {row['id']} contact mechanism {m['id']} skipped: {exc}")
    return mechanisms


def _party_updated(row: dict[str, Any]) -> dt.datetime | None:
    """The last change of the party, its addresses or its contact mechanisms."""
    return utc(
        latest(
            row.get("write_date"),
            row.get("create_date"),
            *(a.get("write_date") or a.get("create_date") for a in nested(row, "addresses")),
            *(
                m.get("write_date") or m.get("create_date")
                for m in nested(row, "contact_mechanisms")
            ),
        )
    )


def to_party(row: dict[str, Any]) -> PartyRow:
    """A ``party.party`` row read with PARTY_FIELDS; invalid parts are left out (``skipped``)."""
    skipped: list[str] = []
    gln, vat = _identifiers(row)
    mechanisms = _mechanisms(row, skipped)
    values: dict[str, Any] = {
        "name": row["name"],
        "erp_id": str(row["id"]),
        "code": row.get("code") or None,
        "addresses": tuple(_addresses(row, skipped)),
        "contact_mechanisms": tuple(mechanisms),
        "contacts": contacts_of(mechanisms),
        "updated_at": _party_updated(row),
    }
    gln_code = gln["code"] if gln else None
    vat_code = vat["code"] if vat else None
    try:
        party = Party(gln=gln_code, vat=vat_code, **values)
    except ValidationError as exc:
        skipped.append(
            f"party {row['id']}: VAT id {vat_code!r} not valid for the hub, left out: "
            f"{exc.errors()[0].get('msg')}"
        )
        party = Party(gln=gln_code, **values)
    addr = nested(row, "addresses")
    return PartyRow(
        id=row["id"],
        party=party,
        address_id=addr[0]["id"] if addr else None,
        price_list=row.get("sale_price_list"),
        payment_term=row.get("customer_payment_term"),
        gln_identifier=gln["id"] if gln else None,
        vat_identifier=vat["id"] if vat else None,
        skipped=tuple(skipped),
    )


def to_party_ref(row: dict[str, Any]) -> PartyRef:
    """A party row read with PARTY_REF_FIELDS as the reference a document carries."""
    return PartyRef(gln=gln_of(row), erp_id=str(row["id"]), name=row["name"])


def _vat_identifier(vat: str) -> dict[str, Any]:
    return {"type": "eu_vat" if vat[:2] in EU_VAT_PREFIXES else None, "code": vat}


def address_values(party: Party, address: Address, countries: Mapping[str, int]) -> dict[str, Any]:
    """Create values of one address; PermanentError for a country the ERP does not define."""
    if address.country and address.country not in countries:
        raise PermanentError(
            f"party {party.name!r}: country {address.country!r} is not defined in the ERP; "
            "import it in Tryton (trytond_import_countries) or fix the address",
            system=SYSTEM,
        )
    return {
        "party_name": address.name,
        "street": address.street,
        "postal_code": address.postal_code,
        "city": address.city,
        "country": countries.get(address.country) if address.country else None,
    }


def mechanism_values(
    mechanisms: Iterable[ContactMechanism], contacts: Iterable[Contact] = ()
) -> list[dict[str, Any]]:
    """Create values of contact mechanisms, the contacts' emails and phones included.

    One per (type, value) ignoring case: the first one given wins.
    """
    result: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()

    def add(kind: str, value: str, name: str | None) -> None:
        tryton_type = kind if kind in MECHANISM_TYPES else "other"
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


def missing_mechanisms(
    now: Party, mechanisms: Iterable[ContactMechanism], contacts: Iterable[Contact] = ()
) -> list[dict[str, Any]]:
    """Create values of the mechanisms (and contacts' emails/phones) ``now`` does not have."""
    have = {(m.type, m.value.lower()) for m in now.contact_mechanisms}
    return [
        v
        for v in mechanism_values(mechanisms, contacts)
        if (v["type"], v["value"].lower()) not in have
    ]


def new_addresses(party: Party, now: Party) -> list[Address]:
    """The addresses of ``party`` that ``now`` lacks (same street, postcode, city, country)."""
    known = {(a.street, a.postal_code, a.city, a.country) for a in now.addresses}
    return [a for a in party.addresses if (a.street, a.postal_code, a.city, a.country) not in known]


def party_values(party: Party, countries: Mapping[str, int]) -> dict[str, Any]:
    """Create values of a party with its identifiers, addresses and contact mechanisms."""
    identifiers = []
    if party.gln:
        identifiers.append({"type": None, "code": party.gln})
    if party.vat:
        identifiers.append(_vat_identifier(party.vat))
    values: dict[str, Any] = {"name": party.name}
    if party.code:
        values["code"] = party.code
    if identifiers:
        values["identifiers"] = [("create", identifiers)]
    addresses = [address_values(party, a, countries) for a in party.addresses]
    if addresses:
        values["addresses"] = [("create", addresses)]
    mechanisms = mechanism_values(party.contact_mechanisms, party.contacts)
    if mechanisms:
        values["contact_mechanisms"] = [("create", mechanisms)]
    return values


def _identifier_actions(party: Party, row: PartyRow) -> list[Any]:
    """Set a changed GLN / VAT id: rewrite the identifier the ERP has, or create one."""
    now = row.party
    actions: list[Any] = []
    create: list[dict[str, Any]] = []
    changes = []
    if party.gln and party.gln != now.gln:
        changes.append((row.gln_identifier, {"type": None, "code": party.gln}))
    if party.vat and party.vat != now.vat:
        changes.append((row.vat_identifier, _vat_identifier(party.vat)))
    for identifier, values in changes:
        if identifier is None:
            create.append(values)
        else:
            actions.append(("write", [identifier], values))
    if create:
        actions.append(("create", create))
    return actions


def party_update_values(
    party: Party, row: PartyRow, countries: Mapping[str, int]
) -> dict[str, Any]:
    """Write values that bring ``row`` up to ``party``, additively ({} when nothing differs).

    ``countries`` needs the codes of ``new_addresses(party, row.party)``.
    """
    now = row.party
    values: dict[str, Any] = {}
    if party.name != now.name:
        values["name"] = party.name
    identifiers = _identifier_actions(party, row)
    if identifiers:
        values["identifiers"] = identifiers
    addresses = new_addresses(party, now)
    if addresses:
        values["addresses"] = [("create", [address_values(party, a, countries) for a in addresses])]
    mechanisms = missing_mechanisms(now, party.contact_mechanisms, party.contacts)
    if mechanisms:
        values["contact_mechanisms"] = [("create", mechanisms)]
    return values


# -- products and stock ----------------------------------------------------------------------


@dataclass(frozen=True)
class ProductRow:
    """What creating a sale line needs of a product, beyond the canonical Product."""

    id: int
    code: str
    gtin: str | None
    unit_id: int | None
    taxes: tuple[int, ...]
    product: Product


def to_product(row: dict[str, Any], currency: str | None) -> ProductRow:
    """A ``product.product`` row read with PRODUCT_FIELDS; prices in the company ``currency``."""
    gtins = gtins_of(row)
    template = nested(row, "template")
    category = template.get("account_category.") or {}
    product = Product(
        code=row.get("code") or str(row["id"]),
        name=row["name"],
        erp_id=str(row["id"]),
        gtin=gtins[0] if gtins else None,
        unit=unit_of(nested(row, "sale_uom").get("symbol")),
        list_price=template.get("list_price"),
        currency=currency,
    )
    return ProductRow(
        id=row["id"],
        code=product.code,
        gtin=product.gtin,
        unit_id=row.get("sale_uom"),
        taxes=tuple(category.get("customer_taxes_used") or ()),
        product=product,
    )


def to_product_ref(row: dict[str, Any]) -> ProductRef:
    """A product row read with PRODUCT_REF_FIELDS as (code, GTIN)."""
    gtins = gtins_of(row)
    return (row.get("code") or str(row["id"]), gtins[0] if gtins else None)


def to_stock_level(row: dict[str, Any], location: str, as_of: dt.datetime) -> StockLevel:
    """A product row read with STOCK_FIELDS in the context of warehouse ``location``."""
    code, gtin = to_product_ref(row)
    return StockLevel(
        product_code=code,
        gtin=gtin,
        location=location,
        quantity=Decimal(str(row["quantity"] or 0)),
        as_of=as_of,
    )
