"""Dry runs: read, validate and transform, then report what a flow would write, writing nothing.

Convention for flow owners: a flow supports a dry run either through a preview registered
here (``PREVIEWS[flow] = "module:function"``, called as ``function(hub, **params)``) or by
taking a ``dry_run: bool = False`` parameter itself, in which case it must not claim journal
entries, bind, move cursors, file dead letters, send or write to any system, and returns
``{"status": "dry_run", "would": {<system>: {<action>: [records...]}}, ...}``.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from hub.bootstrap import Hub
from schemas.errors import PermanentError

PREVIEWS: dict[str, str] = {
    "edi_orders_inbound": "hub.flows.edi_inbound_replay:preview_inbox",
}


def supports(flow: str) -> bool:
    """Whether ``flow`` has a preview here or takes ``dry_run`` itself."""
    from hub.flows import resolve

    return flow in PREVIEWS or "dry_run" in inspect.signature(resolve(flow)).parameters


def dry_run(hub: Hub, flow: str, **params: Any) -> dict[str, Any]:
    """What one run of ``flow`` would create/update/send per system; nothing is written."""
    from hub.flows import resolve

    if flow in PREVIEWS:
        module, _, func = PREVIEWS[flow].partition(":")
        report = getattr(importlib.import_module(module), func)(hub, **params)
    elif "dry_run" in inspect.signature(resolve(flow)).parameters:
        report = resolve(flow)(hub, dry_run=True, **params)
    else:
        raise PermanentError(
            f"flow {flow!r} has no dry run yet: its owner adds a `dry_run: bool = False` "
            "parameter (see hub/ops/dryrun.py for the contract); flows with one: "
            + ", ".join(sorted(PREVIEWS)),
            system="hub",
        )
    report.setdefault("status", "dry_run")
    return report
