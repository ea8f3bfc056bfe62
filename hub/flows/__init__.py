"""Flows: every use case the DAGs and `hub run` execute, by name, through one door.

The descriptors live in ``hub.flows.registry``; ``run_flow`` parses the parameters by the
descriptor, records the run in the ledger (with a heartbeat, so a killed run is seen as
crashed and its leases are taken over) and calls the flow, its preview or its backfill.
"""

from __future__ import annotations

import logging
from typing import Any

from hub.flows.registry import REGISTRY, FlowDescriptor, FlowFunc, descriptor

log = logging.getLogger(__name__)

# name -> "module:function", read from the registry (kept for callers that list flows)
FLOWS: dict[str, str] = {name: d.run for name, d in REGISTRY.items()}

__all__ = ["FLOWS", "FlowDescriptor", "FlowFunc", "is_dry_run", "resolve", "run_flow"]


def resolve(name: str) -> FlowFunc:
    """The function behind a flow name; unknown names list the known ones."""
    return descriptor(name).function()


def run_flow(name: str, *, hub: Any = None, **params: Any) -> dict[str, Any]:
    """Run one flow once and return its JSON-able report (what DAG tasks and `hub run` call)."""
    from hub.bootstrap import Hub

    flow = descriptor(name)
    params = flow.parse_params(params)
    owned = hub is None
    ctx = hub or Hub.from_env()
    try:
        _check_partner(ctx, flow, params)
        if params.pop("dry_run", False):  # read, validate, transform, write nothing
            from hub.ops.dryrun import dry_run

            return dry_run(ctx, name, **params)
        report = _recorded(ctx, flow, params)
    finally:
        if owned:
            ctx.close()
    log.info("flow %s finished: %s", name, {k: v for k, v in report.items() if k != "details"})
    return report


def is_dry_run(params: dict[str, Any]) -> bool:
    """``dry_run`` given as a bool or as the CLI's/Airflow's string ("true", "1", "yes")."""
    value = params.get("dry_run", False)
    return value is True or str(value).lower() in ("true", "1", "yes")


def _check_partner(hub: Any, flow: FlowDescriptor, params: dict[str, Any]) -> None:
    """An unknown partner is an error, never a run that silently does nothing."""
    partner = params.get("partner")
    if partner is None or flow.param("partner") is None:
        return
    known = hub.partners
    if partner not in known:
        from schemas.errors import PermanentError

        raise PermanentError(
            f"flow {flow.name!r}: unknown partner {partner!r}; configured partners: "
            f"{', '.join(sorted(known)) or 'none'} (config/partners/*.yaml)",
            system="hub",
        )


def _recorded(ctx: Any, flow: FlowDescriptor, params: dict[str, Any]) -> dict[str, Any]:
    """Run the flow with a row in the ledger's ``runs`` table around it (status, counts)."""
    from hub.ops import runs

    func = flow.function()
    mode = "backfill" if params.get("cursor_stream") else "run"
    ctx.ledger.start_heartbeat()
    run_id = runs.start(ctx.ledger, flow.name, params, mode=mode)
    try:
        report = func(ctx, **params)
    except BaseException as exc:
        runs.finish(ctx.ledger, run_id, error=exc)
        raise
    runs.finish(ctx.ledger, run_id, report=report)
    return report
