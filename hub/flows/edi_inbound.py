"""Flow edi_orders_inbound: partners' EDI files become ERP records, acknowledged, exactly once.

Per partner mailbox, per file: archive the raw bytes; parse and validate while streaming;
register each interchange in the ledger (a repeat gets its first acknowledgement again);
give each accepted message to the handler registered for its type and version (ORDERS:
map to a sales order, check against the ERP, create the good ones in one journaled ERP
batch, answer with ORDRSP); answer refusals with APERAK and every interchange with CONTRL;
and only then take the file out of the inbox. One bad file (unreadable, a name that is not
UTF-8, garbage) is quarantined with a dead letter and never stops the others; a transient
ERP failure fails the run, and the rerun repeats nothing that was done.

Large files stream: an interchange goes to the ERP in batches of ``batch_size`` messages
(up to ``concurrency`` batches at once), each committed with a progress mark, so memory
does not grow with the file and a run killed mid-file resumes after its last batch.

The loop lives in ``hub.flows.edi_in.loop``, the handlers in ``hub.flows.edi_in.handlers``.
"""

from __future__ import annotations

from typing import Any

from hub.bootstrap import Hub
from hub.flows.edi_in import FLOW
from hub.flows.edi_in.handlers import HANDLERS
from hub.flows.edi_in.loop import run_inboxes
from hub.flows.edi_in.parsing import ParsedInterchange, parse_file
from hub.flows.edi_in.stream import DEFAULT_BATCH, Batching

__all__ = ["FLOW", "ParsedInterchange", "edi_orders_inbound", "parse_file"]


def edi_orders_inbound(
    hub: Hub,
    *,
    partner: str | None = None,
    max_files: int | str = 200,
    batch_size: int | str = DEFAULT_BATCH,
    concurrency: int | str = 1,
) -> dict[str, Any]:
    """Collect, validate, create orders, acknowledge, archive: for one or every partner."""
    batching = Batching(int(batch_size), int(concurrency))
    return run_inboxes(hub, HANDLERS, partner=partner, max_files=int(max_files), batching=batching)
