"""Test-wide fixtures: paths, the shared/ reference folder, a closed loopback port; the plugins."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.shared import shared_path

ROOT = Path(__file__).resolve().parents[1]

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
    return shared_path(what="reference material (contracts, EDIFACT samples)")


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port bound but not listening: connecting to it is refused (a system down)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]
