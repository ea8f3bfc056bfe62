"""Pure mappings between the canonical model and HubSpot CRM properties, and their hashes.

ERP -> CRM: parties become companies, their contact persons contacts, products CRM products
with stock on hand, sales deals with line items, posted invoices deal status properties.
CRM -> ERP: companies and contacts become canonical drafts, validated field by field (an
invalid value raises ``InvalidField`` naming the CRM property). Every payload is a dict of
property -> string exactly as sent on the wire, so the hash of what the hub sent equals the
hash of what the CRM later holds: that is how the hub recognises its own writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from schemas.crm_config import CrmConfig, Ownership
from schemas.model import (
    Address,
    Contact,
    ContactMechanism,
    ErpSale,
    ErpSaleLine,
    Invoice,
    Party,
    Product,
    content_hash,
)
from schemas.types import _check_country
from transforms.crm_matching import (
    InvalidField,
    normalise_email,
    normalise_gln,
    normalise_vat,
    slug,
)

Props = dict[str, str]

# canonical field -> HubSpot property
COMPANY_PROPERTY: dict[str, str] = {
    "name": "name",
    "vat": "hub_vat",
    "gln": "hub_gln",
    "code": "hub_erp_code",
    "street": "address",
    "postal_code": "zip",
    "city": "city",
    "country": "country",
    "phone": "phone",
    "website": "website",
}
CONTACT_PROPERTY: dict[str, str] = {
    "firstname": "firstname",
    "lastname": "lastname",
    "email": "email",
    "phone": "phone",
    "jobtitle": "jobtitle",
}
PRODUCT_PROPERTIES = ("name", "hs_sku", "hub_gtin", "price", "hub_currency", "hub_stock_on_hand")
DEAL_PROPERTIES = (
    "dealname", "amount", "deal_currency_code", "dealstage", "pipeline",
    "hub_sale_number", "hub_order_reference", "hub_sale_state",
)  # fmt: skip
INVOICE_PROPERTIES = (
    "hub_invoice_number", "hub_invoice_status", "hub_payment_status", "hub_invoice_total",
    "hub_invoice_date",
)  # fmt: skip
LINE_ITEM_PROPERTIES = ("name", "quantity", "price", "hs_product_id", "hs_sku")


def wire(value: Any) -> str:
    """A property value as the CRM stores it: a string, "" for none (which clears it)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return text if text != "-0" else "0"
    return str(value)


def payload_hash(props: Mapping[str, Any], keys: Iterable[str] | None = None) -> str:
    """Hash of ``props`` in wire form; with ``keys``, of exactly those (missing = "")."""
    names = sorted(keys) if keys is not None else sorted(props)
    return content_hash({k: wire(props.get(k)) for k in names})


def properties_of(own: Ownership, owner: str, table: Mapping[str, str]) -> tuple[str, ...]:
    """The CRM properties of the fields ``owner`` ("erp" or "crm") owns."""
    fields = own.erp if owner == "erp" else own.crm
    return tuple(table[f] for f in fields)


# -- ERP -> CRM --------------------------------------------------------------------------


def _first(mechanisms: Iterable[ContactMechanism], *types: str) -> str | None:
    for mech in mechanisms:
        if mech.type in types and not mech.name:
            return mech.value
    return None


def company_fields(party: Party) -> dict[str, str]:
    """Every company field of a party, by canonical field name (wire strings)."""
    address = party.addresses[0] if party.addresses else Address()
    return {
        "name": wire(party.name),
        "vat": wire(party.vat),
        "gln": wire(party.gln),
        "code": wire(party.code),
        "street": wire(address.street),
        "postal_code": wire(address.postal_code),
        "city": wire(address.city),
        "country": wire(address.country),
        "phone": wire(_first(party.contact_mechanisms, "phone", "mobile")),
        "website": wire(_first(party.contact_mechanisms, "website")),
    }


