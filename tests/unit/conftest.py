"""Unit-tier fixtures: a fresh SQLite ledger, the fake catalogue ERP and a hub wired to both
(defined in tests/fixtures/hub.py, where other tiers import them from).

Tests of this tier never need a server; a test module that wants another catalogue
overrides ``erp`` and keeps ``hub``.
"""

from tests.fixtures.hub import (  # noqa: F401 - the fixtures ledger, erp and hub
    fake_erp_fixture,
    fake_hub_fixture,
    sqlite_ledger_fixture,
)
