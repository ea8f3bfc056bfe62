"""DAG erp_reference_check: hourly report of the ERP's catalogue, parties and stock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import ExceptionRetryPolicy, RetryAction, RetryRule, dag, task

DOC_MD = """
### ERP reference check

Reads the ERP sales core's reference data through the ERP connector (connection `hub_erp`,
from `AIRFLOW_CONN_HUB_ERP`) and reports what it found: products and how many lack a valid
GTIN, customers and how many lack a GLN, stock levels per warehouse. The report is the
task's return value (XCom `return_value`) and is logged.

* **Runs** the flow `erp_reference_check`, the same code as `hub run erp_reference_check`.
* **Conf**: keys of the trigger's conf are passed to the flow as parameters.
* **Retries**: transient ERP errors (down, timeout, 5xx) retry with exponential backoff;
  permanent ones (wrong credentials, invalid data) fail at once with a reason to act on.
* **Pool** `erp` bounds concurrent calls to the ERP across all DAGs.
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
    "execution_timeout": timedelta(minutes=15),
}


@dag(
    dag_id="erp_reference_check",
    schedule="@hourly",
    start_date=datetime(2025, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    tags=["hub", "erp", "reference-data"],
    doc_md=DOC_MD,
    default_args=DEFAULT_ARGS,
)
def erp_reference_check() -> None:
    @task(task_id="check_reference_data", pool="erp")
    def check_reference_data() -> dict[str, Any]:
        """Run the flow and return its JSON-able report."""
        from airflow.sdk import get_current_context

        from hub.flows import run_flow

        conf = get_current_context()["dag_run"].conf or {}
        return run_flow("erp_reference_check", **conf)

    check_reference_data()


erp_reference_check()
