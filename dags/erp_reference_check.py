"""DAG erp_reference_check: hourly report of the ERP's catalogue, parties and stock."""

from __future__ import annotations

from datetime import timedelta

from hub.dag_defaults import default_args
from hub.dag_factory import flow_task, hub_dag

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


@hub_dag(
    "erp_reference_check",
    schedule="@hourly",
    tags=["hub", "erp", "reference-data"],
    doc_md=DOC_MD,
    defaults=default_args(execution_timeout=timedelta(minutes=15)),
)
def erp_reference_check() -> None:
    flow_task("erp_reference_check", task_id="check_reference_data", pool="erp")()


erp_reference_check()
