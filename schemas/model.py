"""The canonical sales model: what every transform maps to and from, whatever the system."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.types import (
    GLN,
    GTIN,
    SSCC,
    Amount,
    CountryCode,
    CurrencyCode,
    Email,
    Percent,
    Quantity,
    VatId,
)

CENT = Decimal("0.01")


class CanonicalModel(BaseModel):
    """Strict, immutable base: unknown fields are errors, not silently dropped data."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)
    # fields added after content hashes were journaled: left out of the hash while empty, so
    # a model without them hashes as it did before they existed (journal and ledger keys)
    hash_neutral_when_empty: ClassVar[frozenset[str]] = frozenset()

    def content_hash(self) -> str:
        """A stable SHA-256 of the model's content, for change detection and conflict checks."""
        return content_hash(self.model_dump(mode="json", exclude=self._hash_exclude() or None))

    def _hash_exclude(self) -> dict[Any, Any]:
        """The pydantic ``exclude`` of the empty hash-neutral fields, nested models included."""
        spec: dict[Any, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name in self.hash_neutral_when_empty and not value:
                spec[name] = True
            elif isinstance(value, CanonicalModel) and (inner := value._hash_exclude()):
                spec[name] = inner
            elif isinstance(value, tuple):
                items = {i: _hash_exclude(v) for i, v in enumerate(value) if _hash_exclude(v)}
                if items:
                    spec[name] = items
        return spec


def _hash_exclude(value: object) -> dict[Any, Any]:
    return value._hash_exclude() if isinstance(value, CanonicalModel) else {}


def content_hash(data: object) -> str:
    """SHA-256 of a JSON-able value in canonical form (sorted keys, no whitespace)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class Money(CanonicalModel):
    """An amount in an ISO 4217 currency; never a float."""

    amount: Amount
    currency: CurrencyCode


class Address(CanonicalModel):
    """A postal address, optionally identified by a delivery-location GLN."""

    name: str | None = None
    street: str | None = None
    postal_code: str | None = None
    city: str | None = None
    country: CountryCode | None = None
    gln: GLN | None = None
    erp_id: str | None = None


MechanismType = Literal["email", "phone", "mobile", "fax", "website", "other"]


class ContactMechanism(CanonicalModel):
    """One way to reach a party: email, phone, ...; optionally a named person's."""

    type: MechanismType
    value: str = Field(min_length=1)
    name: str | None = None
    erp_id: str | None = None

    @model_validator(mode="after")
    def _email_is_valid(self) -> ContactMechanism:
        if self.type == "email":
            from schemas.types import _check_email

            _check_email(self.value)
        return self


class Contact(CanonicalModel):
    """A person at a customer (CRM contact); the ERP keeps them as named contact mechanisms."""

    name: str = Field(min_length=1)
    email: Email | None = None
    phone: str | None = None
    job_title: str | None = None
    erp_id: str | None = None
    crm_id: str | None = None


class Party(CanonicalModel):
    """A customer (or supplier): the ERP's party, the CRM's company, the partner's NAD."""

    name: str = Field(min_length=1)
    erp_id: str | None = None
    code: str | None = None
    gln: GLN | None = None
    vat: VatId | None = None
    lang: str | None = None
    addresses: tuple[Address, ...] = ()
    contact_mechanisms: tuple[ContactMechanism, ...] = ()
    contacts: tuple[Contact, ...] = ()
    updated_at: datetime | None = None

    @property
    def email(self) -> str | None:
        """The first email contact mechanism without a person's name."""
        for mech in self.contact_mechanisms:
            if mech.type == "email" and not mech.name:
                return mech.value
        return None


class PartyRef(CanonicalModel):
    """A reference to a party as a document names it: GLN and/or ERP id."""

    gln: GLN | None = None
    erp_id: str | None = None
    name: str | None = None

    @model_validator(mode="after")
    def _identified(self) -> PartyRef:
        if not (self.gln or self.erp_id):
            raise ValueError("a party reference needs a gln or an erp_id")
        return self


class Product(CanonicalModel):
    """A sellable product with its GTIN, unit and list price."""

    code: str = Field(min_length=1)
    name: str = Field(min_length=1)
    erp_id: str | None = None
    gtin: GTIN | None = None
    unit: str = "unit"
    list_price: Amount | None = None
    currency: CurrencyCode | None = None


class StockLevel(CanonicalModel):
    """Quantity on hand of one product at one location, as of a moment."""

    product_code: str
    gtin: GTIN | None = None
    location: str
    quantity: Amount
    as_of: datetime


class SalesOrderLine(CanonicalModel):
    """One ordered item: product by GTIN (or code), quantity, optional partner price."""

    line_no: int = Field(ge=1)
    gtin: GTIN | None = None
    product_code: str | None = None
    buyer_item_code: str | None = None
    description: str | None = None
    quantity: Quantity
    unit: str = "unit"
    unit_price: Amount | None = Field(default=None, ge=0)  # net: after the line's allowances
    discount_percent: Percent = Decimal(0)
    # the line's allowances and charges (ALC in the LIN group), amounts for the line's total
    allowance_charges: tuple[AllowanceCharge, ...] = ()
    hash_neutral_when_empty = frozenset({"allowance_charges"})

    @model_validator(mode="after")
    def _identified(self) -> SalesOrderLine:
        if not (self.gtin or self.product_code):
            raise ValueError(f"line {self.line_no}: needs a gtin or a product_code")
        return self


class SalesOrder(CanonicalModel):
    """A customer's purchase order as the hub understands it, whatever channel it came from."""

    order_number: str = Field(min_length=1, max_length=35)
    order_date: date
    buyer: PartyRef
    supplier: PartyRef | None = None
    delivery: PartyRef | None = None
    invoicee: PartyRef | None = None
    requested_delivery_date: date | None = None
    currency: CurrencyCode
    lines: tuple[SalesOrderLine, ...] = Field(min_length=1)
    notes: tuple[str, ...] = ()
    source: str | None = None
    allowance_charges: tuple[AllowanceCharge, ...] = ()  # order-level (ALC+MOA), net of VAT
    hash_neutral_when_empty = frozenset({"allowance_charges"})

    @model_validator(mode="after")
    def _unique_lines(self) -> SalesOrder:
        seen: set[int] = set()
        for line in self.lines:
            if line.line_no in seen:
                raise ValueError(f"lines: line_no {line.line_no} appears twice")
            seen.add(line.line_no)
        return self


class SalesOrderLineChange(CanonicalModel):
    """One line of a buyer's order change (ORDCHG LIN 1229): added, deleted or changed."""

    line_no: int = Field(ge=1)
    action: Literal["add", "delete", "change"]
    gtin: GTIN | None = None
    product_code: str | None = None
    quantity: Quantity | None = None
    unit_price: Amount | None = Field(default=None, ge=0)
    discount_percent: Percent = Decimal(0)
    allowance_charges: tuple[AllowanceCharge, ...] = ()  # the line's, restated (ALC in LIN)
    hash_neutral_when_empty = frozenset({"allowance_charges"})


class SalesOrderChange(CanonicalModel):
    """A buyer's change to an order it sent earlier (ORDCHG, or ORDERS with BGM 1225 = 1):
    lines added, deleted or changed, a new delivery date, or the whole order cancelled."""

    order_number: str = Field(min_length=1, max_length=35)
    change_number: str = Field(min_length=1, max_length=35)
    buyer: PartyRef
    cancel: bool = False
    requested_delivery_date: date | None = None
    lines: tuple[SalesOrderLineChange, ...] = ()
    source: str | None = None
    allowance_charges: tuple[AllowanceCharge, ...] = ()  # order-level, restated (ALC+MOA)
    hash_neutral_when_empty = frozenset({"allowance_charges"})


SaleState = Literal["draft", "quotation", "confirmed", "processing", "done", "cancelled"]


class ErpSaleLine(CanonicalModel):
    """A sale line as the ERP accepted it (its quantity and price may differ from the order)."""

    line_no: int
    product_code: str
    gtin: GTIN | None = None
    quantity: Amount
    unit: str = "unit"
    unit_price: Amount
    erp_id: str | None = None
    discount_percent: Percent = Decimal(0)  # the order's allowance in unit_price (net)
    allowance_charges: tuple[AllowanceCharge, ...] = ()  # the order line's, in unit_price
    hash_neutral_when_empty = frozenset({"allowance_charges"})


class ErpSale(CanonicalModel):
    """The ERP's answer for a sales order: its id, number, state and lines."""

    erp_id: str
    number: str | None = None
    reference: str
    party_erp_id: str
    state: SaleState
    currency: CurrencyCode
    lines: tuple[ErpSaleLine, ...] = ()
    created: bool = False
    untaxed_amount: Amount | None = None
    total_amount: Amount | None = None
    # when the goods should ship: the sale's shipping date; once processed, the planned date
    # of its shipments not yet assigned (Tryton plans them for today when no date was asked)
    delivery_date: date | None = None


ShipmentState = Literal[
    "draft", "waiting", "assigned", "picked", "packed", "shipped", "done", "cancelled"
]
CarrierStatus = Literal[
    "created", "in_transit", "out_for_delivery", "delivered", "exception", "returned", "unknown"
]


class ShipmentLine(CanonicalModel):
    """A quantity of one product shipped."""

    line_no: int = Field(ge=1)
    product_code: str
    gtin: GTIN | None = None
    quantity: Quantity
    unit: str = "unit"
    order_number: str | None = None


class Package(CanonicalModel):
    """A parcel or pallet, identified by its SSCC."""

    sscc: SSCC | None = None
    weight_kg: Decimal | None = Field(default=None, gt=0)
    line_nos: tuple[int, ...] = ()


class Shipment(CanonicalModel):
    """A customer shipment out of the warehouse, with its carrier tracking."""

    erp_id: str
    number: str
    state: ShipmentState
    customer: PartyRef
    delivery_address: Address
    order_numbers: tuple[str, ...] = ()
    sale_numbers: tuple[str, ...] = ()
    planned_date: date | None = None
    effective_date: date | None = None
    tracking_number: str | None = None
    carrier_status: CarrierStatus | None = None
    weight_kg: Decimal | None = Field(default=None, gt=0)
    lines: tuple[ShipmentLine, ...] = ()
    packages: tuple[Package, ...] = ()
    updated_at: datetime | None = None


class TaxLine(CanonicalModel):
    """A tax on a base amount: VAT at a rate, rounded to the cent as the ERP did."""

    type: str = "VAT"
    rate: Percent
    base: Amount
    amount: Amount


class InvoiceLine(CanonicalModel):
    """One invoiced product: quantity, net unit price and net line amount."""

    line_no: int = Field(ge=1)
    product_code: str | None = None
    gtin: GTIN | None = None
    description: str | None = None
    quantity: Amount
    unit: str = "unit"
    unit_price: Amount
    amount: Amount
    tax_rate: Percent | None = None
    order_number: str | None = None
    discount_percent: Percent = Decimal(0)  # the allowance already in unit_price (ALC/PCD)
    allowance_charges: tuple[AllowanceCharge, ...] = ()  # the order line's, in unit_price
    hash_neutral_when_empty = frozenset({"allowance_charges"})


class AllowanceCharge(CanonicalModel):
    """An allowance (a discount) or charge (freight, packing) on a document or a line, net of VAT.

    ``reason_code`` is UNTDID 5189 for an allowance, UNTDID 7161 for a charge; ``tax_rate``
    is the VAT rate the amount is taxed at (it belongs to that rate's VAT breakdown). On a
    line, ``amount`` is for the line's whole quantity; ``percent`` says it was a percentage
    (PCD) of the line's gross amount.
    """

    charge: bool = False
    amount: Amount = Field(ge=0)
    reason: str | None = None
    reason_code: str | None = None
    tax_rate: Percent | None = None
    percent: Percent | None = None
    hash_neutral_when_empty = frozenset({"percent"})


class Invoice(CanonicalModel):
    """A posted customer invoice or credit note, totals exactly as the ERP computed them.

    ``untaxed_amount`` is the sum of the lines less document-level allowances plus charges.
    """

    erp_id: str
    number: str
    kind: Literal["invoice", "credit_note"] = "invoice"
    invoice_date: date
    customer: PartyRef
    currency: CurrencyCode
    lines: tuple[InvoiceLine, ...] = Field(min_length=1)
    taxes: tuple[TaxLine, ...] = ()
    untaxed_amount: Amount
    tax_amount: Amount
    total_amount: Amount
    order_numbers: tuple[str, ...] = ()
    due_date: date | None = None
    payment_state: Literal["unpaid", "partially_paid", "paid"] = "unpaid"
    company_currency: CurrencyCode | None = None
    currency_rate: Decimal | None = None
    updated_at: datetime | None = None
    allowance_charges: tuple[AllowanceCharge, ...] = ()
    payment_terms: str | None = None  # the ERP's payment term, as words ("30 days net")
    payee_iban: str | None = None  # where the customer pays (the company's bank account)
    buyer_reference: str | None = None  # the buyer's reference (Leitweg-ID for XRechnung)
    delivery_date: date | None = None  # when the goods were delivered (the last shipment)

    @model_validator(mode="after")
    def _totals_add_up(self) -> Invoice:
        lines = sum((line.amount for line in self.lines), Decimal(0))
        lines += sum(
            (a.amount if a.charge else -a.amount for a in self.allowance_charges), Decimal(0)
        )
        if lines.quantize(CENT) != self.untaxed_amount.quantize(CENT):
            raise ValueError(
                f"invoice {self.number}: untaxed_amount {self.untaxed_amount} "
                f"!= sum of lines {lines}"
            )
        if self.taxes:
            taxes = sum((t.amount for t in self.taxes), Decimal(0))
            if taxes.quantize(CENT) != self.tax_amount.quantize(CENT):
                raise ValueError(
                    f"invoice {self.number}: tax_amount {self.tax_amount} != sum of taxes {taxes}"
                )
        if (self.untaxed_amount + self.tax_amount).quantize(CENT) != self.total_amount.quantize(
            CENT
        ):
            raise ValueError(
                f"invoice {self.number}: total_amount {self.total_amount} != untaxed + tax"
            )
        return self
