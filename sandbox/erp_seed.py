"""Seeds a fresh Tryton database with the sandbox ERP's company, accounts, catalogue and customers.

Runs inside its own process (``python -m sandbox.erp_seed --config CONF --database DB``)
because trytond's configuration and pool are process-global. Everything it creates is
deterministic: same seed version, same records (only the fiscal years follow the clock).
"""

from __future__ import annotations

import argparse
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from stdnum import ean
from stdnum.iso7064 import mod_11_10

from transforms.edifact_orders_allowances import ADJUSTMENT_RATES, adjustment_code

SEED_VERSION = "7"  # 7: ALLOWANCE-7/CHARGE-7; 6: ALLOWANCE/CHARGE; 5: sale_amendment; 4: USD, CHF
GTIN_PREFIX = "400638"  # 6-digit company prefix used for the sandbox catalogue
GLN_PREFIX = "430000"  # customers' GLNs
COMPANY_GLN_BODY = "400638999999"
WAREHOUSE_CODE = "WH"
STORAGE_CODE = "STO"


@dataclass(frozen=True)
class SeedProduct:
    """One catalogue item of the sandbox ERP."""

    code: str
    name: str
    gtin: str
    list_price: Decimal
    cost_price: Decimal
    tax_rate: Decimal
    stock: int


@dataclass(frozen=True)
class SeedCustomer:
    """One customer party of the sandbox ERP."""

    code: str
    name: str
    gln: str
    vat: str
    street: str
    postal_code: str
    city: str
    country: str
    email: str
    contact_name: str
    phone: str
    price_list: bool


def gtin13(body12: str) -> str:
    """A GTIN-13 / GLN-13 from its first 12 digits (check digit computed by python-stdnum)."""
    return body12 + ean.calc_check_digit(body12)


def de_vat(body8: str) -> str:
    """A valid German VAT id (DE + 8 digits + ISO 7064 Mod 11,10 check digit)."""
    return "DE" + body8 + mod_11_10.calc_check_digit(body8)


_PRODUCT_NAMES = [
    ("Espresso beans 1 kg", "7"),
    ("Filter coffee 500 g", "7"),
    ("Green tea 100 bags", "7"),
    ("Cocoa powder 250 g", "7"),
    ("Cane sugar 1 kg", "7"),
    ("Oat drink 1 l", "7"),
    ("Coffee mug white", "19"),
    ("Coffee mug black", "19"),
    ("Travel tumbler 350 ml", "19"),
    ("Milk frother", "19"),
    ("French press 1 l", "19"),
    ("Pour-over dripper", "19"),
    ("Paper filters 100", "19"),
    ("Burr grinder", "19"),
    ("Kettle gooseneck", "19"),
    ("Tea infuser", "19"),
    ("Espresso cups set of 4", "19"),
    ("Barista apron", "19"),
    ("Descaler 500 ml", "19"),
    ("Cleaning tablets 50", "19"),
]


def catalogue() -> list[SeedProduct]:
    """The deterministic sandbox catalogue: 20 products, valid GTIN-13, 7% or 19% VAT."""
    items = []
    for i, (name, rate) in enumerate(_PRODUCT_NAMES, start=1):
        price = Decimal(3 + (i * 7) % 40) + Decimal(i % 4) / Decimal(4) - Decimal("0.01")
        items.append(
            SeedProduct(
                code=f"HUB-{1000 + i}",
                name=name,
                gtin=gtin13(f"{GTIN_PREFIX}{i:06d}"),
                list_price=price.quantize(Decimal("0.01")),
                cost_price=(price * Decimal("0.6")).quantize(Decimal("0.0001")),
                tax_rate=Decimal(rate) / 100,
                stock=500 + 25 * i,
            )
        )
    return items


