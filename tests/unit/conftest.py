"""Unit-tier fixtures: a fresh SQLite ledger, the fake catalogue ERP and a hub wired to both.

Tests of this tier never need a server; a test module that wants another catalogue
overrides ``erp`` and keeps ``hub``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.erp.fake import FakeErp
from hub.bootstrap import Hub
from hub.ledger import Ledger
from tests.fixtures.hub import fake_catalogue_erp, hub_on


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    """A migrated SQLite ledger of its own (the unit tier never needs PostgreSQL)."""
    led = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    led.upgrade()
    yield led
    led.dispose()


@pytest.fixture
def erp() -> FakeErp:
    """The fake catalogue: four GTIN products with stock and the customer Kaufhaus Nord."""
    return fake_catalogue_erp()


@pytest.fixture
def hub(tmp_path: Path, erp: FakeErp) -> Iterator[Hub]:
    """A hub on a fresh ledger, the test's ERP and the shipped partner profiles."""
    wired = hub_on(tmp_path, erp)
    yield wired
    wired.close()
