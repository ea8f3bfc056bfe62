"""Realistic, varied invoices for e-invoice tests, the demo and the benchmark (seeded, no clock).

Amounts are computed the way Tryton does with tax rounding per document: each line
``round(quantity * unit_price, 2)``, each rate's VAT ``round(base * rate, 2)``.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from schemas.einvoice_config import (
    CustomerEInvoice,
    EInvoiceFormat,
    Seller,
    SellerAddress,
    SellerContact,
)
from schemas.model import Address, AllowanceCharge, Invoice, InvoiceLine, Party, PartyRef, TaxLine

CENT = Decimal("0.01")
SELLER = Seller(
    vat_id="DE136695976",
    iban="DE02120300000000202051",
    bic="BYLADEM1001",
    electronic_address="invoices@sandbox-sales.example",
    contact=SellerContact(
        name="Accounts receivable", phone="+49 421 555 0100", email="accounts@sandbox-sales.example"
    ),
    legal_registration="HRB 12345 Bremen",
    name="Sandbox Sales GmbH",
    address=SellerAddress(street="Lagerweg 1", postal_code="28195", city="Bremen", country="DE"),
    gln="4012345000009",
)


def _buyer(name: str, number: int, code: str, vat: str, address: str) -> Party:
    """A German business buyer; ``address`` is "street, postcode, city"."""
    street, postal_code, city = address.split(", ")
    return Party(
        name=name,
        erp_id=str(number),
        code=code,
        vat=vat,
        addresses=(Address(street=street, postal_code=postal_code, city=city, country="DE"),),
    )


BUYERS = (
    _buyer("Kaufhaus Nord GmbH", 11, "C-KN", "DE811128135", "Hafenstrasse 2, 20457, Hamburg"),
    _buyer("Markt Süd AG", 12, "C-MS", "DE129273398", "Marienplatz 8, 80331, München"),
)
PRODUCTS = (
    ("P-COFFEE", "Coffee beans 1 kg", Decimal("12.99"), Decimal(7)),
    ("P-TEA", "Green tea 250 g", Decimal("4.49"), Decimal(7)),
    ("P-MUG", "Stoneware mug", Decimal("6.95"), Decimal(19)),
    ("P-KETTLE", "Electric kettle 1.7 l", Decimal("39.90"), Decimal(19)),
    ("P-FILTER", "Paper filters (100)", Decimal("2.35"), Decimal(19)),
    ("P-BOOK", "Barista handbook", Decimal("24.00"), Decimal(7)),
    ("P-GIFT", "Gift voucher", Decimal("25.00"), Decimal(0)),
)


def customer(party: Party, fmt: EInvoiceFormat) -> CustomerEInvoice:
    """A customer entry receiving ``fmt`` by e-mail, with a Leitweg-ID style reference."""
    return CustomerEInvoice(
        party=party.code or str(party.erp_id),
        format=fmt,
        channel="email",
        email=f"ap@{(party.code or 'buyer').lower()}.example",
        buyer_reference="04011000-12345-03",
    )


def _round(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def make_invoice(
    seed: int,
    *,
    buyer: Party = BUYERS[0],
    credit_note: bool = False,
    allowances: bool = True,
    lines: int | None = None,
) -> Invoice:
    """One invoice (or credit note, amounts negative as the ERP keeps them) from ``seed``."""
    rnd = random.Random(seed)
    sign = Decimal(-1) if credit_note else Decimal(1)
    count = lines or rnd.randint(1, 12)
    inv_lines = []
    for i in range(count):
        code, name, price, rate = PRODUCTS[rnd.randrange(len(PRODUCTS))]
        qty = (
            Decimal(rnd.choice([1, 2, 3, 5, 7, 12, 24]))
            if rnd.random() < 0.8
            else Decimal(rnd.randint(1, 2000)) / 100
        )
        unit = "u" if qty == qty.to_integral_value() else "kg"
        inv_lines.append(
            InvoiceLine(
                line_no=i + 1,
                product_code=code,
                description=name,
                quantity=qty * sign,
                unit=unit,
                unit_price=price,
                amount=_round(qty * price) * sign,
                tax_rate=rate,
            )
        )
    extras: list[AllowanceCharge] = []
    if allowances and not credit_note and rnd.random() < 0.6:
        extras.append(
            AllowanceCharge(
                amount=Decimal(rnd.randint(100, 900)) / 100,
                reason="Loyalty discount",
                tax_rate=Decimal(19),
            )
        )
        extras.append(
            AllowanceCharge(
                charge=True,
                amount=Decimal("4.90"),
                reason="Freight",
                reason_code="FC",
                tax_rate=Decimal(19),
            )
        )
    bases: dict[Decimal, Decimal] = {}
    for ln in inv_lines:
        rate = ln.tax_rate or Decimal(0)
        bases[rate] = bases.get(rate, Decimal(0)) + ln.amount
    for a in extras:
        rate = a.tax_rate or Decimal(0)
        bases[rate] = bases.get(rate, Decimal(0)) + (a.amount if a.charge else -a.amount)
    taxes = tuple(TaxLine(rate=r, base=b, amount=_round(b * r / 100)) for r, b in bases.items())
    untaxed = sum(bases.values(), Decimal(0))
    tax = sum((t.amount for t in taxes), Decimal(0))
    day = date(2026, 11, 1) + timedelta(days=seed % 28)
    return Invoice(
        erp_id=str(1000 + seed),
        number=f"{'CN' if credit_note else 'INV'}-2026-{seed:05d}",
        kind="credit_note" if credit_note else "invoice",
        invoice_date=day,
        customer=PartyRef(erp_id=buyer.erp_id, name=buyer.name),
        currency="EUR",
        lines=tuple(inv_lines),
        taxes=taxes,
        untaxed_amount=untaxed,
        tax_amount=tax,
        total_amount=untaxed + tax,
        order_numbers=(f"PO-{seed:06d}",),
        due_date=day + timedelta(days=30),
        payment_terms="30 days net",
        allowance_charges=tuple(extras),
    )