def customers() -> list[SeedCustomer]:
    """The deterministic sandbox customers: GLN, VAT id, address, email and a named contact."""
    rows = [
        ("Kaufhaus Nord GmbH", "Hafenstrasse 12", "20457", "Hamburg", "DE", "Anna Schmidt"),
        ("Markt Sued AG", "Leopoldstrasse 88", "80802", "Muenchen", "DE", "Jonas Weber"),
        ("Rheinhandel KG", "Rheinuferweg 3", "50668", "Koeln", "DE", "Mia Fischer"),
        ("Spree Retail GmbH", "Friedrichstrasse 200", "10117", "Berlin", "DE", "Lukas Wagner"),
        ("Elbe Bio Markt eG", "Koenigsbruecker Str. 40", "01099", "Dresden", "DE", "Lea Becker"),
    ]
    result = []
    for i, (name, street, postal, city, country, contact) in enumerate(rows, start=1):
        slug = name.split()[0].lower()
        result.append(
            SeedCustomer(
                code=f"CUST-{i:03d}",
                name=name,
                gln=gtin13(f"{GLN_PREFIX}{i:06d}"),
                vat=de_vat(f"{13572468 + i * 1111:08d}"),
                street=street,
                postal_code=postal,
                city=city,
                country=country,
                email=f"orders@{slug}.example",
                contact_name=contact,
                phone=f"+49 40 555{i:04d}",
                price_list=i % 2 == 1,
            )
        )
    return result


def offline_email_validation() -> None:
    """Let Tryton accept syntactically valid emails without a DNS deliverability lookup.

    The sandbox runs on machines without DNS (every lookup answers NXDOMAIN), where Tryton
    would refuse every address. Must run before the pool imports the party module.
    """
    from trytond.tools import email_

    original = email_.validate_email

    def validate_email(email: str, check_deliverability: bool = True) -> str:
        return original(email, check_deliverability=False)

    email_.validate_email = validate_email


def _wizard(pool: Any, name: str, steps: list[tuple[str, dict[str, Any]]]) -> None:
    """Run a Tryton wizard in-process through its states, like a client would."""
    wizard_class = pool.get(name, type="wizard")
    session_id, _, _ = wizard_class.create()
    for state, data in steps:
        wizard_class.execute(session_id, data, state)
    wizard_class.delete(session_id)


def _in_transaction(database: str, context: dict[str, Any], step: Any) -> Any:
    """Run ``step(pool)`` in one committed transaction, restarting on Tryton's lock requests."""
    from trytond.pool import Pool
    from trytond.transaction import Transaction, TransactionError

    extras: dict[str, Any] = {}
    while True:
        with Transaction().start(database, 0, context=context, **extras) as transaction:
            try:
                result = step(Pool())
            except TransactionError as exc:
                transaction.rollback()
                exc.fix(extras)
                continue
            transaction.commit()
            return result


def seed(database: str, today: dt.date) -> None:
    """Create company, fiscal years, chart, taxes, payment term, catalogue, stock and customers."""
    from trytond.pool import Pool

    offline_email_validation()
    Pool(database).init()
    company_id, country_ids = _in_transaction(database, {}, _seed_company)
    context = {"company": company_id}
    _in_transaction(database, context, lambda pool: _seed_accounting(pool, company_id, today))
    _in_transaction(database, context, lambda pool: _seed_catalogue(pool, company_id, country_ids))


def _seed_company(pool: Any) -> tuple[int, dict[str, int]]:
    Currency = pool.get("currency.currency")
    Country = pool.get("country.country")
    Party = pool.get("party.party")
    Company = pool.get("company.company")
    User = pool.get("res.user")

    (eur,) = Currency.create(
        [
            {
                "name": "Euro",
                "code": "EUR",
                "numeric_code": "978",
                "symbol": "€",
                "digits": 2,
                "rounding": Decimal("0.01"),
            }
        ]
    )
    _seed_foreign_currencies(Currency, eur)
    countries = Country.create(
        [
            {"name": "Germany", "code": "DE", "code3": "DEU", "code_numeric": "276"},
            {"name": "Austria", "code": "AT", "code3": "AUT", "code_numeric": "040"},
            {"name": "Netherlands", "code": "NL", "code3": "NLD", "code_numeric": "528"},
        ]
    )
    country = {c.code: c.id for c in countries}
    (company_party,) = Party.create(
        [
            {
                "name": "Sandbox Sales GmbH",
                "code": "COMPANY",
                "addresses": [
                    (
                        "create",
                        [
                            {
                                "street": "Lagerweg 1",
                                "postal_code": "28195",
                                "city": "Bremen",
                                "country": country["DE"],
                            }
                        ],
                    )
                ],
                "identifiers": [("create", [{"type": None, "code": gtin13(COMPANY_GLN_BODY)}])],
            }
        ]
    )
    (company,) = Company.create([{"party": company_party.id, "currency": eur.id}])
    users = User.search([("login", "=", "admin")])
    User.write(users, {"companies": [("add", [company.id])], "company": company.id})
    return company.id, country


