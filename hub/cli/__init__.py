"""The `hub` command line: run flows, operate the hub, manage the ledger.

Commands load lazily: ``COMMANDS`` maps each name to ``"module:attr"`` (a function or a
``typer.Typer`` group) and a one-line help, and only the module of the command invoked is
imported, so `hub --help` and `hub edi validate` never import pydantic models, the flow
registry or Airflow. **Adding a command or group is one line in ``COMMANDS``.**

Optional parts (the sandbox's `hub demo` and `hub sandbox`) come from the ``hub.cli`` entry
points (name = command, value = ``module:attr``), read only for `hub --help` or a name not in
the table: the hub never imports the sandbox, and a production install without it simply has
no such commands. The older ``hub.commands`` form (``register(app)``) still works.
"""

from __future__ import annotations

import sys
from typing import Any

# name -> ("module:attr", one-line help shown by `hub --help` without importing the module)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("hub.cli.run:run_command", "Run one flow once, through the code the DAG task calls."),
    "flows": ("hub.cli.run:flows_cmd", "List the flows, their parameters and what they write."),
    "status": ("hub.cli.ops:status", "Health per flow and partner/system (exit 1: unhealthy)."),
    "dead-letters": ("hub.cli.ops:dead_letters_app", "Records the hub could not process."),
    "trace": ("hub.cli.ops:trace", "Timeline of one order across every system."),
    "reconcile": ("hub.cli.ops:reconcile", "ERP against CRM, carrier and partner outboxes."),
    "metrics": ("hub.cli.ops:metrics", "The hub's metrics in Prometheus text format."),
    "backfill": ("hub.cli.ops:backfill", "Re-sync a bounded window; the live cursor stays."),
    "edi": ("hub.cli.edi:app", "EDIFACT tools: validate partners' files."),
    "partners": ("hub.cli.partners:app", "Trading partners: list, check, sample order."),
    "einvoice": ("hub.cli.einvoice:app", "E-invoices: validate and show XRechnung/ZUGFeRD files."),
    "ledger": ("hub.cli.ledger:app", "The ledger database: migrate and inspect."),
    "webhooks": ("hub.webhooks.server:serve_command", "Signed CRM webhooks: sync at once."),
}

ENTRY_POINT_GROUP = "hub.cli"
LEGACY_ENTRY_POINT_GROUP = "hub.commands"


# names that live in ``hub.cli.root`` (typer is imported only when one is asked for)
_ROOT_NAMES = frozenset({"app", "LazyGroup", "LazyCommands", "as_click", "load_target"})


def __getattr__(name: str) -> Any:
    if name not in _ROOT_NAMES:  # a submodule not imported yet, or nothing
        raise AttributeError(f"module 'hub.cli' has no attribute {name!r}")
    from importlib import import_module  # noqa: PLC0415

    return getattr(import_module("hub.cli.root"), name)


def main() -> None:
    """Console-script entry point."""
    from hub.cli.fastpath import answer  # noqa: PLC0415

    code = answer(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    from hub.cli.root import app  # noqa: PLC0415

    app()
