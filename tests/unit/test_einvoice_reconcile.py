"""`hub reconcile`, e-invoice section: ERP invoices of e-invoice customers against the
documents delivered (FakeErp, official rules).

Needs ../shared/contracts/einvoicing for the official rules; skips cleanly without it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.einvoice.mail import FakeMailer
from connectors.erp.fake import FakeErp
from hub.flows.einvoice import einvoice_outbound
from hub.flows.einvoice_send import pinned_before
from hub.ops.reconcile import reconcile
from hub.ops.reconcile_einvoice import einvoice_section
from sandbox.einvoice_data import make_invoice
from schemas.einvoice_config import CustomerEInvoice
from schemas.model import Address, Party
from tests.fixtures.einvoice import XR, einvoice_erp, make_hub, post, write_config


@pytest.fixture
def erp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeErp:
    return einvoice_erp(tmp_path, monkeypatch)


def _kinds(section: dict[str, object]) -> list[tuple[str, str]]:
    return [(d["record"].split()[1], d["kind"]) for d in section["differences"]]  # type: ignore[attr-defined, index]


def test_inactive_before_the_flow_ran_and_clean_after(tmp_path: Path, erp: FakeErp) -> None:
    post(erp, 3, "C-KN"), post(erp, 5, "C-MS"), post(erp, 8, "C-KN", credit_note=True)
    hub = make_hub(tmp_path, erp)
    assert einvoice_section(hub)["active"] is False
    assert einvoice_outbound(hub, mailer=FakeMailer())["sent"] == 3
    section = einvoice_section(hub)
    assert section["active"] and section["differences"] == []
    assert section["counts"] == {"erp": 3, "einvoice": 3}
    assert section["hashes"]["erp"] == section["hashes"]["einvoice"]
    (wired,) = [s for s in reconcile(hub)["sections"] if s["section"] == "einvoice"]
    assert wired["differences"] == []


def test_undelivered_changed_and_unarchived_invoices_are_differences(
    tmp_path: Path, erp: FakeErp
) -> None:
    nowhere = Party(name="Amt ohne Adresse", code="C-AMT", addresses=(Address(country="DE"),))
    erp.create_parties([nowhere])
    write_config(tmp_path, pytest.MonkeyPatch(), {"C-KN": XR, "C-AMT": XR})
    refused = post(erp, 3, "C-AMT")  # fails BR-DE-8/9: a dead letter, nothing sent
    changed, lost = post(erp, 4, "C-KN"), post(erp, 6, "C-KN")
    hub = make_hub(tmp_path, erp)
    assert einvoice_outbound(hub, mailer=FakeMailer())["sent"] == 2
    # the ERP invoice changes after it was sent (same number, other lines and totals)
    other = make_invoice(11, buyer=erp.parties[changed.customer.erp_id or ""])
    erp.invoices[changed.erp_id] = other.model_copy(
        update={
            "erp_id": changed.erp_id,
            "number": changed.number,
            "customer": changed.customer,
            "updated_at": changed.updated_at,
        }
    )
    # the archived copy of another one is gone
    pinned = pinned_before(hub, CustomerEInvoice(party="C-KN", **XR), lost)  # type: ignore[arg-type]
    assert pinned is not None
    pinned.path.unlink()
    section = einvoice_section(hub)
    assert sorted(_kinds(section)) == sorted(
        [
            (refused.number, "dead_letter"),
            (changed.number, "changed_in_erp"),
            (lost.number, "archive_differs"),
        ]
    )
    (detail,) = [d["detail"] for d in section["differences"] if d["kind"] == "changed_in_erp"]
    assert "credit note" in detail and str(other.total_amount) in detail