# foreign currencies the sandbox sells in: units per EUR from RATES_FROM (ECB-like rates)
FOREIGN_RATES = {"USD": Decimal("1.0800"), "CHF": Decimal("0.9400")}
RATES_FROM = dt.date(2020, 1, 1)


def _seed_foreign_currencies(Currency: Any, eur: Any) -> None:  # noqa: N803 - a Tryton model
    """USD and CHF with one rate each since RATES_FROM, EUR at 1: sales in them convert."""
    Currency.write([eur], {"rates": [("create", [{"date": RATES_FROM, "rate": Decimal(1)}])]})
    names = {"USD": ("US Dollar", "840", "$"), "CHF": ("Swiss Franc", "756", "CHF")}
    Currency.create([
        {"name": names[code][0], "code": code, "numeric_code": names[code][1],
         "symbol": names[code][2], "digits": 2, "rounding": Decimal("0.01"),
         "rates": [("create", [{"date": RATES_FROM, "rate": rate}])]}
        for code, rate in FOREIGN_RATES.items()
    ])  # fmt: skip


def _seed_accounting(pool: Any, company_id: int, today: dt.date) -> None:
    company = pool.get("company.company")(company_id)
    _seed_chart(pool, company)
    for year in (today.year - 1, today.year, today.year + 1):
        _seed_fiscal_year(pool, company, year)
    _seed_taxes_and_terms(pool, company)


def _seed_chart(pool: Any, company: Any) -> None:
    """The English chart of accounts, and default receivable/payable accounts when needed."""
    ModelData = pool.get("ir.model.data")
    Account = pool.get("account.account")
    Configuration = pool.get("account.configuration")

    template_id = ModelData.get_id("account", "account_template_root_en")
    _wizard(
        pool,
        "account.create_chart",
        [("create_account", {"account": {"account_template": template_id, "company": company.id}})],
    )
    receivable = Account.search(
        [("type.receivable", "=", True), ("company", "=", company.id), ("closed", "!=", True)],
        limit=1,
    )
    payable = Account.search(
        [("type.payable", "=", True), ("company", "=", company.id), ("closed", "!=", True)], limit=1
    )
    config = Configuration(1)
    config.default_account_receivable = receivable[0] if receivable[0].party_required else None
    config.default_account_payable = payable[0] if payable[0].party_required else None
    config.save()


def _seed_fiscal_year(pool: Any, company: Any, year: int) -> None:
    """A fiscal year with its periods, move sequence and invoice sequence (``INV<year>-``)."""
    FiscalYear = pool.get("account.fiscalyear")
    SequenceStrict = pool.get("ir.sequence.strict")
    SequenceType = pool.get("ir.sequence.type")

    (move_type,) = SequenceType.search([("name", "=", "Account Move")], limit=1)
    (invoice_type,) = SequenceType.search([("name", "=", "Invoice")], limit=1)
    move_seq, invoice_seq = SequenceStrict.create(
        [
            {"name": f"Moves {year}", "sequence_type": move_type.id, "company": company.id},
            {
                "name": f"Invoices {year}",
                "sequence_type": invoice_type.id,
                "company": company.id,
                "prefix": f"INV{year}-",
                "padding": 5,
            },
        ]
    )
    invoice_sequences = {
        "company": company.id,
        "in_invoice_sequence": invoice_seq.id,
        "in_credit_note_sequence": invoice_seq.id,
        "out_invoice_sequence": invoice_seq.id,
        "out_credit_note_sequence": invoice_seq.id,
    }
    (fiscalyear,) = FiscalYear.create(
        [
            {
                "name": str(year),
                "start_date": dt.date(year, 1, 1),
                "end_date": dt.date(year, 12, 31),
                "company": company.id,
                "move_sequence": move_seq.id,
                "invoice_sequences": [("create", [invoice_sequences])],
            }
        ]
    )
    FiscalYear.create_period([fiscalyear])