def company_payload(party: Party, config: CrmConfig, *, seed: bool) -> Props:
    """Properties to push for a party: the ERP-owned ones, plus CRM-owned ones as a seed."""
    fields = company_fields(party)
    owned = list(config.companies.erp) + (list(config.companies.crm) if seed else [])
    return {COMPANY_PROPERTY[f]: fields[f] for f in owned}


def contact_key(party_erp_id: str, contact: Contact) -> str:
    """The contact's id-property value: ERP party id + the person's email (or name)."""
    if contact.erp_id:
        return f"{party_erp_id}:{contact.erp_id}"
    if contact.email:
        return f"{party_erp_id}:{contact.email.strip().lower()}"
    return f"{party_erp_id}:{slug(contact.name)}"


def split_name(name: str) -> tuple[str, str]:
    """("Anna Maria", "Schulz") from "Anna Maria Schulz"; one word is a last name."""
    first, _, last = name.strip().rpartition(" ")
    return first, last


def contact_fields(contact: Contact) -> dict[str, str]:
    """Every contact field of a contact person, by canonical field name."""
    first, last = split_name(contact.name)
    return {
        "firstname": first,
        "lastname": last,
        "email": wire(contact.email.lower() if contact.email else None),
        "phone": wire(contact.phone),
        "jobtitle": wire(contact.job_title),
    }


def contact_payload(contact: Contact, config: CrmConfig, *, seed: bool) -> Props:
    """Properties to push for a contact person (CRM-owned details only as a seed)."""
    fields = contact_fields(contact)
    owned = list(config.contacts.erp) + (list(config.contacts.crm) if seed else [])
    return {CONTACT_PROPERTY[f]: fields[f] for f in owned}


def contacts_of(party: Party) -> list[Contact]:
    """The party's contact persons; named mechanisms count when the ERP keeps no contacts."""
    if party.contacts:
        return list(party.contacts)
    people: dict[str, dict[str, str]] = {}
    for mech in party.contact_mechanisms:
        if not mech.name:
            continue
        person = people.setdefault(mech.name, {"name": mech.name})
        if mech.type == "email":
            person.setdefault("email", mech.value)
        elif mech.type in ("phone", "mobile"):
            person.setdefault("phone", mech.value)
    return [Contact(**p) for p in people.values()]


def product_payload(product: Product, on_hand: Decimal | None) -> Props:
    """A CRM product: name, SKU (= ERP code), GTIN, list price, currency, stock on hand."""
    return {
        "name": product.name,
        "hs_sku": product.code,
        "hub_gtin": wire(product.gtin),
        "price": wire(product.list_price),
        "hub_currency": wire(product.currency),
        "hub_stock_on_hand": wire(on_hand if on_hand is not None else Decimal(0)),
    }


def deal_payload(sale: ErpSale, config: CrmConfig, *, customer: str | None = None) -> Props | None:
    """A deal for a sale in a mapped state (None: this state is not pushed)."""
    stage = config.deal_stages.get(sale.state)
    if stage is None:
        return None
    label = sale.number or sale.erp_id
    amount = sale.total_amount if sale.total_amount is not None else sale.untaxed_amount
    return {
        "dealname": f"{label} {sale.reference}" + (f" ({customer})" if customer else ""),
        "amount": wire(amount),
        "deal_currency_code": sale.currency,
        "dealstage": stage,
        "pipeline": config.pipeline,
        "hub_sale_number": wire(sale.number),
        "hub_order_reference": sale.reference,
        "hub_sale_state": sale.state,
    }


def line_item_key(sale: ErpSale, line: ErpSaleLine) -> str:
    """The line item's id-property value: sale ERP id + line number."""
    return f"{sale.erp_id}:{line.line_no}"


