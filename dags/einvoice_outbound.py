"""Airflow DAG einvoice_outbound: posted invoices as validated e-invoices, sent exactly once."""

from __future__ import annotations

from hub.dag_factory import flow_task, hub_dag

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


@hub_dag(FLOW, schedule="*/15 * * * *", tags=TAGS, doc_md=DOC_MD)
def einvoice_outbound() -> None:
    flow_task(FLOW, task_id="send_einvoices", pool="edi", details=False)()


einvoice_outbound()
