"""The sandbox CRM's store: unique id properties, upsert semantics, search filters and sorts."""

from __future__ import annotations

import itertools

import pytest

from sandbox.crm_store import CrmStore
from sandbox.crm_wire import CrmApiError


def _store() -> CrmStore:
    ticks = itertools.count()
    return CrmStore(clock=lambda: 1_700_000_000 + next(ticks) / 1000)


def test_upsert_by_id_property_creates_then_updates() -> None:
    store = _store()
    inputs = [{"id": "E1", "idProperty": "hub_erp_id", "properties": {"name": "A"}}]
    created, _ = store.batch_upsert("companies", inputs)
    inputs[0]["properties"] = {"name": "B"}
    updated, errors = store.batch_upsert("company", inputs)
    assert created[0]["new"] is True and updated[0]["new"] is False and not errors
    assert created[0]["id"] == updated[0]["id"]
    assert store.counts()["companies"] == 1
    assert store.find("companies", "E1", "hub_erp_id").props["name"] == "B"  # type: ignore[union-attr]


def test_unique_values_are_enforced() -> None:
    store = _store()
    store.create("contacts", {"email": "A@example.com", "hub_erp_id": "E1"})
    with pytest.raises(CrmApiError) as conflict:
        store.create("contacts", {"email": "a@example.com"})
    assert conflict.value.status == 409
    _, errors = store.batch_upsert(
        "contacts",
        [{"id": "E2", "idProperty": "hub_erp_id", "properties": {"email": "a@example.com"}}],
    )
    assert errors[0].category == "CONFLICT" and errors[0].input_id == "E2"
    with pytest.raises(CrmApiError, match="not a unique value property"):
        store.find("contacts", "x", "firstname")


def test_search_filters_sorts_and_pages() -> None:
    store = _store()
    for i in range(7):
        store.create("deals", {"dealname": f"D{i}", "amount": str(10 * i), "hub_erp_id": f"S{i}"})
    body = {
        "filterGroups": [
            {"filters": [{"propertyName": "amount", "operator": "GTE", "value": "20"}]}
        ],
        "sorts": ["-amount"],
        "limit": 2,
        "after": "0",
        "properties": ["dealname"],
    }
    first = store.search("deals", body)
    assert first["total"] == 5 and first["paging"]["next"]["after"] == "2"
    assert [r["properties"]["dealname"] for r in first["results"]] == ["D6", "D5"]
    last = store.search("deals", {**body, "after": "4"})
    assert [r["properties"]["dealname"] for r in last["results"]] == ["D2"] and "paging" not in last
    in_filter = {"filterGroups": [{"filters": [
        {"propertyName": "hub_erp_id", "operator": "IN", "values": ["S1", "S3"]},
    ]}]}  # fmt: skip
    assert store.search("deals", in_filter)["total"] == 2
    stamp = store.find("deals", "S4", "hub_erp_id").props["hs_lastmodifieddate"]  # type: ignore[union-attr]
    since = {"filterGroups": [{"filters": [
        {"propertyName": "hs_lastmodifieddate", "operator": "GT", "value": stamp},
    ]}]}  # fmt: skip
    assert store.search("deals", since)["total"] == 2


def test_associations_are_stored_both_ways() -> None:
    store = _store()
    company = store.create("companies", {"name": "A"})
    contact = store.create("contacts", {"email": "x@example.com"})
    spec = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}
    done, errors = store.associate(
        "contacts",
        "companies",
        [{"from": {"id": contact.id}, "to": {"id": company.id}, "types": [spec]}],
    )
    assert len(done) == 1 and not errors
    back, _ = store.read_associations("companies", "contacts", [company.id])
    assert back[0]["to"][0] == {
        "toObjectId": contact.id,
        "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 280}],
    }
    _, bad = store.associate(
        "contacts", "companies",
        [{"from": {"id": contact.id}, "to": {"id": company.id},
          "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}]}],
    )  # fmt: skip
    assert bad[0].category == "VALIDATION_ERROR"
