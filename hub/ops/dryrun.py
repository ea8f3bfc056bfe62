"""Dry runs: read, validate and transform, then report what a flow would write, writing nothing.

A flow declares its preview in its descriptor (``hub.flows.registry``): ``"module:function"``
(called as ``function(hub, **params)``), or ``"self"`` when it takes ``dry_run: bool`` itself;
then it must not claim journal entries, bind, move cursors, file dead letters, send or write
to any system, and returns ``{"status": "dry_run", "would": {<system>: {<action>: [...]}}}``.
"""

from __future__ import annotations

from typing import Any

from hub.bootstrap import Hub
from hub.flows.registry import REGISTRY, descriptor, load_target
from schemas.errors import PermanentError


def supports(flow: str) -> bool:
    """Whether ``flow`` has a dry run."""
    return descriptor(flow).supports_dry_run


def dry_run(hub: Hub, flow: str, **params: Any) -> dict[str, Any]:
    """What one run of ``flow`` would create/update/send per system; nothing is written."""
    desc = descriptor(flow)
    if desc.preview is None:
        raise PermanentError(
            f"flow {flow!r} has no dry run; flows with one: "
            + ", ".join(sorted(n for n, d in REGISTRY.items() if d.supports_dry_run)),
            system="hub",
        )
    if desc.preview == "self":
        report = desc.function()(hub, dry_run=True, **params)
    else:
        report = load_target(desc.preview)(hub, **params)
    report.setdefault("status", "dry_run")
    return report
