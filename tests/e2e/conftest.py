"""E2E-tier fixtures: a fresh hub home per test and the Airflow connection to the sandbox ERP,
set in the environment as a deployment would set them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.connections import erp_connection


@pytest.fixture
def hub_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh hub home per test (runs must not see each other's journal); the project's own
    config/ and no ledger or Redis URL from the developer's environment."""
    for name in ("HUB_DATABASE_URL", "HUB_REDIS_URL", "HUB_CONFIG_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HUB_HOME", str(tmp_path / "hub"))
    return tmp_path / "hub"


@pytest.fixture
def erp_conn(erp_server: Any, hub_state: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """AIRFLOW_CONN_HUB_ERP pointing at the sandbox ERP, in a fresh hub home."""
    login, password = erp_server.login, erp_server.password
    connection = erp_connection(erp_server.url, erp_server.database, login, password)
    monkeypatch.setenv("AIRFLOW_CONN_HUB_ERP", connection)
    return erp_server
