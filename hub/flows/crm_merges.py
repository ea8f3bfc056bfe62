"""CRM merges and deletions: bindings follow a merge; a deleted record is never re-created blindly.

A CRM merge archives one record and names it in the survivor's ``hs_merged_object_ids``
(the survivor's last-modified stamp moves, so the pull sees it): the merged record's
bindings (companies, contacts and deals alike) move to the survivor
(``Ledger.move_binding``) and the ERP id is written onto it. Two CRM records bound to two
ERP records merged into one is a dead letter (the ERP has a duplicate to merge). Before the
push upserts a changed company or deal that is bound, it reads the bound CRM ids: one the
CRM no longer holds (deleted or merged away) is a dead letter, not a new record (an upsert
by ERP id would create one); ``hub reconcile`` lists archived records still bound.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from hub.flows.crm_run import (
    COMPANY,
    COMPANY_CRM,
    CONTACT,
    DEAL,
    DEAL_DELIVERY,
    DEAL_INVOICE,
    DEAL_WON,
    FLOW_PULL,
    FLOW_PUSH,
    SYSTEM,
    Letter,
    Run,
)
from schemas.errors import ConflictError

if TYPE_CHECKING:
    from connectors.crm.models import CrmRecord
    from hub.ledger.bindings import Binding

MERGED = "hs_merged_object_ids"
# the binding entities whose external id is the CRM id of a record of each type; the first
# one names the ERP record written back onto the survivor
MERGE_ENTITIES = {
    "companies": (COMPANY, COMPANY_CRM),
    "contacts": (CONTACT,),
    "deals": (DEAL, DEAL_WON, DEAL_INVOICE, DEAL_DELIVERY),
}
_ERP_RECORD = {"companies": "parties", "contacts": "contact persons", "deals": "sales"}
ONE = {"companies": "company", "contacts": "contact", "deals": "deal"}


def follow_merges(run: Run, page: Sequence[CrmRecord], kind: str = "companies") -> list[Letter]:
    """Move the bindings of merged-away ``kind`` records to their survivors in ``page``."""
    letters: list[Letter] = []
    entities = MERGE_ENTITIES[kind]
    one = ONE[kind]
    for rec in page:
        for old in (i for i in (rec.properties.get(MERGED) or "").split(";") if i):
            if run.ledger.lookup(SYSTEM, entities[0], old) is None:
                continue
            if run.would is not None:
                run.counts[f"{kind}_merged"] += 1
                continue
            try:
                with run.ledger.transaction() as conn:
                    moved = [run.ledger.move_binding(SYSTEM, e, old, rec.crm_id, conn=conn)
                             for e in entities][0]  # fmt: skip
            except ConflictError as exc:
                letters.append(Letter(
                    FLOW_PULL, f"{one}:{rec.crm_id}",
                    f"CRM {one} {old} was merged into {rec.crm_id}, but both are bound to ERP "
                    f"{_ERP_RECORD[kind]} ({exc.message}): merge the two {_ERP_RECORD[kind]} in "
                    f"the ERP, then bind the survivor with {run.config.id_property}",
                    "ConflictError", {"merged": old, "survivor": rec.crm_id},
                ))  # fmt: skip
                continue
            if moved is not None and rec.erp_id != moved.erp_id:
                run.crm.update(kind, rec.crm_id, {run.config.id_property: moved.erp_id},
                               by_id_property=False)  # fmt: skip
                rec.properties[run.config.id_property] = moved.erp_id
            run.counts[f"{kind}_merged"] += 1
    return letters


def deleted_in_crm(
    run: Run, bound: Mapping[str, Binding], erp_ids: Sequence[str], kind: str = "companies"
) -> set[str]:
    """The ERP ids among ``erp_ids`` whose bound CRM record the CRM no longer holds."""
    crm_ids = [bound[e].external_id for e in erp_ids if e in bound and bound[e].content_hash]
    if not crm_ids:
        return set()
    missing = set(run.crm.read(kind, crm_ids, by_id_property=False).missing)
    return {e for e in erp_ids if e in bound and bound[e].external_id in missing}


def refuse_deleted(
    run: Run, kind: str, bound: Mapping[str, Binding], send: dict[str, dict[str, str]]
) -> list[Letter]:
    """Drop from ``send`` the records whose bound CRM record was deleted or merged away;
    a dead letter each (an upsert by ERP id would create a new record)."""
    gone = deleted_in_crm(run, bound, list(send), kind)
    for erp_id in gone:
        send.pop(erp_id)
    return [deleted_letter(erp_id, bound[erp_id].external_id, kind) for erp_id in sorted(gone)]


def deleted_letter(erp_id: str, crm_id: str, kind: str = "companies") -> Letter:
    """The dead letter of an ERP record whose CRM record was deleted (or merged away)."""
    one, erp = ONE[kind], {"companies": "party", "deals": "sale"}.get(kind, "record")
    return Letter(
        FLOW_PUSH, f"{one}:{erp_id}",
        f"ERP {erp} {erp_id}: its CRM {one} {crm_id} was deleted or merged away in the CRM; "
        "it is not created again blindly. Restore it in the CRM, or link the "
        f"{erp} to the {one} that replaced it (set its hub_erp_id), then replay",
        "PermanentError",
    )  # fmt: skip
