"""Every DAG file parses without errors, is documented, owned, retried, pooled and stays light."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hub import airflow_env

pytestmark = pytest.mark.e2e

DAG_FILES = sorted(p for p in airflow_env.DAGS_FOLDER.glob("*.py") if not p.name.startswith("_"))
# Parsing runs in the dag-processor every 30 s: these belong inside tasks, never at import.
HEAVY_MODULES = {"requests", "zeep", "pydifact", "sqlalchemy", "psycopg", "lxml", "trytond"}
MAX_ACTIVE_RUNS_BOUND = 4


def test_dags_folder_holds_dag_files() -> None:
    assert DAG_FILES, f"no DAG files in {airflow_env.DAGS_FOLDER}"


def test_every_dag_file_imports_without_errors(dag_bag: Any) -> None:
    assert dag_bag.import_errors == {}
    assert "erp_reference_check" in dag_bag.dag_ids
    parsed = {Path(dag.fileloc).name for dag in dag_bag.dags.values()}
    assert parsed == {p.name for p in DAG_FILES}, "a DAG file defines no DAG"


def test_every_dag_is_documented_tagged_owned_and_bounded(dag_bag: Any) -> None:
    problems: list[str] = []
    for dag_id, dag in sorted(dag_bag.dags.items()):
        if not (dag.doc_md or "").strip():
            problems.append(f"{dag_id}: no doc_md")
        if not dag.tags:
            problems.append(f"{dag_id}: no tags")
        if dag.catchup:
            problems.append(f"{dag_id}: catchup on (backfills go through `hub backfill`)")
        if dag.max_active_runs > MAX_ACTIVE_RUNS_BOUND:
            problems.append(f"{dag_id}: max_active_runs={dag.max_active_runs}, not bounded")
        for task in dag.tasks:
            where = f"{dag_id}.{task.task_id}"
            if not task.owner or task.owner == "airflow":
                problems.append(f"{where}: no owner (default {task.owner!r})")
            if task.retries < 1:
                problems.append(f"{where}: no retries")
            if task.retry_exponential_backoff <= 0:
                problems.append(f"{where}: no exponential backoff (a multiplier in 3.3)")
            if task.pool not in airflow_env.POOLS:
                problems.append(
                    f"{where}: pool {task.pool!r} is not one of {sorted(airflow_env.POOLS)}"
                )
    assert problems == []


def test_pools_named_by_dags_exist_in_the_metadata_db(dag_bag: Any) -> None:
    from airflow.models.pool import Pool

    assert {w.message for w in dag_bag.dag_warnings} == set()
    assert set(airflow_env.POOLS) <= {pool.pool for pool in Pool.get_pools()}


def _module_level_imports(path: Path) -> set[str]:
    """Top-level package names imported outside any function or class body."""
    found: set[str] = set()
    todo: list[ast.AST] = list(ast.parse(path.read_text(encoding="utf-8")).body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.If | ast.Try | ast.With):  # still module level
            todo.extend(ast.iter_child_nodes(node))
    return found


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_has_no_heavy_module_level_imports(path: Path) -> None:
    assert _module_level_imports(path) & HEAVY_MODULES == set()


_PROBE = """
import importlib.util, json, sys
import airflow.sdk
baseline = set(sys.modules)
for i, path in enumerate(sys.argv[1:]):
    spec = importlib.util.spec_from_file_location(f"dag_probe_{i}", path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
new = {name.split(".")[0] for name in set(sys.modules) - baseline}
print(json.dumps({"new": sorted(new), "baseline": sorted({n.split(".")[0] for n in baseline})}))
"""


def test_parsing_dag_files_pulls_in_no_heavy_library(airflow_home: Path) -> None:
    """Indirect imports count too: a DAG importing a hub module that imports requests fails."""
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, *map(str, DAG_FILES)],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    modules = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(modules["new"]) & HEAVY_MODULES == set()