def _seed_taxes_and_terms(pool: Any, company: Any) -> None:
    """VAT 19% and 7%, and the payment terms "30 days net" and "Direct"."""
    Account = pool.get("account.account")
    Tax = pool.get("account.tax")
    PaymentTerm = pool.get("account.invoice.payment_term")

    (tax_account,) = Account.search([("company", "=", company.id), ("code", "=", "6.3.6")], limit=1)
    Tax.create(
        [
            {
                "name": f"VAT {pct}%",
                "description": f"VAT {pct}%",
                "type": "percentage",
                "rate": Decimal(pct) / 100,
                "invoice_account": tax_account.id,
                "credit_note_account": tax_account.id,
                "company": company.id,
            }
            for pct in ("19", "7")
        ]
    )
    PaymentTerm.create(
        [
            {
                "name": "30 days net",
                "lines": [
                    (
                        "create",
                        [{"type": "remainder", "relativedeltas": [("create", [{"days": 30}])]}],
                    )
                ],
            },
            {"name": "Direct", "lines": [("create", [{"type": "remainder"}])]},
        ]
    )


def _seed_catalogue(pool: Any, company_id: int, country: dict[str, int]) -> None:
    company = pool.get("company.company")(company_id)
    categories = _seed_categories(pool, company)
    _seed_products(pool, company, categories)
    _seed_adjustment_services(pool, categories)
    price_list = _seed_price_list(pool, company)
    PaymentTerm = pool.get("account.invoice.payment_term")
    (term,) = PaymentTerm.search([("name", "=", "30 days net")], limit=1)
    sale_config = pool.get("sale.configuration")(1)
    sale_config.sale_invoice_method = "fulfillment"
    sale_config.save()
    Party = pool.get("party.party")
    for c in customers():
        Party.create([_customer_values(c, country, term.id, price_list.id)])


def _seed_categories(pool: Any, company: Any) -> dict[Decimal, Any]:
    """One accounting product category per tax, by tax rate."""
    Account = pool.get("account.account")
    Tax = pool.get("account.tax")
    Category = pool.get("product.category")

    (revenue,) = Account.search(
        [("type.revenue", "=", True), ("company", "=", company.id), ("closed", "!=", True)], limit=1
    )
    (expense,) = Account.search(
        [("type.expense", "=", True), ("company", "=", company.id), ("closed", "!=", True)], limit=1
    )
    categories = {}
    for tax in Tax.search([("company", "=", company.id)]):
        (cat,) = Category.create(
            [
                {
                    "name": f"Goods {tax.name}",
                    "accounting": True,
                    "account_revenue": revenue.id,
                    "account_expense": expense.id,
                    "customer_taxes": [("add", [tax.id])],
                }
            ]
        )
        categories[tax.rate] = cat
    return categories