def line_item_payload(line: ErpSaleLine, product_crm_id: str | None, name: str) -> Props:
    """A line item pointing at the CRM product (``hs_product_id``)."""
    return {
        "name": name,
        "quantity": wire(line.quantity),
        "price": wire(line.unit_price),
        "hs_product_id": wire(product_crm_id),
        "hs_sku": line.product_code,
    }


def invoice_payload(invoice: Invoice) -> Props:
    """The deal's invoice and payment status from a posted invoice (or credit note)."""
    return {
        "hub_invoice_number": invoice.number,
        "hub_invoice_status": "credited" if invoice.kind == "credit_note" else "posted",
        "hub_payment_status": invoice.payment_state,
        "hub_invoice_total": wire(invoice.total_amount),
        "hub_invoice_date": invoice.invoice_date.isoformat(),
    }


# -- CRM -> ERP --------------------------------------------------------------------------


def _text(props: Mapping[str, str], name: str) -> str | None:
    value = (props.get(name) or "").strip()
    return value or None


def company_to_party(
    props: Mapping[str, str], *, record: str | None = None, erp_id: str | None = None
) -> Party:
    """A canonical party draft from a CRM company; ``InvalidField`` names a bad property."""
    name = _text(props, "name")
    if not name:
        raise InvalidField("name", "a company needs a name", record=record)
    country = _text(props, "country")
    if country is not None:
        try:
            country = _check_country(country)
        except ValueError:
            raise InvalidField(
                "country", f"{country!r} is not an ISO 3166-1 alpha-2 country code", record=record
            ) from None
    vat_raw = _text(props, "hub_vat")
    vat = normalise_vat(vat_raw, country, record=record) if vat_raw else None
    gln_raw = _text(props, "hub_gln")
    gln = normalise_gln(gln_raw, record=record) if gln_raw else None
    mechanisms: list[ContactMechanism] = []
    phone = _text(props, "phone")
    if phone:
        mechanisms.append(ContactMechanism(type="phone", value=phone))
    website = _text(props, "website")
    if website:
        mechanisms.append(ContactMechanism(type="website", value=website))
    street, postcode, city = _text(props, "address"), _text(props, "zip"), _text(props, "city")
    addresses: tuple[Address, ...] = ()
    if street or postcode or city or country:
        addresses = (Address(street=street, postal_code=postcode, city=city, country=country),)
    try:
        return Party(
            name=name, erp_id=erp_id, gln=gln, vat=vat, addresses=addresses,
            contact_mechanisms=tuple(mechanisms),
        )  # fmt: skip
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InvalidField(
            ".".join(str(p) for p in err["loc"]) or "name", err["msg"], record=record
        ) from exc


def contact_to_contact(props: Mapping[str, str], *, record: str | None = None) -> Contact:
    """A canonical contact person from a CRM contact; needs a name or an email."""
    email_raw = _text(props, "email")
    email = normalise_email(email_raw, record=record) if email_raw else None
    name = " ".join(p for p in (_text(props, "firstname"), _text(props, "lastname")) if p)
    if not name:
        if not email:
            raise InvalidField("lastname", "a contact needs a name or an email", record=record)
        name = email
    return Contact(
        name=name, email=email, phone=_text(props, "phone"), job_title=_text(props, "jobtitle")
    )


def contact_mechanisms_for(contact: Contact) -> list[ContactMechanism]:
    """How the ERP keeps a contact person: mechanisms named after the person."""
    out = []
    if contact.email:
        out.append(ContactMechanism(type="email", value=contact.email, name=contact.name))
    if contact.phone:
        out.append(ContactMechanism(type="phone", value=contact.phone, name=contact.name))
    return out


def company_mechanisms(party: Party, fields: Iterable[str]) -> list[ContactMechanism]:
    """The party-level mechanisms of the CRM-owned company ``fields`` (phone, website)."""
    wanted = {"phone": ("phone",), "website": ("website",)}
    types = {t for f in fields for t in wanted.get(f, ())}
    return [m for m in party.contact_mechanisms if m.type in types and not m.name]
