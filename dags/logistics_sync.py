"""DAG logistics_sync: ERP shipments to the DHL carrier (labels, tracking numbers) and tracking."""

from __future__ import annotations

from datetime import timedelta

from hub.dag_defaults import default_args
from hub.dag_factory import flow_task, hub_dag

DOC_MD = """
### Logistics sync

Two flows against the carrier (DHL SOAP: BCS 3.3.2 or MyDHL Express, as set in
`config/carrier.yaml`; credentials from `AIRFLOW_CONN_HUB_CARRIER_BCS` /
`AIRFLOW_CONN_HUB_CARRIER_EXPRESS`, the ERP from `AIRFLOW_CONN_HUB_ERP`):

* **ship_shipments** runs `logistics_shipments`: ERP customer shipments ready to ship
  (assigned / picked / packed, no tracking number yet) are booked with the carrier; the label
  PDF is archived under `<hub home>/labels/<shipment number>.pdf` and the tracking number is
  written back to the ERP shipment. Every booking is journaled before the call: a booking
  whose answer was lost is **never** repeated automatically, it becomes a dead letter
  ("outcome unknown, reconcile with the carrier") so that no parcel gets two labels.
  Rejections (e.g. an address the carrier refuses) become dead letters; the rest go on.
* **track_shipments** runs `logistics_tracking`: booked shipments not yet delivered are
  tracked (MyDHL Express `trackShipmentRequest`, in batches); changed statuses are recorded
  in the hub's ledger for the DESADV flow, unchanged ones write nothing.

The two tasks are independent (tracking runs even when booking must be retried).

* **Conf**: keys of the trigger's conf go to both flows as parameters
  (e.g. `{"max_shipments": 50}`).
* **Retries**: a carrier that is down or answers 503 fails the task with a transient error;
  it retries with exponential backoff and resumes where it stopped (the cursor never passes
  a shipment that was not booked). Permanent errors (wrong credentials, bad config) fail at
  once with a reason to act on.
* **Pool** `carrier` bounds concurrent calls to the carrier across all DAGs.
"""


@hub_dag(
    "logistics_sync",
    schedule=timedelta(minutes=15),
    tags=["hub", "carrier", "erp", "logistics"],
    doc_md=DOC_MD,
    defaults=default_args(retries=4),
)
def logistics_sync() -> None:
    flow_task("logistics_shipments", task_id="ship_shipments", pool="carrier")()
    flow_task("logistics_tracking", task_id="track_shipments", pool="carrier")()


logistics_sync()
