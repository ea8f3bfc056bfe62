"""Released ledger revisions (0001-0004) emit the DDL they emitted when they were released.

They share schema steps (``hub.ledger.ddl``); a change there must not change them. The
expected statements are in ``ledger_migration_sql.json``, up to 0004, down to base, up again.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event

from hub.ledger import migrate

pytestmark = pytest.mark.integration

EXPECTED = json.loads(Path(__file__).with_name("ledger_migration_sql.json").read_text())
RELEASED = "0004"
DDL = re.compile(r"^(CREATE|DROP|ALTER|INSERT INTO _alembic_tmp_)", re.IGNORECASE)


def ddl_of_released_revisions(url: str) -> list[str]:
    """Every DDL statement of: upgrade to RELEASED, downgrade to base, upgrade again."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    seen: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def capture(conn, cursor, statement, params, context, executemany) -> None:  # type: ignore[no-untyped-def]
        text = " ".join(statement.split())
        if DDL.match(text):
            seen.append(text)

    try:
        migrate.upgrade(engine, RELEASED)
        migrate.downgrade(engine, "base")
        migrate.upgrade(engine, RELEASED)
    finally:
        engine.dispose()
    return seen


def assert_same_ddl(got: list[str], expected: list[str]) -> None:
    """The same statements in the same order, but for indexes a SQLite batch step re-creates
    (alembic re-creates a rebuilt table's indexes in no fixed order)."""
    assert sorted(got) == sorted(expected)
    assert [s for s in got if not s.startswith("CREATE INDEX")] == [
        s for s in expected if not s.startswith("CREATE INDEX")
    ]


def test_released_revisions_emit_the_same_ddl_on_sqlite(tmp_path: Path) -> None:
    got = ddl_of_released_revisions(f"sqlite:///{tmp_path / 'ledger.db'}")
    assert_same_ddl(got, EXPECTED["sqlite"])


def test_released_revisions_emit_the_same_ddl_on_postgresql(pg_url: str) -> None:
    assert_same_ddl(ddl_of_released_revisions(pg_url), EXPECTED["postgresql"])
