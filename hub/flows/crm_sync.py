"""Flows crm_push, crm_pull and crm_sync: the ERP and the HubSpot CRM kept in step, both ways.

``crm_sync`` pushes, then pulls (the hub's own pushed writes come back and are skipped as
echoes). The parts live by role: ``crm_push.py`` (parties, products), ``crm_deals.py``
(sales, invoices), ``crm_pull.py`` and ``crm_link.py`` (CRM -> ERP), ``crm_run.py`` (run
state, dry run, commit), ``crm_config.py`` (config/crm.yaml and the CRM port's wiring).

Both directions follow the ops conventions (``hub/ops/dryrun.py``, ``hub/ops/backfill.py``):
``dry_run=True`` reads and maps as usual but writes nothing (CRM writes go to a recorder,
no binding, dead letter or cursor moves) and reports ``would``; ``since``/``until``/
``cursor_stream`` re-sync a window, advancing ``<cursor_stream>|<live stream>`` instead of
the live cursors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hub.flows.crm_config import CONN_ID, load_config, make_crm
from hub.flows.crm_pull import crm_pull
from hub.flows.crm_push import crm_push
from hub.flows.crm_run import RUN_OPTIONS, STREAM_INVOICES, STREAM_PARTIES, STREAM_PULL, SYSTEM

if TYPE_CHECKING:
    from hub.bootstrap import Hub

__all__ = [
    "CONN_ID",
    "STREAM_INVOICES",
    "STREAM_PARTIES",
    "STREAM_PULL",
    "SYSTEM",
    "crm_pull",
    "crm_push",
    "crm_sync",
    "load_config",
    "make_crm",
]


def crm_sync(hub: Hub, **params: Any) -> dict[str, Any]:
    """Push, then pull (the hub's own pushed writes come back and are skipped as echoes);
    the pull takes the run options of ``params`` (dry run, backfill window) and the CRM
    objects named by webhooks (``changes``)."""
    config = params.pop("config", None)
    changes = params.pop("changes", None)
    push = crm_push(hub, config=config, **params)
    options = {k: v for k, v in params.items() if k in RUN_OPTIONS}
    pull = crm_pull(hub, config=config, changes=changes, **options)
    if push["status"] == "dry_run":
        would: dict[str, dict[str, list[Any]]] = {}
        for part in (push, pull):
            for system, actions in part["would"].items():
                for action, items in actions.items():
                    would.setdefault(system, {}).setdefault(action, []).extend(items)
        return {"status": "dry_run", "would": would, "push": push, "pull": pull}
    status = "ok" if push["status"] == pull["status"] == "ok" else "partial"
    return {"status": status, "push": push, "pull": pull}
