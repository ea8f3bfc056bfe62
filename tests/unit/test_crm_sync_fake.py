"""crm_push / crm_pull on FakeCrm and FakeErp: no server, the flow's logic and its journal."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from bench.crm_sync import seed_erp
from connectors.crm.fake import FakeCrm
from connectors.crm.models import CrmRecord
from connectors.erp.fake import FakeErp
from hub.bootstrap import Hub
from hub.flows.crm_sync import STREAM_PULL, crm_pull, crm_push
from hub.ledger import Ledger
from schemas.errors import OutcomeUnknownError, TransientError
from schemas.model import Party
from transforms.keys import CrmObjectKey


class FakeErpLosingAnswers(FakeErp):
    """The ERP fake whose next ``lose`` party creates happen but answer with a lost reply."""

    lose = 0

    def create_parties(self, parties: Sequence[Party]) -> list[Party]:
        created = super().create_parties(parties)
        if self.lose > 0:
            self.lose -= 1
            raise OutcomeUnknownError("the ERP's answer was lost (read timeout)", system="erp")
        return created


def test_push_then_pull_on_the_fakes_sends_once_and_skips_the_echoes(ledger: Ledger) -> None:
    crm = FakeCrm()
    erp = seed_erp(12, products=2)
    hub = Hub(ledger, erp=erp, crm=crm)

    first = crm_push(hub, page_size=5)
    again = crm_push(hub, page_size=5)
    pulled = crm_pull(hub)

    assert first["status"] == "ok" and first["companies_sent"] == 12
    assert len(crm.records("companies")) == 12 and len(crm.records("contacts")) == 12
    assert "companies_sent" not in again and "contacts_sent" not in again
    assert pulled["companies_echo_skipped"] == 12 and pulled["contacts_echo_skipped"] == 12
    assert (
        len(crm.associations("contacts", "companies", [r.crm_id for r in crm.records("contacts")]))
        == 12
    )


def newcomer(ledger: Ledger, crm: FakeCrm, erp: FakeErp) -> tuple[Hub, CrmRecord]:
    """A hub on the fakes and a company a person typed into the CRM (new to the ERP)."""
    new = crm.user_create(
        "companies", {"name": "Neukunde KG", "zip": "20095", "country": "DE",
                      "hub_vat": "DE136695976"},
    )  # fmt: skip
    return Hub(ledger, erp=erp, crm=crm), new


def test_a_lost_create_answer_is_looked_up_not_created_twice(ledger: Ledger) -> None:
    crm, erp = FakeCrm(), FakeErpLosingAnswers()
    hub, new = newcomer(ledger, crm, erp)
    erp.lose = 1

    with pytest.raises(TransientError, match="looks it up"):
        crm_pull(hub)  # the party was made, but the hub cannot know: the run fails, retried

    key = CrmObjectKey("pull", "company", new.crm_id)
    assert len(erp.parties) == 1
    assert (ledger.journal_entry(key) or {})["state"] == "unknown"
    assert ledger.load_cursor(STREAM_PULL["companies"]).value is None  # not moved past it

    report = crm_pull(hub)  # the retry asks the ERP first (VAT) and finds the party

    assert report["status"] == "ok", report
    assert len(erp.parties) == 1
    (party_id,) = erp.parties
    assert (ledger.journal_entry(key) or {})["state"] == "done"
    assert crm.read("companies", [party_id]).found[party_id].crm_id == new.crm_id
    assert ledger.dead_letters() == []


class FakeCrmFailingWriteBack(FakeCrm):
    """The CRM fake whose next ``fail_updates`` updates by CRM id answer 500 (nothing done)."""

    fail_updates = 0

    def update(self, object_type, id_value, properties, *, by_id_property=True):  # type: ignore[no-untyped-def]
        if not by_id_property and self.fail_updates > 0:
            self.fail_updates -= 1
            raise TransientError(f"crm update of {object_type} answered 500", system="crm")
        return super().update(object_type, id_value, properties, by_id_property=by_id_property)


def test_a_failed_id_write_back_then_a_push_never_makes_a_second_crm_company(
    ledger: Ledger,
) -> None:
    """Found by the chaos suite: the pull made the ERP party of a CRM-made company, writing
    its ERP id back to the CRM failed, a push ran before the pull's retry and upserted the
    new party by ERP id: a second CRM company, and the retried write-back a 409."""
    crm, erp = FakeCrmFailingWriteBack(), FakeErp()
    hub, new = newcomer(ledger, crm, erp)
    crm.fail_updates = 1

    with pytest.raises(TransientError, match="500"):
        crm_pull(hub)  # the ERP party exists; the CRM does not know its ERP id yet
    pushed = crm_push(hub)  # the scheduler runs the push before the pull's retry
    pulled = crm_pull(hub)

    assert pushed["status"] == "ok" and pulled["status"] == "ok", (pushed, pulled)
    assert len(crm.records("companies")) == 1  # never a second company
    (party_id,) = erp.parties
    assert crm.read("companies", [party_id]).found[party_id].crm_id == new.crm_id
    assert ledger.dead_letters() == []
    assert "companies_sent" not in crm_push(hub)  # linked and in sync: nothing to send


def test_a_pull_killed_after_its_erp_create_never_gets_a_second_crm_company(
    ledger: Ledger,
) -> None:
    """Found by the chaos suite (seed 13): the pull made the ERP party of a CRM-made company
    and was killed before it recorded the outcome and the binding; a push then upserted the
    unbound party by ERP id (a second CRM company) and the pull's write-back met a 409."""
    from datetime import timedelta

    from transforms import crm_mapping as m

    crm, erp = FakeCrm(), FakeErp()
    hub, new = newcomer(ledger, crm, erp)
    draft = m.company_to_party(new.properties, record=new.crm_id)
    key = CrmObjectKey("pull", "company", new.crm_id)
    # what the killed pull left: its intent journaled (lease run out), the ERP party made
    ledger.claim(key, draft.content_hash(), flow="crm_pull", system="erp",
                 action="create_party", lease=timedelta(0))  # fmt: skip
    erp.create_parties([draft])

    pushed = crm_push(hub)  # the scheduler runs the push before the pull's next run

    assert len(crm.records("companies")) == 1  # never a second company
    assert pushed["status"] == "ok" and pushed.get("companies_wait_for_pull") == 1, pushed
    pulled = crm_pull(hub)  # asks the ERP first (VAT), finds the party, binds, writes back
    assert pulled["status"] == "ok", pulled
    assert (ledger.journal_entry(key) or {})["state"] == "done"
    assert "companies_sent" not in crm_push(hub)
    assert len(crm.records("companies")) == 1 and len(erp.parties) == 1
    (party_id,) = erp.parties
    assert crm.read("companies", [party_id]).found[party_id].crm_id == new.crm_id
    assert ledger.dead_letters() == []
