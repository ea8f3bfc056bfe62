"""Shared Airflow settings for every hub DAG: owner, retries with backoff, policy, alerts.

Imported by DAG files at parse time, so it imports nothing but ``airflow.sdk`` and the
standard library: hub exceptions are named by dotted path, not imported.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import ExceptionRetryPolicy, RetryAction, RetryRule

from hub.notify import DeadLetterNotifier, FailureNotifier

START = datetime(2025, 1, 1, tzinfo=UTC)

HUB_RETRY_POLICY = ExceptionRetryPolicy(
    rules=[
        RetryRule(
            exception="schemas.errors.PermanentError",
            action=RetryAction.FAIL,
            reason="permanent error: fix the data or the configuration, then rerun",
        ),
        RetryRule(
            exception="schemas.errors.TransientError",
            action=RetryAction.RETRY,
            reason="transient error: retrying with exponential backoff",
        ),
    ],
)


def default_args(
    *, retries: int = 3, retry_delay: timedelta = timedelta(seconds=30), **extra: Any
) -> dict[str, Any]:
    """Owner, bounded retries with exponential backoff (a multiplier in 3.3), the policy, and
    the alerts: a mail when a task fails, and when a task's flow run filed new dead letters."""
    args: dict[str, Any] = {
        "owner": "hub-ops",
        "retries": retries,
        "retry_delay": retry_delay,
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=10),
        "retry_policy": HUB_RETRY_POLICY,
        "execution_timeout": timedelta(minutes=30),
        "on_failure_callback": FailureNotifier(),
        "on_success_callback": DeadLetterNotifier(),
    }
    args.update(extra)
    return args


# JSON schema of each registry parameter type: Airflow validates a run's conf against it
# when the run is triggered (a bad value is refused before any task runs) and draws the
# trigger dialog's form from it. Every parameter is optional (null = the flow's default).
_SCHEMAS: dict[str, dict[str, Any]] = {
    "int": {"type": ["null", "integer"], "minimum": 0},
    "str": {"type": ["null", "string"], "minLength": 1},
    "bool": {"type": ["null", "boolean"]},
    "list": {"type": ["null", "array"], "items": {"type": "string", "minLength": 1}},
    "iso": {
        "type": ["null", "string"],
        "pattern": r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:\d{2})?$",
    },
}
PARTNER_PATTERN = r"^[A-Za-z0-9_.-]+$"  # a partner id (schemas.config.PartnerProfile.id)


def dag_params(dag_id: str) -> dict[str, Any]:
    """The ``params`` of a DAG: every parameter of the flows it runs (from the flow
    registry), as an ``airflow.sdk.Param`` with a JSON schema and the registry's help."""
    from airflow.sdk import Param

    from hub.flows.registry import REGISTRY

    params: dict[str, Any] = {}
    for flow in REGISTRY.values():
        if flow.dag != dag_id:
            continue
        for p in flow.params:
            if p.name in params:
                continue
            schema = dict(_SCHEMAS[p.type])
            if p.name == "partner":
                schema["pattern"] = PARTNER_PATTERN
            default = "" if p.default is None else f" (default {p.default})"
            params[p.name] = Param(
                None, title=p.name, description=f"{p.help}{default}; flow {flow.name}", **schema
            )
    return params


def flow_params(flow: str | None = None) -> dict[str, Any]:
    """The triggering run's conf as parameters of ``flow`` (inside a task only).

    The flow registry decides: keys of another flow of the same DAG are left out, a key no
    flow of this DAG knows is a PermanentError naming it (failed at once, never retried).
    """
    from airflow.sdk import get_current_context

    context = get_current_context()
    conf = dict(context["dag_run"].conf or {})
    if flow is None:
        return conf
    from hub.flows.registry import REGISTRY, descriptor
    from schemas.errors import PermanentError

    dag_id = context["dag"].dag_id
    own = descriptor(flow)
    known = {p.name for d in REGISTRY.values() if d.dag == dag_id for p in d.params}
    unknown = sorted(set(conf) - known - {p.name for p in own.params})
    if unknown:
        raise PermanentError(
            f"DAG {dag_id}: unknown conf key(s) {', '.join(unknown)}; its flows accept: "
            f"{', '.join(sorted(known)) or 'none'} (see `hub flows`)",
            system="airflow",
        )
    # the trigger form sends every param, unset ones as null: null means the flow's default
    return {k: v for k, v in conf.items() if own.param(k) is not None and v is not None}
