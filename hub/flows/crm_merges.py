"""CRM merges and deletions: bindings follow a merge; a deleted record is never re-created blindly.

A CRM merge archives one record and names it in the survivor's ``hs_merged_object_ids``
(the survivor's last-modified stamp moves, so the pull sees it): the merged record's
bindings move to the survivor (``Ledger.move_binding``) and the ERP id is written onto it.
Two CRM companies bound to two ERP parties merged into one is a dead letter (the ERP has a
duplicate to merge). Before the push upserts a changed company that is bound, it reads the
bound CRM ids: one the CRM no longer holds (deleted or merged away) is a dead letter, not a
new company; ``hub reconcile`` lists archived records still bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from hub.flows.crm_run import COMPANY, COMPANY_CRM, FLOW_PULL, FLOW_PUSH, SYSTEM, Letter, Run
from schemas.errors import ConflictError

if TYPE_CHECKING:
    from connectors.crm.models import CrmRecord
    from hub.ledger.bindings import Binding

MERGED = "hs_merged_object_ids"


def follow_merges(run: Run, page: Sequence[CrmRecord]) -> list[Letter]:
    """Move the bindings of merged-away companies to their survivors in ``page``."""
    letters: list[Letter] = []
    for rec in page:
        for old in (i for i in (rec.properties.get(MERGED) or "").split(";") if i):
            if run.ledger.lookup(SYSTEM, COMPANY, old) is None:
                continue
            if run.would is not None:
                run.counts["companies_merged"] += 1
                continue
            try:
                with run.ledger.transaction() as conn:
                    moved = run.ledger.move_binding(SYSTEM, COMPANY, old, rec.crm_id, conn=conn)
                    run.ledger.move_binding(SYSTEM, COMPANY_CRM, old, rec.crm_id, conn=conn)
            except ConflictError as exc:
                letters.append(Letter(
                    FLOW_PULL, f"company:{rec.crm_id}",
                    f"CRM company {old} was merged into {rec.crm_id}, but both are bound to ERP "
                    f"parties ({exc.message}): merge the two parties in the ERP, then bind "
                    f"the survivor with {run.config.id_property}",
                    "ConflictError", {"merged": old, "survivor": rec.crm_id},
                ))  # fmt: skip
                continue
            if moved is not None and rec.erp_id != moved.erp_id:
                run.crm.update("companies", rec.crm_id, {run.config.id_property: moved.erp_id},
                               by_id_property=False)  # fmt: skip
                rec.properties[run.config.id_property] = moved.erp_id
            run.counts["companies_merged"] += 1
    return letters


def deleted_in_crm(run: Run, bound: dict[str, Binding], erp_ids: Sequence[str]) -> set[str]:
    """The ERP ids among ``erp_ids`` whose bound CRM company the CRM no longer holds."""
    crm_ids = [bound[e].external_id for e in erp_ids if e in bound and bound[e].content_hash]
    if not crm_ids:
        return set()
    missing = set(run.crm.read("companies", crm_ids, by_id_property=False).missing)
    return {e for e in erp_ids if e in bound and bound[e].external_id in missing}


def deleted_letter(erp_id: str, crm_id: str) -> Letter:
    """The dead letter of a party whose CRM company was deleted (or merged away)."""
    return Letter(
        FLOW_PUSH, f"company:{erp_id}",
        f"ERP party {erp_id}: its CRM company {crm_id} was deleted or merged away in the CRM; "
        "it is not created again blindly. Restore it in the CRM, or link the party to the "
        "company that replaced it (set its hub_erp_id), then replay",
        "PermanentError",
    )  # fmt: skip
