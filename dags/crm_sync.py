"""DAG crm_sync: every 15 minutes, ERP -> CRM (push), then CRM -> ERP (pull), in the crm pool."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import ExceptionRetryPolicy, RetryAction, RetryRule, dag, task

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
  dead letters (`hub ledger dead-letters`); the rest of the batch goes on.
* **Retries**: transient errors (CRM down, 429, 5xx) retry with exponential backoff;
  permanent ones (bad token, invalid config) fail at once with a reason to act on.
* **Pool** `crm` bounds concurrent calls; the request budget per CRM account is shared by
  every task through the ledger (or Redis when `HUB_REDIS_URL` is set).
* **Conf**: `{"sale_ids": "12,13"}` also pushes these sales as deals.
"""

# Exceptions are named by dotted path so the DAG file imports nothing of the hub at parse time.
HUB_RETRY_POLICY = ExceptionRetryPolicy(
    rules=[
        RetryRule(
            exception="schemas.errors.PermanentError",
            action=RetryAction.FAIL,
            reason="permanent error: fix the data or the configuration, then rerun",
        ),
        RetryRule(
            exception="schemas.errors.TransientError",
            action=RetryAction.RETRY,
            reason="transient error: retrying with exponential backoff",
        ),
    ],
)

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "hub-ops",
    "retries": 3,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": 2.0,  # a multiplier in Airflow 3.3: 30 s, 60 s, 120 s
    "max_retry_delay": timedelta(minutes=10),
    "retry_policy": HUB_RETRY_POLICY,
    "execution_timeout": timedelta(minutes=30),
}


@dag(
    dag_id="crm_sync",
    schedule=timedelta(minutes=15),
    start_date=datetime(2025, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    tags=["hub", "crm", "erp"],
    doc_md=DOC_MD,
    default_args=DEFAULT_ARGS,
)
def crm_sync() -> None:
    @task(task_id="push", pool="crm")
    def push() -> dict[str, Any]:
        """ERP -> CRM; returns the flow's JSON-able report."""
        from airflow.sdk import get_current_context

        from hub.flows import run_flow

        conf = get_current_context()["dag_run"].conf or {}
        return run_flow("crm_push", **{k: v for k, v in conf.items() if k == "sale_ids"})

    @task(task_id="pull", pool="crm")
    def pull() -> dict[str, Any]:
        """CRM -> ERP; returns the flow's JSON-able report."""
        from hub.flows import run_flow

        return run_flow("crm_pull")

    push() >> pull()


crm_sync()
