"""DAG edi_documents_outbound: DESADV, INVOIC and INVRPT to trading partners, exactly once."""

from __future__ import annotations

from typing import Any

from airflow.sdk import dag, task

from hub.dag_defaults import START, dag_params, default_args, flow_params

DOC_MD = """
### EDI documents outbound

Every 15 minutes: read the ERP's shipments and posted invoices changed since each partner's
cursor, and send EANCOM documents to the partners they belong to (customer GLN = the partner's
UNB id, or the partner's `party_lookup`):

* **DESADV** (D96A EAN007) per shipped customer shipment, with one SSCC per package; a
  replacement (BGM 5) when the carrier's tracking number arrives later.
* **INVOIC** (D96A EAN008) per posted invoice (380) or credit note (381), amounts exactly as
  the ERP computed them.
* **INVRPT** (D96A EAN008) once per period of the partner's `outbound.invrpt_schedule`, the
  period picked from this run's data interval end.

Output per partner (`outbound:` in `config/partners/*.yaml`): UNA, character set, decimal
mark, one segment per line, file name pattern, channel (directory or SFTP).

* **Exactly once**: references are allocated once in the ledger; the bytes are archived and
  pinned before the upload, so a retry after a crash rewrites the same file, never another.
  A rerun with nothing new writes nothing.
* **Bad data** (no GLN, no GTIN, missing VAT id where required) becomes a dead letter naming
  the document, the record and the field: `hub dead-letters list --flow
  edi_documents_outbound`; fix the data and trigger with conf `{"since": "<updated_at>"}`.
* **Retries**: a channel that is down fails the task, which retries with exponential backoff;
  nothing is marked sent before the upload is confirmed.
* **Same code** as `hub run edi_documents_outbound`.
"""


@dag(
    dag_id="edi_documents_outbound",
    schedule="*/15 * * * *",
    start_date=START,
    catchup=False,
    max_active_runs=1,
    tags=["hub", "edi", "erp", "desadv", "invoic", "invrpt"],
    doc_md=DOC_MD,
    default_args=default_args(),
    params=dag_params("edi_documents_outbound"),
)
def edi_documents_outbound() -> None:
    @task(task_id="send_documents", pool="edi")
    def send_documents() -> dict[str, Any]:
        """Run the flow for every partner; the data interval end picks the INVRPT period."""
        from airflow.sdk import get_current_context

        from hub.flows import run_flow

        params = flow_params("edi_documents_outbound")
        end = get_current_context().get("data_interval_end")
        if end is not None and "as_of" not in params:
            params["as_of"] = end.isoformat()
        report = run_flow("edi_documents_outbound", **params)
        report.pop("details", None)
        return report

    send_documents()


edi_documents_outbound()
