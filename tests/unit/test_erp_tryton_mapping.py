"""The pure Tryton <-> canonical mappings (transforms.erp_tryton*), on hand-written record dicts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from schemas.errors import PermanentError
from schemas.model import Address, ContactMechanism, Party, PartyRef, SalesOrder, SalesOrderLine
from tests.fixtures.ids import NORD as GLN
from transforms import erp_tryton as tt
from transforms import erp_tryton_documents as td

VAT = "DE135735793"
GTIN = "4006380000018"


def party_row(**changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": 7,
        "name": "Kaufhaus Nord GmbH",
        "code": "CUST-001",
        "write_date": dt.datetime(2024, 5, 1, 8, 0),
        "create_date": dt.datetime(2024, 1, 1, 8, 0),
        "sale_price_list": 3,
        "customer_payment_term": None,
        "identifiers.": [
            {"id": 11, "code": "12345", "type": None},  # not a GLN: ignored
            {"id": 12, "code": GLN, "type": None},
            {"id": 13, "code": VAT, "type": "eu_vat"},
        ],
        "addresses.": [
            {
                "id": 21,
                "party_name": "",
                "street": "Hafenstrasse 12",
                "postal_code": "20457",
                "city": "Hamburg",
                "country.": {"code": "DE"},
                "create_date": dt.datetime(2024, 6, 1, 9, 30),
            }
        ],
        "contact_mechanisms.": [
            {"id": 31, "type": "email", "value": "a@nord.example", "name": "Anna"},
            {"id": 32, "type": "phone", "value": "+49 40 1", "name": "Anna"},
            {"id": 33, "type": "skype", "value": "nord", "name": None},
            {"id": 34, "type": "email", "value": "", "name": None},  # invalid: skipped
        ],
    }
    row.update(changes)
    return row


def test_party_row_maps_identifiers_addresses_mechanisms_and_contacts() -> None:
    row = tt.to_party(party_row())
    party = row.party
    assert (party.erp_id, party.code, party.gln, party.vat) == ("7", "CUST-001", GLN, VAT)
    assert (row.id, row.address_id, row.price_list, row.payment_term) == (7, 21, 3, None)
    assert (row.gln_identifier, row.vat_identifier) == (12, 13)
    assert party.addresses == (
        Address(
            street="Hafenstrasse 12", postal_code="20457", city="Hamburg", country="DE", erp_id="21"
        ),
    )
    assert [(m.type, m.value, m.erp_id) for m in party.contact_mechanisms] == [
        ("email", "a@nord.example", "31"),
        ("phone", "+49 40 1", "32"),
        ("other", "nord", "33"),
    ]
    assert [(c.name, c.email, c.phone) for c in party.contacts] == [
        ("Anna", "a@nord.example", "+49 40 1")
    ]
    assert party.updated_at == dt.datetime(2024, 6, 1, 9, 30, tzinfo=dt.UTC)  # the address
    assert len(row.skipped) == 1 and "contact mechanism 34" in row.skipped[0]


def test_party_with_a_vat_id_the_hub_refuses_keeps_the_rest() -> None:
    identifiers = [
        {"id": 12, "code": GLN, "type": None},
        {"id": 13, "code": "DE1", "type": "eu_vat"},
    ]
    row = tt.to_party(party_row(**{"identifiers.": identifiers}))
    assert (row.party.gln, row.party.vat, row.vat_identifier) == (GLN, None, 13)
    assert any("VAT id 'DE1'" in reason for reason in row.skipped)


def test_party_values_and_additive_update_values() -> None:
    party = Party(
        name="Neu GmbH",
        gln=GLN,
        vat="ATU13585627",
        addresses=(Address(street="Ring 1", postal_code="1010", city="Wien", country="AT"),),
        contact_mechanisms=(ContactMechanism(type="email", value="x@neu.example"),),
    )
    values = tt.party_values(party, {"AT": 5})
    assert values["identifiers"] == [
        ("create", [{"type": None, "code": GLN}, {"type": "eu_vat", "code": "ATU13585627"}])
    ]
    assert values["addresses"][0][1][0]["country"] == 5
    assert "code" not in values  # the ERP numbers it
    with pytest.raises(PermanentError, match="country 'AT' is not defined"):
        tt.party_values(party, {})

    now = tt.to_party(party_row())
    assert tt.party_update_values(now.party, now, {}) == {}  # nothing differs
    changed = now.party.model_copy(
        update={
            "gln": "4012345000009",
            "contact_mechanisms": (ContactMechanism(type="email", value="A@NORD.example"),),
            "contacts": (),
        }
    )
    assert tt.party_update_values(changed, now, {}) == {
        "identifiers": [("write", [12], {"type": None, "code": "4012345000009"})]
    }
    no_gln = tt.to_party(party_row(**{"identifiers.": []}))
    assert tt.party_update_values(changed, no_gln, {}) == {
        "identifiers": [
            ("create", [{"type": None, "code": "4012345000009"}, {"type": "eu_vat", "code": VAT}])
        ]
    }


def test_mechanism_values_merge_contacts_once_per_type_and_value() -> None:
    party = tt.to_party(party_row()).party
    assert tt.mechanism_values(party.contact_mechanisms[:1], party.contacts) == [
        {"type": "email", "value": "a@nord.example", "name": "Anna"},
        {"type": "phone", "value": "+49 40 1", "name": "Anna"},
    ]


def test_changed_domain_compares_naive_utc() -> None:
    since = dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert tt.changed_domain(None) == []
    assert tt.changed_domain(since, ("", "lines.")) == [
        [
            "OR",
            ("write_date", ">=", dt.datetime(2024, 5, 1, 8, 0)),
            ("create_date", ">=", dt.datetime(2024, 5, 1, 8, 0)),
            ("lines.write_date", ">=", dt.datetime(2024, 5, 1, 8, 0)),
            ("lines.create_date", ">=", dt.datetime(2024, 5, 1, 8, 0)),
        ]
    ]
    with pytest.raises(PermanentError, match="not a Tryton record id"):
        tt.record_id("S12")


def _product() -> tt.ProductRow:
    return tt.to_product(
        {
            "id": 4,
            "code": "HUB-1001",
            "name": "Espresso",
            "identifiers.": [{"id": 1, "code": GTIN, "type": "ean"}],
            "template.": {"list_price": Decimal("10.24"), "account_category.": {}},
            "sale_uom": 1,
            "sale_uom.": {"symbol": "u"},
        },
        "EUR",
    )


def test_sale_values_price_what_is_priced_and_defer_the_rest() -> None:
    party = tt.to_party(party_row())
    sent = SalesOrder(
        order_number="PO-1",
        order_date=dt.date(2024, 5, 1),
        buyer=PartyRef(gln=GLN),
        currency="EUR",
        lines=(
            SalesOrderLine(
                line_no=1,
                gtin=GTIN,
                quantity=Decimal(2),
                unit_price=Decimal("9.99"),
                discount_percent=Decimal(10),
            ),
            SalesOrderLine(line_no=2, gtin=GTIN, quantity=Decimal(24)),
        ),
        notes=("ring twice",),
    )
    values, pending = td.sale_values(sent, party, {GTIN: _product()}, {}, {"EUR": 1})
    lines = values["lines"][0][1]
    assert lines[0]["unit_price"] == Decimal("8.9910")
    assert "unit_price" not in lines[1]
    assert (values["price_list"], values["comment"], values["invoice_address"]) == (
        3,
        "ring twice",
        21,
    )
    (unpriced,) = pending
    assert unpriced.group == (3, Decimal(24), 1)
    unpriced.set_price(Decimal("10.24"))
    assert lines[1]["unit_price"] == Decimal("10.2400")

    with pytest.raises(PermanentError) as info:
        td.sale_values(sent, party, {}, {}, {"EUR": 1})
    assert info.value.code == "unknown_product"
    with pytest.raises(PermanentError) as info:
        td.sale_values(sent, party, {GTIN: _product()}, {}, {})
    assert info.value.code == "unknown_currency"
    homeless = tt.to_party(party_row(**{"addresses.": []}))
    with pytest.raises(PermanentError) as info:
        td.sale_values(sent, homeless, {GTIN: _product()}, {}, {"EUR": 1})
    assert info.value.code == "party_without_address"


def test_negative_total_is_a_credit_note_with_its_sale_and_taxes() -> None:
    row = {
        "id": 9,
        "number": "INV2024-00009",
        "invoice_date": dt.date(2024, 5, 2),
        "party": 7,
        "currency.": {"code": "EUR"},
        "state": "paid",
        "untaxed_amount": Decimal("-10.00"),
        "tax_amount": Decimal("-1.90"),
        "total_amount": Decimal("-11.90"),
        "lines.": [
            {"id": 2, "type": "comment", "sequence": 1},
            {
                "id": 1,
                "type": "line",
                "sequence": 2,
                "product": 4,
                "description": "",
                "quantity": -1.0,
                "unit_price": Decimal("10.0000"),
                "amount": Decimal("-10.00"),
                "unit.": {"symbol": "u"},
                "taxes": [5],
                "origin": "sale.line,3",
            },
        ],
        "taxes.": [{"tax": 5, "base": Decimal("-10.00"), "amount": Decimal("-1.90")}],
        "lines_to_pay.": [{"maturity_date": dt.date(2024, 6, 1)}],
    }
    assert td.invoice_tax_ids([row]) == {5}
    origin, refs = td.to_origin_ref({"id": 3, "sale.": {"reference": "PO-1", "number": "12"}})
    invoice = td.to_invoice(
        row,
        {7: PartyRef(gln=GLN, erp_id="7", name="Kaufhaus Nord GmbH")},
        {4: ("HUB-1001", GTIN)},
        {origin: refs},
        {5: td.tax_rate({"rate": Decimal("0.19"), "type": "percentage"})},
        "EUR",
    )
    assert (invoice.kind, invoice.payment_state, invoice.due_date) == (
        "credit_note",
        "paid",
        dt.date(2024, 6, 1),
    )
    (line,) = invoice.lines
    assert (line.line_no, line.product_code, line.tax_rate, line.order_number) == (
        1,
        "HUB-1001",
        Decimal(19),
        "PO-1",
    )
    assert invoice.order_numbers == ("PO-1",) and invoice.taxes[0].rate == Decimal(19)
