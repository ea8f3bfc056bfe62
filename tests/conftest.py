"""Test-wide fixtures: paths, the shared/ reference folder, the ledger on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

# keep every test's state away from the developer's own .hub
os.environ.setdefault("HUB_HOME", str(ROOT / ".hub" / "test"))

pytest_plugins = [
    "tests.fixtures.airflow",  # first: sets AIRFLOW_HOME before anything imports airflow
    "tests.fixtures.pg",
    "tests.fixtures.erp",
    "tests.fixtures.sftp",
    "tests.fixtures.crm",
    "tests.fixtures.carrier",
]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared (contracts and samples); tests that need it skip on a fresh user clone."""
    if not SHARED.is_dir():
        pytest.skip(
            f"reference material not found at {SHARED}: these tests need the project's "
            "shared/ folder (contracts, EDIFACT samples) beside the checkout"
        )
    return SHARED
