"""crm_pull with ``changes`` (the CRM objects a webhook named): read by id, applied even
while HubSpot's search has not indexed them yet, never applied twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from connectors.crm.fake import FakeCrm
from connectors.crm.models import CrmRecord
from connectors.erp.fake import FakeErp
from hub.bootstrap import Hub
from hub.flows import run_flow
from hub.flows.crm_sync import STREAM_PULL, crm_pull
from hub.ledger import Ledger
from schemas.errors import PermanentError


class FakeCrmLaggingSearch(FakeCrm):
    """The CRM fake whose search does not see the records in ``unindexed`` yet (HubSpot's
    search index follows a write by seconds, its webhook may come first); reads by id do."""

    def __init__(self) -> None:
        super().__init__()
        self.unindexed: set[str] = set()

    def search_modified_since(
        self, object_type: str, since: datetime | int | None = None, **options: Any
    ) -> Iterator[CrmRecord]:
        found = super().search_modified_since(object_type, since, **options)
        return (r for r in found if r.crm_id not in self.unindexed)


def typed_in_crm(crm: FakeCrmLaggingSearch) -> CrmRecord:
    """A customer a person typed into the CRM, not in its search index yet."""
    new = crm.user_create(
        "companies", {"name": "Neukunde KG", "zip": "20095", "country": "DE",
                      "hub_vat": "DE136695976", "lifecyclestage": "customer"},
    )  # fmt: skip
    crm.unindexed.add(new.crm_id)
    return new


def test_a_named_company_reaches_the_erp_before_the_search_sees_it_and_only_once(
    ledger: Ledger,
) -> None:
    crm, erp = FakeCrmLaggingSearch(), FakeErp()
    hub = Hub(ledger, erp=erp, crm=crm)
    new = typed_in_crm(crm)

    by_cursor = crm_pull(hub)
    assert erp.parties == {} and "companies_named" not in by_cursor  # the search misses it

    named = crm_pull(hub, changes=[f"companies:{new.crm_id}", "deals:99"])
    assert named["status"] == "ok", named
    assert named["companies_named"] == 1 and named["erp_parties_created"] == 1
    ((party_id, party),) = erp.parties.items()
    assert party.name == "Neukunde KG"
    cursor = ledger.load_cursor(STREAM_PULL["companies"]).value
    assert cursor is None  # the named read moves no cursor

    crm.unindexed.clear()  # the index caught up: the cursor meets the company
    later = crm_pull(hub)
    assert list(erp.parties) == [party_id]  # never a second party
    assert "erp_parties_created" not in later and "companies_linked" not in later
    assert ledger.load_cursor(STREAM_PULL["companies"]).value is not None
    assert ledger.dead_letters() == []


def test_a_named_company_the_cursor_also_meets_is_applied_once_in_a_run(ledger: Ledger) -> None:
    crm, erp = FakeCrmLaggingSearch(), FakeErp()
    hub = Hub(ledger, erp=erp, crm=crm)
    new = typed_in_crm(crm)
    crm.unindexed.clear()

    report = crm_pull(hub, dry_run=True, changes=[f"companies:{new.crm_id}"])

    assert report["status"] == "dry_run" and report["companies_named"] == 1
    assert report["companies_linked"] == 1  # by id; the cursor passes the same version
    assert erp.parties == {}


def test_the_flows_take_changes_as_text_or_a_list_and_refuse_a_bad_one(ledger: Ledger) -> None:
    crm, erp = FakeCrmLaggingSearch(), FakeErp()
    hub = Hub(ledger, erp=erp, crm=crm)
    new = typed_in_crm(crm)

    with pytest.raises(PermanentError, match="'company 7' is not 'type:id'"):
        run_flow("crm_pull", hub=hub, changes=["company 7"])
    assert erp.parties == {}
    report = run_flow("crm_sync", hub=hub, changes=f"companies:{new.crm_id},contacts:12345")

    assert report["pull"]["companies_named"] == 1
    assert report["pull"]["contacts_named_missing"] == 1  # deleted or never there: counted
    assert len(erp.parties) == 1
