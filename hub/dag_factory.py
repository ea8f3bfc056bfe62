"""The shape hub DAGs share: ``hub_dag`` (one run at a time, hub defaults, params from the
flow registry) and ``flow_task`` (a task that runs one registered flow and returns its report).

Imported by DAG files at parse time: like ``hub.dag_defaults`` it imports nothing heavy; the
flow's code is imported inside the task.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow.sdk import dag, task

from hub.dag_defaults import START, dag_params, default_args, flow_params


def hub_dag(
    dag_id: str,
    *,
    schedule: Any,
    tags: list[str],
    doc_md: str,
    defaults: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
) -> Callable[[Callable[[], None]], Callable[[], Any]]:
    """``@dag`` with what every hub DAG has: no catch-up (backfills go through ``hub
    backfill``), one active run, the hub's default args and, unless given, the parameters
    of the flows the registry schedules on it."""
    decorator: Callable[[Callable[[], None]], Callable[[], Any]] = dag(
        dag_id=dag_id,
        schedule=schedule,
        start_date=START,
        catchup=False,
        max_active_runs=1,
        tags=tags,
        doc_md=doc_md,
        default_args=defaults if defaults is not None else default_args(),
        params=params if params is not None else dag_params(dag_id),
    )
    return decorator


def flow_task(
    flow: str,
    *,
    task_id: str,
    pool: str,
    details: bool = True,
    prepare: Callable[[dict[str, Any]], None] | None = None,
) -> Any:
    """A task running ``flow`` with the run's conf as its parameters (``prepare`` may add
    some from the task's context), documented by the flow's summary in the registry; it
    returns the flow's report, without the per-record ``details`` unless ``details``."""
    from hub.flows.registry import descriptor

    def run_one_flow() -> dict[str, Any]:
        from hub.flows import run_flow

        params = flow_params(flow)
        if prepare is not None:
            prepare(params)
        report = run_flow(flow, **params)
        if not details:
            report.pop("details", None)
        return report

    run_one_flow.__doc__ = descriptor(flow).summary
    return task(task_id=task_id, pool=pool)(run_one_flow)
