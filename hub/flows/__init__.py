"""Flow registry: every use case the DAGs and `hub run` execute, by name, through one door."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

FlowFunc = Callable[..., dict[str, Any]]

# name -> "module:function"; modules are imported on first use (DAG files stay light)
FLOWS: dict[str, str] = {
    "erp_reference_check": "hub.flows.erp_reference:erp_reference_check",
    "edi_orders_inbound": "hub.flows.edi_inbound:edi_orders_inbound",
    "crm_sync": "hub.flows.crm_sync:crm_sync",
    "crm_push": "hub.flows.crm_sync:crm_push",
    "crm_pull": "hub.flows.crm_sync:crm_pull",
    "logistics_shipments": "hub.flows.logistics:ship_ready_shipments",
    "logistics_tracking": "hub.flows.logistics:track_open_shipments",
    "edi_documents_outbound": "hub.flows.edi_outbound:edi_documents_outbound",
}


def register(name: str, target: str) -> None:
    """Add a flow (used by flow modules of later features)."""
    FLOWS[name] = target


def resolve(name: str) -> FlowFunc:
    """The function behind a flow name; unknown names list the known ones."""
    try:
        target = FLOWS[name]
    except KeyError:
        from schemas.errors import PermanentError

        raise PermanentError(
            f"unknown flow {name!r}; known flows: {', '.join(sorted(FLOWS))}", system="hub"
        ) from None
    module, _, func = target.partition(":")
    return getattr(importlib.import_module(module), func)


def run_flow(name: str, *, hub: Any = None, **params: Any) -> dict[str, Any]:
    """Run one flow once and return its JSON-able report (what DAG tasks and `hub run` call)."""
    from hub.bootstrap import Hub

    func = resolve(name)
    owned = hub is None
    ctx = hub or Hub.from_env()
    try:
        if is_dry_run(params):  # read, validate, transform, write nothing (hub.ops.dryrun)
            from hub.ops.dryrun import dry_run

            return dry_run(ctx, name, **{k: v for k, v in params.items() if k != "dry_run"})
        report = _recorded(ctx, name, func, params)
    finally:
        if owned:
            ctx.close()
    log.info("flow %s finished: %s", name, {k: v for k, v in report.items() if k != "details"})
    return report


def is_dry_run(params: dict[str, Any]) -> bool:
    """``dry_run`` given as a bool or as the CLI's/Airflow's string ("true", "1", "yes")."""
    value = params.get("dry_run", False)
    return value is True or str(value).lower() in ("true", "1", "yes")


def _recorded(ctx: Any, name: str, func: FlowFunc, params: dict[str, Any]) -> dict[str, Any]:
    """Run the flow with a row in the ledger's ``runs`` table around it (status, counts)."""
    from hub.ops import runs

    mode = "backfill" if params.get("cursor_stream") else "run"
    run_id = runs.start(ctx.ledger, name, params, mode=mode)
    try:
        report = func(ctx, **params)
    except BaseException as exc:
        runs.finish(ctx.ledger, run_id, error=exc)
        raise
    runs.finish(ctx.ledger, run_id, report=report)
    return report
