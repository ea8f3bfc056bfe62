"""DAG crm_sync: every 15 minutes, ERP -> CRM (push), then CRM -> ERP (pull), in the crm pool."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param

from hub.dag_defaults import dag_params
from hub.dag_factory import flow_task, hub_dag
from hub.webhooks.changes import CHANGES, CHANGES_SCHEMA

DOC_MD = """
### CRM sync (ERP ⇄ HubSpot CRM)

Keeps the CRM (connection `hub_crm`, from `AIRFLOW_CONN_HUB_CRM`: host/port of the CRM
API, the private-app token as password) and the ERP (connection `hub_erp`) in step.

1. **push** (`crm_push`): ERP parties changed since the cursor become companies and their
   contact persons contacts (associated); products become CRM products with stock on hand;
   confirmed sales become deals with line items; posted invoices set the deal's invoice and
   payment status. Unchanged records (same payload hash as last time) send nothing.
2. **pull** (`crm_pull`): companies and contacts changed in the CRM since the cursor update
   or create ERP parties and contact mechanisms, by field ownership (`config/crm.yaml`).
   The hub's own writes are recognised and not echoed back.

* **Cursors** move only with the ledger transaction that records a page as done: a failed
  or killed run repeats nothing the CRM already holds and loses nothing.
* **Bad records** (refused by the CRM, invalid VAT/email/country, ambiguous matches) become
  dead letters (`hub dead-letters list --flow crm_push`); the rest of the batch goes on.
* **Retries**: transient errors (CRM down, 429, 5xx) retry with exponential backoff;
  permanent ones (bad token, invalid config) fail at once with a reason to act on.
* **Pool** `crm` bounds concurrent calls; the request budget per CRM account is shared by
  every task through the ledger (or Redis when `HUB_REDIS_URL` is set).
* **Conf**: `{"sale_ids": "12,13"}` also pushes these sales as deals; `{"changes":
  ["companies:1003"]}` names the CRM objects whose signed webhooks triggered the run
  (`hub webhooks` with the `hub_airflow_api` connection posts such runs): the pull reads
  the named companies and contacts by id first, then its cursor as always.
"""


# the flows' parameters from the registry; ``changes`` with each item's pattern (type:id)
PARAMS = dag_params("crm_sync")
PARAMS[CHANGES] = Param(
    None, title=CHANGES, description=PARAMS[CHANGES].description, **CHANGES_SCHEMA
)


@hub_dag(
    "crm_sync",
    schedule=timedelta(minutes=15),
    tags=["hub", "crm", "erp"],
    doc_md=DOC_MD,
    params=PARAMS,
)
def crm_sync() -> None:
    push = flow_task("crm_push", task_id="push", pool="crm")
    pull = flow_task("crm_pull", task_id="pull", pool="crm")
    push() >> pull()


crm_sync()
