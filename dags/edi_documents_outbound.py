"""DAG edi_documents_outbound: DESADV, INVOIC and INVRPT to trading partners, exactly once."""

from __future__ import annotations

from typing import Any

from hub.dag_factory import flow_task, hub_dag

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


def _invrpt_period(params: dict[str, Any]) -> None:
    """The data interval end picks the INVRPT period (unless the conf names one)."""
    from airflow.sdk import get_current_context

    end = get_current_context().get("data_interval_end")
    if end is not None and "as_of" not in params:
        params["as_of"] = end.isoformat()


@hub_dag(
    "edi_documents_outbound",
    schedule="*/15 * * * *",
    tags=["hub", "edi", "erp", "desadv", "invoic", "invrpt"],
    doc_md=DOC_MD,
)
def edi_documents_outbound() -> None:
    flow_task(
        "edi_documents_outbound",
        task_id="send_documents",
        pool="edi",
        details=False,
        prepare=_invrpt_period,
    )()


edi_documents_outbound()
