"""DAG einvoice_outbound: posted invoices as validated e-invoices to customers, exactly once."""

from __future__ import annotations

from typing import Any

from airflow.sdk import dag, task

from hub.dag_defaults import START, dag_params, default_args, flow_params

DOC_MD = """
### E-invoices outbound

Every 15 minutes: read the ERP's invoices posted since the cursor and send each customer
listed in `config/einvoice.yaml` its invoices and credit notes in its format: XRechnung 3.0
(UBL or CII), PEPPOL BIS Billing 3.0 (UBL) or ZUGFeRD/Factur-X (PDF/A-3 with the CII XML),
to the partner's outbox (local or SFTP) or by e-mail through `hub_smtp`.

* **Validated first**: every document is checked against the official EN 16931 artefacts,
  the XRechnung CIUS and the CII XSD (folder `HUB_EINVOICE_RULES`); without that folder the
  task fails at once and nothing is sent. A document with an error is never sent: dead
  letter with rule id, location and text (`hub dead-letters list --flow einvoice_outbound`).
* **Exactly once**: the bytes are archived by hash and journaled before the send; a crash
  after sending re-sends the same bytes, never a second invoice number.
* **Same code** as `hub run einvoice_outbound`.
"""


FLOW = "einvoice_outbound"
TAGS = ["hub", "erp", "einvoice", "xrechnung", "zugferd", "peppol"]


@dag(FLOW, schedule="*/15 * * * *", start_date=START, catchup=False, max_active_runs=1,
     tags=TAGS, doc_md=DOC_MD, default_args=default_args(), params=dag_params(FLOW))  # fmt: skip
def einvoice_outbound() -> None:
    @task(task_id="send_einvoices", pool="edi")
    def send_einvoices() -> dict[str, Any]:
        """Run the flow; its report (without details) is the task's return value."""
        from hub.flows import run_flow

        report = run_flow(FLOW, **flow_params(FLOW))
        report.pop("details", None)
        return report

    send_einvoices()


einvoice_outbound()
