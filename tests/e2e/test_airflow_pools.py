"""A missing pool can never stall runs silently: `hub status` reads Airflow's metadata DB
(without importing airflow) and names every pool of the hub that is missing (issue 12)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from hub import airflow_env
from hub.bootstrap import Hub
from hub.ops.status import collect
from tests.fixtures.airflow import template_db
from tests.fixtures.hub import fake_erp_fixture, fake_hub_fixture  # noqa: F401

pytestmark = pytest.mark.e2e


def test_status_names_a_missing_pool(
    tmp_path: Path, hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "airflow.db"
    shutil.copyfile(template_db(), db)  # migrated by Airflow itself, with the hub's pools
    env = {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{db}"}
    assert airflow_env.missing_pools(env) == (f"sqlite:///{db}", [])
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM slot_pool WHERE pool = 'crm'")
    assert airflow_env.missing_pools(env) == (f"sqlite:///{db}", ["crm"])
    monkeypatch.setenv(
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    )
    status = collect(hub)
    assert status["airflow_pools"]["missing"] == ["crm"] and not status["healthy"]
    [problem] = [p for p in status["problems"] if "pool" in p]
    assert "'crm' is missing" in problem and "python -m hub.airflow_env pools" in problem


def test_no_metadata_db_means_not_checked(tmp_path: Path) -> None:
    assert airflow_env.missing_pools({"AIRFLOW_HOME": str(tmp_path)}) is None
