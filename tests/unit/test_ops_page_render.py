"""The ops page's HTML from a real status document: readable headers, last success, a DAG
link and a chart per flow, problems (an invalid partner profile), actions only for users
allowed to act (issue 12). The browser test is tests/e2e/test_ops_page.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lxml import html

from connectors.erp.fake import FakeErp
from hub.bootstrap import Hub
from hub.config import load_partners
from hub.flows import run_flow
from hub.ledger import utcnow
from hub.ops.status import collect
from hub.settings import PROJECT_ROOT
from hub.web.page import render_page
from hub.web.series import flow_series


@pytest.fixture
def page_hub(tmp_path: Path, hub: Hub, erp: FakeErp) -> Hub:
    folder = tmp_path / "partners"
    shutil.copytree(PROJECT_ROOT / "config" / "partners", folder)
    (folder / "broken.yaml").write_text("id: broken\nname: B\nmessages: []\n")
    return Hub(hub.ledger, erp=erp, home=hub.home, partners=load_partners(folder))


def _page(hub: Hub, *, can_act: bool) -> html.HtmlElement:
    run_flow("erp_reference_check", hub=hub)
    hub.ledger.dead_letter("crm_push", "crm.deal:1", "refused: fix the amount",
                           error_class="PermanentError", system="crm")  # fmt: skip
    status = collect(hub)
    flows = sorted({r["flow"] for r in status["flows"]})
    text = render_page(status, hub.ledger.dead_letters(), flow_series(hub.ledger, None, flows),
                       generated_at=utcnow(), can_act=can_act)  # fmt: skip
    return html.fromstring(text)


def test_page_shows_last_success_dag_links_charts_and_problems(page_hub: Hub) -> None:
    doc = _page(page_hub, can_act=True)
    heads = [th.text_content() for th in doc.xpath("//table[@id='flows']/thead//th")]
    assert "Last success (UTC)" in heads and "last_success" not in heads
    [row] = doc.xpath("//table[@id='flows']//tr[@data-flow='erp_reference_check']")
    cells = [td.text_content() for td in row.xpath("./td")]
    assert cells[heads.index("Last success (UTC)")].startswith("20")
    [link] = row.xpath(".//a[@class='dag-link']")
    assert link.get("href") == "/dags/erp_reference_check/runs"
    # crm_sync is crm_push + crm_pull: its DAG runs the parts, no "never" row for it
    assert not doc.xpath("//table[@id='flows']//tr[@data-flow='crm_sync']")
    shown = {r.get("data-flow") for r in doc.xpath("//table[@id='flows']/tbody/tr")}
    charts = {c.get("data-flow") for c in doc.xpath("//div[@class='chart-card']")}
    assert shown <= charts
    problems = doc.xpath("//ul[@id='problems']/li")
    assert any("broken.yaml" in li.text_content() for li in problems)
    assert "broken.yaml" in doc.xpath("//table[@id='invalid-profiles']")[0].text_content()
    assert len(doc.xpath("//table[@id='dead-letters']//form")) == 2  # replay and discard


def test_no_actions_for_a_user_who_may_not_act(page_hub: Hub) -> None:
    doc = _page(page_hub, can_act=False)
    assert doc.xpath("//table[@id='dead-letters']/tbody/tr")
    assert not doc.xpath("//table[@id='dead-letters']//form")


def test_acknowledgements_show_what_is_not_accepted_most_urgent_first() -> None:
    docs = [
        {"partner": "kaufhaus-nord", "doc_type": "DESADV", "document_number": "OUT8",
         "control_ref": "000000001", "state": "accepted", "sent_at": "2026-12-01T01:47:00",
         "errors": []},
        {"partner": "kaufhaus-nord", "doc_type": "INVOIC", "document_number": "INV9",
         "control_ref": "000000002", "state": "waiting", "sent_at": "2026-12-01T01:40:00",
         "errors": []},
        {"partner": "markt-sued", "doc_type": "INVOIC", "document_number": "INV7",
         "control_ref": "000000003", "state": "rejected", "sent_at": "2026-12-01T01:50:00",
         "errors": ["APERAK 12 buyer VAT id does not match our records"]},
    ]  # fmt: skip
    status = {"healthy": False, "acknowledgements": {"accepted": 1, "rejected": 1, "waiting": 1}}
    doc = html.fromstring(render_page(status, [], [], generated_at=utcnow(), acks=docs))
    rows = doc.xpath("//table[@id='acks']/tbody/tr")
    assert [r.get("data-state") for r in rows] == ["rejected", "waiting"]  # accepted: counted
    assert "APERAK 12 buyer VAT id" in rows[0].text_content()
    assert "rejected: 1" in doc.xpath("//p[@id='ack-counts']")[0].text_content()