def _seed_products(pool: Any, company: Any, categories: dict[Decimal, Any]) -> None:
    """The catalogue's templates and products, and an inventory putting them on stock."""
    Uom = pool.get("product.uom")
    Template = pool.get("product.template")
    Location = pool.get("stock.location")
    Inventory = pool.get("stock.inventory")

    (unit,) = Uom.search([("name", "=", "Unit")], limit=1)
    items = catalogue()
    templates = Template.create(
        [
            {
                "name": p.name,
                "code": p.code,
                "type": "goods",
                "salable": True,
                "default_uom": unit.id,
                "sale_uom": unit.id,
                "list_price": p.list_price,
                "account_category": categories[p.tax_rate].id,
                "products": [
                    (
                        "create",
                        [
                            {
                                "cost_price": p.cost_price,
                                "identifiers": [("create", [{"type": "ean", "code": p.gtin}])],
                            }
                        ],
                    )
                ],
            }
            for p in items
        ]
    )
    (storage,) = Location.search([("code", "=", STORAGE_CODE)], limit=1)
    lines = [
        {"product": t.products[0].id, "quantity": float(p.stock)}
        for t, p in zip(templates, items, strict=True)
    ]
    (inventory,) = Inventory.create(
        [{"location": storage.id, "company": company.id, "lines": [("create", lines)]}]
    )
    Inventory.confirm([inventory])


def _seed_adjustment_services(pool: Any, categories: dict[Decimal, Any]) -> None:
    """The services order-level allowances and charges are sold as, one per VAT rate
    (ALLOWANCE at 19%, ALLOWANCE-7 at 7%, the same for CHARGE)."""
    Uom = pool.get("product.uom")
    Template = pool.get("product.template")
    (unit,) = Uom.search([("name", "=", "Unit")], limit=1)
    Template.create(
        [
            {"name": f"{name} {rate}%", "code": adjustment_code(charge, rate),
             "type": "service", "salable": True,
             "default_uom": unit.id, "sale_uom": unit.id, "list_price": Decimal(0),
             "account_category": categories[rate / 100].id,
             "products": [("create", [{"cost_price": Decimal(0)}])]}
            for charge, name in ((False, "Order allowance"), (True, "Order charge"))
            for rate in ADJUSTMENT_RATES
        ]
    )  # fmt: skip


# the "Retail partners" price list's quantity breaks as data: (minimum quantity, factor on
# the list price); the formulas below say the same, the FakeErp is seeded from this
PRICE_LIST_BREAKS = ((Decimal(100), Decimal("0.90")), (Decimal(24), Decimal("0.95")))


def _seed_price_list(pool: Any, company: Any) -> Any:
    """ "Retail partners": -5% from 24 units, -10% from 100."""
    PriceList = pool.get("product.price_list")
    (price_list,) = PriceList.create(
        [
            {
                "name": "Retail partners",
                "company": company.id,
                "price": "list_price",
                "lines": [
                    (
                        "create",
                        [
                            {"sequence": 10, "quantity": 100.0, "formula": "unit_price * 0.90"},
                            {"sequence": 20, "quantity": 24.0, "formula": "unit_price * 0.95"},
                            {"sequence": 30, "formula": "unit_price"},
                        ],
                    )
                ],
            }
        ]
    )
    return price_list


def _customer_values(
    c: SeedCustomer, country: dict[str, int], term_id: int, price_list_id: int
) -> dict[str, Any]:
    """Create values of one customer: address, GLN and VAT id, named email and phone."""
    address = {
        "street": c.street,
        "postal_code": c.postal_code,
        "city": c.city,
        "country": country[c.country],
    }
    identifiers = [{"type": None, "code": c.gln}, {"type": "eu_vat", "code": c.vat}]
    mechanisms = [
        {"type": "email", "value": c.email, "name": c.contact_name},
        {"type": "phone", "value": c.phone, "name": c.contact_name},
    ]
    values: dict[str, Any] = {
        "name": c.name,
        "code": c.code,
        "customer_payment_term": term_id,
        "addresses": [("create", [address])],
        "identifiers": [("create", identifiers)],
        "contact_mechanisms": [("create", mechanisms)],
    }
    if c.price_list:
        values["sale_price_list"] = price_list_id
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--today", default=None, help="ISO date the fiscal years centre on")
    args = parser.parse_args()
    from trytond import config as tryton_config

    tryton_config.update_etc(args.config)
    today = dt.date.fromisoformat(args.today) if args.today else dt.date.today()
    seed(args.database, today)


if __name__ == "__main__":
    main()
