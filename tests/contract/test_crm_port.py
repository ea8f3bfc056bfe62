"""The CRM port's contract, run on FakeCrm AND on the HubSpot client against the sandbox CRM.

Whatever a flow may rely on is asserted here once for both, so the fake cannot drift from
the real adapter (the sandbox itself is checked against HubSpot's official specs).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas.errors import PermanentError
from tests.fixtures.crm import CrmUnderTest

pytestmark = pytest.mark.integration


def _companies(n: int) -> dict[str, dict[str, str]]:
    return {f"P{i:04d}": {"name": f"Party {i}", "city": "Bremen"} for i in range(n)}


def test_upsert_creates_then_updates_by_the_id_property(crm_port: CrmUnderTest) -> None:
    crm = crm_port.port
    first = crm.upsert("companies", _companies(120))
    second = crm.upsert("companies", {**_companies(120), "P0003": {"name": "Renamed"}})

    assert not first.failed and not second.failed
    assert len(first.succeeded) == 120 and all(s.created for s in first.succeeded)
    assert not any(s.created for s in second.succeeded)
    assert first.crm_ids() == second.crm_ids()
    assert len(set(first.crm_ids().values())) == 120
    renamed = next(s for s in second.succeeded if s.erp_id == "P0003")
    assert renamed.record.properties["name"] == "Renamed"
    assert renamed.record.erp_id == "P0003"
    assert renamed.record.properties["hub_erp_id"] == "P0003"
    assert crm.stats()["requests"] >= 4  # two chunks of <= 100, twice


def test_refused_records_are_failures_and_the_rest_is_written(crm_port: CrmUnderTest) -> None:
    crm = crm_port.port
    crm.upsert("contacts", {"C0": {"email": "taken@example.com", "firstname": "Zoe"}})
    outcome = crm.upsert(
        "contacts",
        {
            "C1": {"email": "anna@example.com", "firstname": "Anna"},
            "C2": {"email": "not-an-email", "firstname": "Bob"},
            "C3": {"email": "TAKEN@example.com", "firstname": "Eve"},
            "C4": {"hs_object_id": "5", "firstname": "Mallory"},
        },
    )

    assert [s.erp_id for s in outcome.succeeded] == ["C1"]
    failed = {f.erp_id: f for f in outcome.failed}
    assert sorted(failed) == ["C2", "C3", "C4"]
    assert (failed["C2"].category, failed["C2"].code, failed["C2"].field) == (
        "VALIDATION_ERROR", "INVALID_EMAIL", "email",
    )  # fmt: skip
    assert (failed["C3"].category, failed["C3"].field) == ("CONFLICT", "email")
    assert (failed["C4"].code, failed["C4"].field) == ("READ_ONLY_VALUE", "hs_object_id")
    assert all(f.message for f in failed.values())


def test_read_by_erp_id_or_crm_id_reports_the_missing(crm_port: CrmUnderTest) -> None:
    crm = crm_port.port
    ids = crm.upsert("companies", _companies(3)).crm_ids()

    by_erp = crm.read("companies", ["P0000", "P0002", "NOPE"], properties=["name"])
    by_crm = crm.read(
        "companies", [ids["P0001"], "999999"], properties=["city"], by_id_property=False
    )

    assert sorted(by_erp.found) == ["P0000", "P0002"] and by_erp.missing == ["NOPE"]
    assert by_erp.found["P0002"].properties["name"] == "Party 2"
    assert by_erp.found["P0002"].crm_id == ids["P0002"]
    assert sorted(by_crm.found) == [ids["P0001"]] and by_crm.missing == ["999999"]
    record = by_crm.found[ids["P0001"]]
    assert record.properties["city"] == "Bremen" and record.erp_id == "P0001"
    assert "name" not in record.properties  # only what was asked (and the always-returned)


def test_search_yields_what_changed_since_oldest_first(crm_port: CrmUnderTest) -> None:
    crm = crm_port.port
    crm.upsert("companies", _companies(5))
    everything = list(crm.search_modified_since("companies", None, properties=["name"]))
    stamps = [r.modified_at for r in everything]
    assert len(everything) == 5 and all(s is not None for s in stamps)
    assert stamps == sorted(stamps)  # type: ignore[type-var]

    newest = stamps[-1]
    assert newest is not None
    crm.upsert("companies", {"P0001": {"name": "Edited"}})
    since = list(crm.search_modified_since("companies", newest, properties=["name"]))

    assert "P0001" in [r.erp_id for r in since]  # at-or-after: the edit and maybe ties
    assert all(r.modified_at is not None and r.modified_at >= newest for r in since)
    later = newest + timedelta(days=1)
    assert list(crm.search_modified_since("companies", later)) == []


def test_search_sees_a_person_s_edit_with_its_properties(crm_port: CrmUnderTest) -> None:
    crm = crm_port.port
    before = datetime.now(UTC) - timedelta(seconds=5)
    rid = crm_port.user_create("contacts", {"email": "new@example.com", "firstname": "New"})
    crm_port.user_update("contacts", rid, {"lastname": "Person"})

    found = list(crm.search_modified_since("contacts", before, properties=["lastname"]))

    assert [r.crm_id for r in found] == [rid]
    assert found[0].properties["lastname"] == "Person" and found[0].erp_id is None


def test_associations_are_created_once_and_read_back_sorted(crm_port: CrmUnderTest) -> None:
    crm = crm_port.port
    companies = crm.upsert("companies", _companies(2)).crm_ids()
    contacts = crm.upsert(
        "contacts", {"K1": {"email": "k1@example.com"}, "K2": {"email": "k2@example.com"}}
    ).crm_ids()
    pairs = [(contacts["K1"], companies["P0000"]), (contacts["K2"], companies["P0000"])]

    outcome = crm.associate("contacts", "companies", [*pairs, (contacts["K1"], "999999")])
    again = crm.associate("contacts", "companies", pairs)

    assert sorted(outcome.created) == sorted(pairs) and sorted(again.created) == sorted(pairs)
    assert [(f.erp_id, f.category) for f in outcome.failed] == [("999999", "OBJECT_NOT_FOUND")]
    back = crm.associations("companies", "contacts", [companies["P0000"], companies["P0001"]])
    assert back == {companies["P0000"]: sorted([contacts["K1"], contacts["K2"]])}
    assert crm.associations("contacts", "companies", [contacts["K2"]]) == {
        contacts["K2"]: [companies["P0000"]]
    }


def test_update_by_erp_id_or_crm_id_and_unknown_is_a_404(crm_port: CrmUnderTest) -> None:
    crm = crm_port.port
    ids = crm.upsert("companies", _companies(1)).crm_ids()

    by_erp = crm.update("companies", "P0000", {"city": "Hamburg"})
    rid = crm_port.user_create("companies", {"name": "Typed by a user"})
    linked = crm.update("companies", rid, {"hub_erp_id": "P0900"}, by_id_property=False)

    assert by_erp.crm_id == ids["P0000"] and by_erp.properties["city"] == "Hamburg"
    assert linked.crm_id == rid
    assert crm.read("companies", ["P0900"]).found["P0900"].crm_id == rid
    with pytest.raises(PermanentError) as unknown:
        crm.update("companies", "P9999", {"city": "Nowhere"})
    assert unknown.value.code == "404"


def test_an_unknown_object_type_is_a_value_error(crm_port: CrmUnderTest) -> None:
    with pytest.raises(ValueError, match="unknown CRM object type"):
        crm_port.port.upsert("tickets", {"T1": {"subject": "x"}})
    with pytest.raises(ValueError, match="unknown CRM object type"):
        crm_port.port.read("tickets", ["T1"])


def test_list_pages_through_every_record_and_the_archived(crm_port: CrmUnderTest) -> None:
    crm = crm_port.port
    ids = crm.upsert("companies", _companies(230)).crm_ids()
    crm_port.user_archive("companies", ids["P0007"])

    listed = list(crm.list_records("companies", properties=["name"]))
    archived = list(crm.list_records("companies", archived=True))

    assert len(listed) == 229 and ids["P0007"] not in {r.crm_id for r in listed}
    assert [r.crm_id for r in listed] == sorted((r.crm_id for r in listed), key=int)
    assert {r.erp_id for r in listed} == set(ids) - {"P0007"}
    assert listed[0].properties["name"].startswith("Party ")
    assert [(r.crm_id, r.erp_id) for r in archived] == [(ids["P0007"], "P0007")]
    assert crm.stats()["requests"] >= 5  # three pages of live records, one of archived


def test_pipelines_name_the_deal_stages(crm_port: CrmUnderTest) -> None:
    pipelines = crm_port.port.pipelines("deals")

    default = next(p for p in pipelines if p.id == "default")
    assert {"closedwon", "closedlost", "contractsent"} <= set(default.stages)
    assert default.stages["closedwon"] == "Closed Won"


def test_quotes_are_upserted_and_associated_with_their_deal(crm_port: CrmUnderTest) -> None:
    crm = crm_port.port
    deal = crm.upsert("deals", {"S1": {"dealname": "S1", "dealstage": "contractsent"}})
    quote = crm.upsert("quotes", {"S1": {"hs_title": "Quotation S1", "hs_status": "DRAFT"}})
    deal_id, quote_id = deal.crm_ids()["S1"], quote.crm_ids()["S1"]

    linked = crm.associate("quotes", "deals", [(quote_id, deal_id)])

    assert linked.created == [(quote_id, deal_id)] and not quote.failed
    assert crm.associations("deals", "quotes", [deal_id]) == {deal_id: [quote_id]}
    assert (
        crm.read("quotes", ["S1"], properties=["hs_title"]).found["S1"].properties["hs_title"]
        == "Quotation S1"
    )


def test_a_merge_archives_the_other_and_names_it_on_the_survivor(
    crm_port: CrmUnderTest,
) -> None:
    crm = crm_port.port
    ids = crm.upsert("companies", _companies(2)).crm_ids()
    contact = crm.upsert("contacts", {"K1": {"email": "k1@example.com"}}).crm_ids()["K1"]
    crm.associate("contacts", "companies", [(contact, ids["P0001"])])

    crm_port.user_merge("companies", ids["P0000"], ids["P0001"])

    survivor = crm.read("companies", [ids["P0000"]], properties=["hs_merged_object_ids"],
                        by_id_property=False).found[ids["P0000"]]  # fmt: skip
    assert survivor.properties["hs_merged_object_ids"] == ids["P0001"]
    assert [r.crm_id for r in crm.list_records("companies", archived=True)] == [ids["P0001"]]
    assert crm.associations("contacts", "companies", [contact]) == {contact: [ids["P0000"]]}


@pytest.mark.parametrize("kind", ["contacts", "deals"])
def test_contacts_and_deals_merge_like_companies(crm_port: CrmUnderTest, kind: str) -> None:
    crm = crm_port.port
    base = {"contacts": {"email": "{}@example.com"}, "deals": {"dealname": "Deal {}"}}[kind]
    ids = crm.upsert(kind, {k: {p: v.format(k) for p, v in base.items()}
                            for k in ("A", "B")}).crm_ids()  # fmt: skip
    company = crm.upsert("companies", _companies(1)).crm_ids()["P0000"]
    crm.associate(kind, "companies", [(ids["B"], company)])

    crm_port.user_merge(kind, ids["A"], ids["B"])

    survivor = crm.read(kind, [ids["A"]], properties=["hs_merged_object_ids"],
                        by_id_property=False).found[ids["A"]]  # fmt: skip
    assert survivor.properties["hs_merged_object_ids"] == ids["B"]
    assert survivor.erp_id == "A"
    assert [r.crm_id for r in crm.list_records(kind, archived=True)] == [ids["B"]]
    assert crm.read(kind, ["B"]).missing == ["B"]  # the merged-away ERP id is free again
    assert crm.associations(kind, "companies", [ids["A"]]) == {ids["A"]: [company]}
