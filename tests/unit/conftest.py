"""Unit-tier fixtures: a fresh SQLite ledger, the fake catalogue ERP and a hub wired to both.

Tests of this tier never need a server; a test module that wants another catalogue
overrides ``erp`` and keeps ``hub``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.ledger import Ledger
from tests.fixtures.hub import fake_erp_fixture, fake_hub_fixture  # noqa: F401 - erp, hub


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    """A migrated SQLite ledger of its own (the unit tier never needs PostgreSQL)."""
    led = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    led.upgrade()
    yield led
    led.dispose()
