"""Pure CRM mappings, hashes, normalisation and the CRM sync config."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from bench.crm_sync import party
from hub.config import ConfigError
from hub.flows.crm_sync import load_config
from schemas.crm_config import CrmConfig, Ownership
from schemas.model import Contact, ErpSale, ErpSaleLine, Invoice, InvoiceLine, PartyRef, Product
from transforms import crm_mapping as m
from transforms.crm_matching import (
    InvalidField,
    name_key,
    normalise_email,
    normalise_gln,
    normalise_vat,
)

CFG = CrmConfig()


def test_company_payload_pushes_erp_owned_fields_and_seeds_crm_owned_ones_once() -> None:
    p = party(3)
    seed = m.company_payload(p, CFG, seed=True)
    later = m.company_payload(p, CFG, seed=False)
    assert seed["name"] == "Kunde 3 GmbH" and seed["hub_vat"] == p.vat and seed["country"] == "DE"
    assert seed["phone"] == p.contact_mechanisms[0].value
    assert "phone" not in later and later["zip"] == p.addresses[0].postal_code


def test_the_hash_of_what_was_sent_equals_the_hash_of_what_the_crm_holds() -> None:
    sent = m.company_payload(party(1).model_copy(update={"gln": None}), CFG, seed=True)
    held = {k: v for k, v in sent.items() if v != ""}  # the CRM drops cleared properties
    held["hs_lastmodifieddate"] = "2024-01-01T00:00:00Z"
    keys = m.properties_of(CFG.companies, "erp", m.COMPANY_PROPERTY)
    assert m.payload_hash(sent, keys) == m.payload_hash(held, keys)
    held["name"] = "Edited"
    assert m.payload_hash(sent, keys) != m.payload_hash(held, keys)


def test_wire_values_are_canonical_strings() -> None:
    assert m.wire(Decimal("10.900")) == "10.9"
    assert m.wire(Decimal("0E-6")) == "0"
    assert m.wire(None) == "" and m.wire(True) == "true"


def test_contact_key_and_payload() -> None:
    person = Contact(name="Anna Maria Schulz", email="Anna@Kunde.example", job_title="Einkauf")
    assert m.contact_key("7", person) == "7:anna@kunde.example"
    assert m.contact_key("7", Contact(name="Max  Müller")) == "7:max-muller"
    payload = m.contact_payload(person, CFG, seed=True)
    assert payload == {
        "firstname": "Anna Maria",
        "lastname": "Schulz",
        "email": "anna@kunde.example",
        "phone": "",
        "jobtitle": "Einkauf",
    }
    assert m.contact_payload(person, CFG, seed=False) == {}


def test_product_deal_line_and_invoice_payloads() -> None:
    product = Product(code="P1", name="Tee", gtin="4006381333931", list_price=Decimal("2.50"),
                      currency="EUR")  # fmt: skip
    assert m.product_payload(product, Decimal("12.000")) == {
        "name": "Tee", "hs_sku": "P1", "hub_gtin": "4006381333931", "price": "2.5",
        "hub_currency": "EUR", "hub_stock_on_hand": "12",
    }  # fmt: skip
    line = ErpSaleLine(line_no=1, product_code="P1", quantity=Decimal(3), unit_price=Decimal(2))
    sale = ErpSale(erp_id="9", number="S9", reference="PO-9", party_erp_id="4", state="confirmed",
                   currency="EUR", lines=(line,), total_amount=Decimal("7.14"))  # fmt: skip
    deal = m.deal_payload(sale, CFG)
    assert deal is not None and deal["dealstage"] == "contractsent" and deal["amount"] == "7.14"
    assert m.deal_payload(sale.model_copy(update={"state": "draft"}), CFG) is None
    assert m.line_item_key(sale, line) == "9:1"
    assert m.line_item_payload(line, "555", "x")["hs_product_id"] == "555"
    invoice = Invoice(
        erp_id="11", number="INV11", invoice_date=date(2024, 2, 1),
        customer=PartyRef(erp_id="4"), currency="EUR",
        lines=(InvoiceLine(line_no=1, quantity=Decimal(3), unit_price=Decimal(2),
                           amount=Decimal(6)),),
        untaxed_amount=Decimal(6), tax_amount=Decimal("1.14"), total_amount=Decimal("7.14"),
        payment_state="paid",
    )  # fmt: skip
    assert m.invoice_payload(invoice)["hub_payment_status"] == "paid"


@pytest.mark.parametrize(
    ("props", "field"),
    [
        ({"name": "A", "country": "XX"}, "country"),
        ({"name": "A", "hub_vat": "DE136695977"}, "hub_vat"),
        ({"name": "A", "hub_gln": "4000000000001"}, "hub_gln"),
        ({"country": "DE"}, "name"),
    ],
)
def test_invalid_crm_companies_name_the_field(props: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidField) as exc:
        m.company_to_party(props, record="77")
    assert exc.value.field == field
    assert "77" in str(exc.value) and exc.value.system == "crm"


def test_crm_company_becomes_a_party_draft() -> None:
    draft = m.company_to_party({"name": "Neu KG", "hub_vat": "136695976", "country": "de",
                                "zip": "20095", "phone": "+49 40 1"})  # fmt: skip
    assert draft.vat == "DE136695976"  # the country prefix added, then checked by stdnum
    assert draft.addresses[0].country == "DE"
    assert [x.type for x in draft.contact_mechanisms] == ["phone"]


@pytest.mark.parametrize("bad", ["x@example..com", "no-at.example", "a@b", "a b@c.de", "@c.de"])
def test_bad_emails_are_refused(bad: str) -> None:
    with pytest.raises(InvalidField):
        normalise_email(bad)


def test_normalisation_for_matching() -> None:
    assert normalise_email(" Jana.Neu@Example.COM ") == "jana.neu@example.com"
    assert normalise_vat("DE 136.695.976") == "DE136695976"
    assert normalise_gln("4000001000005") == "4000001000005"
    assert name_key("Müller  & Söhne GmbH") == name_key("mueller & sohne gmbh".replace("ue", "u"))


def test_config_file_loads_and_rejects_double_ownership(tmp_path: Path) -> None:
    cfg = load_config(Path(__file__).resolve().parents[2] / "config" / "crm.yaml")
    assert cfg.companies.owner("name") == "erp" and cfg.contacts.owner("email") == "crm"
    with pytest.raises(ValueError, match="owned by both"):
        Ownership(erp=("name",), crm=("name",))
    bad = tmp_path / "crm.yaml"
    bad.write_text("companies:\n  erp: [name, shoe_size]\n")
    with pytest.raises(ConfigError, match="shoe_size"):
        load_config(bad)
