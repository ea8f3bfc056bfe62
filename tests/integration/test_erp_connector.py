"""The Tryton connector against a real sandbox trytond: reads, idempotent batch sales, documents."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from connectors.erp.port import PartyQuery
from connectors.erp.tryton import TrytonErp
from sandbox.erp_seed import catalogue, customers, gtin13
from schemas.errors import PermanentError
from schemas.model import (
    Address,
    Contact,
    ContactMechanism,
    Party,
    PartyRef,
    SalesOrder,
    SalesOrderLine,
)

pytestmark = pytest.mark.integration

CATALOGUE = catalogue()
CUSTOMERS = customers()


def order(number: str, *, buyer: int = 0, lines: int = 3, priced: bool = True) -> SalesOrder:
    """An order of ``lines`` catalogue items for customer ``buyer`` of the seed."""
    return SalesOrder(
        order_number=number,
        order_date=dt.date.today(),
        buyer=PartyRef(gln=CUSTOMERS[buyer].gln),
        currency="EUR",
        lines=tuple(
            SalesOrderLine(
                line_no=k + 1,
                gtin=CATALOGUE[k % len(CATALOGUE)].gtin,
                quantity=Decimal(k + 2),
                unit_price=Decimal("4.50") + k if priced else None,
            )
            for k in range(lines)
        ),
    )


def test_catalogue_parties_and_stock_are_read_as_seeded(erp: TrytonErp) -> None:
    products = {p.code: p for p in erp.list_products()}
    assert {p.code for p in CATALOGUE} <= products.keys()
    for seed in CATALOGUE:
        assert products[seed.code].gtin == seed.gtin
        assert products[seed.code].list_price == seed.list_price
        assert products[seed.code].currency == "EUR"

    by_gtin = erp.find_products_by_gtin([CATALOGUE[3].gtin, "4006380999993"])
    assert list(by_gtin) == [CATALOGUE[3].gtin]
    assert (
        erp.find_products_by_code([CATALOGUE[5].code])[CATALOGUE[5].code].gtin == CATALOGUE[5].gtin
    )

    seed = CUSTOMERS[0]
    (party,) = erp.find_parties(PartyQuery(gln=seed.gln))
    assert (party.name, party.vat, party.addresses[0].postal_code) == (
        seed.name,
        seed.vat,
        seed.postal_code,
    )
    assert Contact(name=seed.contact_name, email=seed.email, phone=seed.phone) in party.contacts
    assert [p.erp_id for p in erp.find_parties(PartyQuery(vat=seed.vat))] == [party.erp_id]
    assert [p.erp_id for p in erp.find_parties(PartyQuery(email=seed.email))] == [party.erp_id]
    assert [
        p.erp_id for p in erp.find_parties(PartyQuery(name=seed.name, postal_code=seed.postal_code))
    ] == [party.erp_id]
    assert set(erp.find_parties_by_gln([c.gln for c in CUSTOMERS])) == {c.gln for c in CUSTOMERS}
    assert {c.gln for c in CUSTOMERS} <= {p.gln for p in erp.parties_changed_since(None)}


def test_stock_levels_follow_the_warehouse_count(erp: TrytonErp, erp_operator) -> None:  # noqa: ANN001
    code = CATALOGUE[19].code
    erp_operator.set_stock({code: 77})
    (level,) = erp.stock_levels([code])
    assert (level.product_code, level.location, level.quantity) == (code, "WH", Decimal(77))
    erp_operator.set_stock({code: 120})
    assert erp.stock_levels([code], warehouse="WH")[0].quantity == Decimal(120)
    with pytest.raises(PermanentError, match="warehouse 'NOPE' is unknown"):
        erp.stock_levels([code], warehouse="NOPE")


def test_same_order_twice_makes_one_sale_even_from_a_fresh_connector(
    erp: TrytonErp,
    erp_server,
    erp_operator,
    unique: str,  # noqa: ANN001
) -> None:
    orders = [order(f"PO-{unique}-1"), order(f"PO-{unique}-2", buyer=1)]
    first = erp.create_sales(orders)
    assert [r.sale.created for r in first if r.sale] == [True, True]

    again = TrytonErp.connect(
        erp_server.url, erp_server.database, erp_server.login, erp_server.password
    ).create_sales(orders + orders[:1])
    assert [r.error for r in again] == [None, None, None]
    assert [r.sale.erp_id for r in again if r.sale] == [
        first[0].sale.erp_id,
        first[1].sale.erp_id,
        first[0].sale.erp_id,
    ]
    assert not any(r.sale.created for r in again if r.sale)
    rows = erp_operator.search_read("sale.sale", [("reference", "=", f"PO-{unique}-1")], ["id"])
    assert len(rows) == 1


def test_batch_create_and_confirm_costs_constant_calls(erp: TrytonErp, unique: str) -> None:
    erp.create_sales([order(f"PO-{unique}-W")])  # log in, warm the caches (currency, ...)
    small = [order(f"PO-{unique}-S{n}", buyer=n % 5, lines=5) for n in range(4)]
    before = erp.calls
    results = erp.create_sales(small)
    small_calls = erp.calls - before
    big = [order(f"PO-{unique}-B{n}", buyer=n % 5, lines=10) for n in range(24)]
    before = erp.calls
    results += erp.create_sales(big)
    big_calls = erp.calls - before
    assert big_calls == small_calls <= 8  # not one per order, nor per line
    assert all(r.ok for r in results)
    sale = results[-1].sale
    assert sale is not None and sale.state in ("confirmed", "processing")
    assert [ln.quantity for ln in sale.lines] == [Decimal(k + 2) for k in range(10)]
    assert [ln.unit_price for ln in sale.lines] == [Decimal("4.50") + k for k in range(10)]
    assert sale.total_amount is not None and sale.total_amount > sale.untaxed_amount


def test_unpriced_lines_get_the_erp_price_list_price(erp: TrytonErp, unique: str) -> None:
    # customer 0 has the "Retail partners" list: -5% from 24 units, -10% from 100
    (result,) = erp.create_sales(
        [
            SalesOrder(
                order_number=f"PO-{unique}-P",
                order_date=dt.date.today(),
                buyer=PartyRef(gln=CUSTOMERS[0].gln),
                currency="EUR",
                lines=(
                    SalesOrderLine(line_no=1, gtin=CATALOGUE[0].gtin, quantity=Decimal(1)),
                    SalesOrderLine(line_no=2, gtin=CATALOGUE[0].gtin, quantity=Decimal(24)),
                    SalesOrderLine(line_no=3, gtin=CATALOGUE[0].gtin, quantity=Decimal(100)),
                ),
            )
        ],
        state="quotation",
    )
    assert result.sale is not None and result.sale.state == "quotation"
    price = CATALOGUE[0].list_price
    assert [ln.unit_price for ln in result.sale.lines] == [
        price,
        (price * Decimal("0.95")).quantize(Decimal("0.0001")),
        (price * Decimal("0.90")).quantize(Decimal("0.0001")),
    ]


def test_bad_orders_are_refused_and_the_rest_of_the_batch_goes_on(
    erp: TrytonErp, unique: str
) -> None:
    unknown_gtin = gtin13("400638777777")
    bad_line = order(f"PO-{unique}-X1").model_copy(
        update={"lines": (SalesOrderLine(line_no=1, gtin=unknown_gtin, quantity=Decimal(1)),)}
    )
    bad_buyer = order(f"PO-{unique}-X2").model_copy(
        update={"buyer": PartyRef(gln=gtin13("430000999999"))}
    )
    results = erp.create_sales([bad_line, order(f"PO-{unique}-OK"), bad_buyer])
    assert [r.ok for r in results] == [False, True, False]
    assert isinstance(results[0].error, PermanentError)
    assert unknown_gtin in str(results[0].error) and "line 1" in str(results[0].error)
    assert "is not a party in the ERP" in str(results[2].error)


def test_party_create_find_and_additive_update(erp: TrytonErp, unique: str) -> None:
    gln = gtin13(str(int(unique, 16) % 10**12).zfill(12))
    party = Party(
        name=f"Neukunde {unique} GmbH",
        gln=gln,
        vat="DE136695976",
        addresses=(Address(street="Am Markt 1", postal_code="28195", city="Bremen", country="DE"),),
        contact_mechanisms=(ContactMechanism(type="email", value=f"einkauf-{unique}@neu.example"),),
        contacts=(Contact(name="Eva Klein", email=f"eva-{unique}@neu.example"),),
    )
    (created,) = erp.create_parties([party])
    assert created.erp_id and created.gln == gln and created.vat == "DE136695976"
    assert erp.find_parties_by_gln([gln])[gln].erp_id == created.erp_id
    assert any(c.name == "Eva Klein" for c in created.contacts)

    updated = erp.update_party(
        created.model_copy(
            update={
                "name": f"Neukunde {unique} AG",
                "contact_mechanisms": (ContactMechanism(type="phone", value="+49 421 1234"),),
            }
        )
    )
    assert updated.name == f"Neukunde {unique} AG"
    values = {m.value for m in updated.contact_mechanisms}
    assert {"+49 421 1234", f"einkauf-{unique}@neu.example"} <= values  # additive
    since = updated.updated_at
    assert since is not None
    assert created.erp_id in {p.erp_id for p in erp.parties_changed_since(since)}


def test_shipment_tracking_and_posted_invoice_totals(
    erp: TrytonErp,
    erp_operator,
    unique: str,  # noqa: ANN001
) -> None:
    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)
    (result,) = erp.create_sales([order(f"PO-{unique}-SH", buyer=2, lines=4)])
    assert result.sale is not None
    sale_id = int(result.sale.erp_id)
    erp_operator.ship_sale(sale_id)
    erp_operator.post_invoices(sale_id)

    shipments = [
        s for s in erp.shipments_changed_since(started) if f"PO-{unique}-SH" in s.order_numbers
    ]
    assert len(shipments) == 1 and shipments[0].state == "done"
    shipment = shipments[0]
    assert shipment.customer.gln == CUSTOMERS[2].gln
    assert [ln.quantity for ln in shipment.lines] == [Decimal(k + 2) for k in range(4)]
    erp.set_shipment_tracking(shipment.erp_id, f"JD014600{unique}")
    again = [s for s in erp.shipments_changed_since(started) if s.erp_id == shipment.erp_id]
    assert again[0].tracking_number == f"JD014600{unique}"

    invoices = [
        i for i in erp.invoices_posted_since(started) if f"PO-{unique}-SH" in i.order_numbers
    ]
    assert len(invoices) == 1
    invoice = invoices[0]
    assert invoice.total_amount == result.sale.total_amount
    assert invoice.untaxed_amount == result.sale.untaxed_amount
    assert sum(t.amount for t in invoice.taxes) == invoice.tax_amount
    # catalogue items 0..3 are 7% VAT goods: one tax line at exactly 7% of the base, rounded
    (tax,) = invoice.taxes
    assert tax.rate == Decimal(7)
    assert tax.amount == (tax.base * Decimal("0.07")).quantize(Decimal("0.01"))
    assert [ln.amount for ln in invoice.lines] == [
        (Decimal(k + 2) * (Decimal("4.50") + k)).quantize(Decimal("0.01")) for k in range(4)
    ]


def test_expired_session_logs_in_again(erp: TrytonErp, erp_server) -> None:  # noqa: ANN001
    erp.list_products(limit=1)
    assert erp_server.expire_sessions() >= 1
    before = erp.calls
    assert len(erp.list_products(limit=2)) == 2
    assert erp.calls - before == 4  # refused call, login, preferences, call again


def test_a_date_change_left_half_done_by_a_crash_is_finished_by_the_retry(
    erp: TrytonErp, unique: str
) -> None:
    """A crash after the waiting shipment went back to draft and got its new date, before it
    waited again: the retried change waits it again (Tryton's sale_wait_shipment), so the
    goods are not left in a draft shipment that is never assigned."""
    from schemas.model import SalesOrderChange

    number, later = f"PO-{unique}-W", dt.date.today() + dt.timedelta(days=11)
    (made,) = erp.create_sales([order(number)])
    assert made.sale is not None and made.sale.erp_id is not None
    sale_id = int(made.sale.erp_id)
    (sale,) = erp.records.read("sale.sale", [sale_id], ["shipments"])
    states = lambda: [r["state"] for r in erp.records.read(  # noqa: E731
        "stock.shipment.out", sale["shipments"], ["state"])]  # fmt: skip
    assert states() == ["waiting"]
    # what the crash left: back to draft, the new date written, not waited again
    erp.records.rpc.model("stock.shipment.out", "draft", sale["shipments"], idempotent=True)
    erp.records.rpc.model("stock.shipment.out", "write", sale["shipments"],
                          {"planned_date": later}, idempotent=True)  # fmt: skip
    change = SalesOrderChange(order_number=number, change_number="1",
                              buyer=PartyRef(gln=CUSTOMERS[0].gln),
                              requested_delivery_date=later)  # fmt: skip
    changed = erp.change_sale(made.sale.erp_id, change)
    assert changed.delivery_date == later
    assert states() == ["waiting"]
