"""DAG edi_orders_inbound: partners' EDIFACT ORDERS become ERP sales orders, acknowledged."""

from __future__ import annotations

from typing import Any

from airflow.sdk import task

from hub.dag_defaults import flow_params
from hub.dag_factory import hub_dag

DOC_MD = """
### EDI orders inbound

Every 5 minutes, per active trading partner (`config/partners/*.yaml`, one mapped task each):
collect complete files from the partner's inbox (local directory or SFTP), archive them by
hash, parse and validate (envelope, EANCOM ORDERS structure, formats, GLN/GTIN), create the
orders in the ERP in one journaled batch, answer with CONTRL / APERAK / ORDRSP, and only then
take the file out of the inbox.

* **Exactly once**: a repeated interchange (same partner and UNB reference) is not processed
  again and gets its first acknowledgements again; the same order number from the same buyer
  never makes a second sale; the same number with other content is a conflict (dead letter +
  APERAK).
* **Bad files** are rejected with CONTRL/APERAK or quarantined with a dead letter; they never
  fail the run for the other files. `hub dead-letters list --flow edi_orders_inbound`.
* **Retries**: a transient ERP failure retries the partner's task; work already done is skipped.
* **Same code** as `hub run edi_orders_inbound -p partner=ID`.
"""


@hub_dag(
    "edi_orders_inbound",
    schedule="*/5 * * * *",
    tags=["hub", "edi", "erp", "orders"],
    doc_md=DOC_MD,
)
def edi_orders_inbound() -> None:
    @task(task_id="partners", pool="edi")
    def partners() -> list[str]:
        """Active partner ids with a valid profile (or the one named in the run's conf); an
        invalid profile is a dead letter and is skipped, the other partners keep running."""
        from hub.partner_health import active_partners

        return active_partners(flow_params("edi_orders_inbound").get("partner"))

    @task(task_id="process_partner", pool="erp", map_index_template="{{ partner_id }}")
    def process_partner(partner: str) -> dict[str, Any]:
        """Collect, validate, create, acknowledge and archive one partner's files."""
        from airflow.sdk import get_current_context

        from hub.flows import run_flow

        get_current_context()["partner_id"] = partner  # type: ignore[typeddict-unknown-key]

        params = {k: v for k, v in flow_params("edi_orders_inbound").items() if k != "partner"}
        report = run_flow("edi_orders_inbound", partner=partner, **params)
        report.pop("details", None)
        return report

    process_partner.expand(partner=partners())


edi_orders_inbound()
