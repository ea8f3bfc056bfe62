"""Run a DAG in-process with ``dag.test()`` and collect run state, task states and returns.

Used by the demo (``hub demo``) and the end-to-end tests; ``dag.test()`` costs ~8 s the
first time in a process, then about a second a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol


@dataclass(frozen=True)
class TaskResult:
    """One task instance of a finished run (``map_index`` -1 unless mapped)."""

    task_id: str
    state: str | None
    try_number: int
    map_index: int = -1


@dataclass(frozen=True)
class DagRunResult:
    """What a test needs from one ``dag.test()`` run."""

    dag_id: str
    run_id: str
    state: str
    tasks: dict[str, TaskResult]
    xcom: dict[str, Any] = field(default_factory=dict)  # task_id -> return value

    @property
    def task_states(self) -> dict[str, str | None]:
        return {task_id: ti.state for task_id, ti in self.tasks.items()}

    def returned(self, task_id: str) -> Any:
        """The return value of ``task_id``; KeyError names the tasks that returned one."""
        try:
            return self.xcom[task_id]
        except KeyError:
            raise KeyError(f"{task_id!r} returned nothing; returned: {sorted(self.xcom)}") from None


class RunDag(Protocol):
    def __call__(
        self,
        dag_id: str,
        conf: dict[str, Any] | None = None,
        *,
        retry_delay: timedelta | None = None,
    ) -> DagRunResult: ...


def _task_key(task_id: str, map_index: int) -> str:
    return task_id if map_index < 0 else f"{task_id}[{map_index}]"


def run_dag_with(
    dag_bag: Any,
    dag_id: str,
    conf: dict[str, Any] | None = None,
    *,
    retry_delay: timedelta | None = None,
) -> DagRunResult:
    """Run ``dag_id`` once with ``dag.test()`` and collect states and return values.

    ``retry_delay`` replaces every task's delay (and turns off exponential backoff) for the
    run, so a test can watch retries happen without waiting minutes; the DAG is restored
    afterwards.
    """
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    dag = dag_bag.get_dag(dag_id)
    if dag is None:
        raise LookupError(f"no DAG {dag_id!r}; known: {sorted(dag_bag.dag_ids)}")
    saved = [(t, t.retry_delay, t.retry_exponential_backoff) for t in dag.tasks]
    try:
        if retry_delay is not None:
            for t, _, _ in saved:
                t.retry_delay = retry_delay
                t.retry_exponential_backoff = 0
        dag_run = dag.test(run_conf=conf)
    finally:
        for t, delay, backoff in saved:
            t.retry_delay = delay
            t.retry_exponential_backoff = backoff

    with create_session() as session:
        tis = dag_run.get_task_instances(session=session)
        tasks = {
            _task_key(ti.task_id, ti.map_index): TaskResult(
                task_id=ti.task_id,
                state=None if ti.state is None else str(getattr(ti.state, "value", ti.state)),
                try_number=ti.try_number,
                map_index=ti.map_index,
            )
            for ti in tis
        }
        rows = session.scalars(
            XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_id, key="return_value")
        ).all()
        xcom = {_task_key(r.task_id, r.map_index): XComModel.deserialize_value(r) for r in rows}
    return DagRunResult(
        dag_id=dag_id,
        run_id=dag_run.run_id,
        state=str(getattr(dag_run.state, "value", dag_run.state)),
        tasks=tasks,
        xcom=xcom,
    )


def load_dag_bag() -> Any:
    """Every DAG of the project's dags/ folder (after ``airflow_env.configure``)."""
    from airflow.dag_processing.dagbag import DagBag

    from hub import airflow_env

    bag = DagBag(dag_folder=str(airflow_env.DAGS_FOLDER), known_pools=set(airflow_env.POOLS))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    return bag
