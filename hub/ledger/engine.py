"""The ledger's engine: SQLite or PostgreSQL with the same SQL, and database errors translated.

Every public ledger call runs inside ``translate_db_errors``: a locked SQLite file or a lost
PostgreSQL connection surfaces as a ``TransientError`` (retry), never a raw driver error.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine, Table, create_engine, event, insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from schemas.errors import TransientError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

D = TypeVar("D", bound="DataclassInstance")


def utcnow() -> datetime:
    """The ledger's clock (UTC, aware)."""
    return datetime.now(UTC)


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for ``url``: SQLite in WAL mode with write locks taken at BEGIN, or psycopg."""
    if url.startswith("sqlite"):
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below take over
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            # take the write lock up front: no lost updates between read and write
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, echo=echo, pool_pre_ping=True)


@contextmanager
def translate_db_errors() -> Iterator[None]:
    """Database trouble that a retry can cure becomes a ``TransientError`` naming the cause."""
    try:
        yield
    except OperationalError as exc:
        raise TransientError(
            f"ledger database unavailable or locked: {exc.orig.__class__.__name__}: "
            f"{str(exc.orig).strip()[:200]}",
            system="ledger",
        ) from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise TransientError(
                f"ledger database connection lost: {exc.orig.__class__.__name__}",
                system="ledger",
            ) from exc
        raise


def insert_new(conn: Connection, table: Table, **values: Any) -> bool:
    """INSERT a row unless its key exists (a savepoint keeps the transaction usable);
    True when this call inserted it. Racing writers: exactly one of them gets True."""
    try:
        with conn.begin_nested():
            conn.execute(insert(table).values(**values))
    except IntegrityError:
        return False
    return True


class LedgerBase:
    """What every part of the ledger shares: the engine, the owner name and transactions."""

    engine: Engine
    owner: str

    def owner_is_dead(self, owner: str | None, *, conn: Connection | None = None) -> bool:
        """Whether a lease owner is provably dead (``OwnerStore`` answers it)."""
        raise NotImplementedError

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction: write results and move a cursor atomically."""
        with translate_db_errors(), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A read-only connection (errors translated)."""
        with translate_db_errors(), self.engine.connect() as conn:
            yield conn

    @contextmanager
    def _conn(self, conn: Connection | None) -> Iterator[Connection]:
        """The caller's transaction, or a new one."""
        if conn is not None:
            yield conn
        else:
            with translate_db_errors(), self.engine.begin() as c:
                yield c


def dumps(value: Any) -> str | None:
    """JSON for a result/payload column (sorted keys: stable hashes and comparisons)."""
    return None if value is None else json.dumps(value, default=str, sort_keys=True)


def loads(value: str | None) -> Any:
    """The inverse of ``dumps``."""
    return None if value is None else json.loads(value)


def row_as(cls: type[D], row: Any, **decoded: Any) -> D:
    """A query's row as dataclass ``cls``: the columns that are fields of ``cls``, with the
    ``decoded`` values (JSON read back, states derived) in place of the stored ones."""
    names = {field.name for field in dataclasses.fields(cls)}
    stored = {name: value for name, value in row._mapping.items() if name in names}
    return cls(**(stored | decoded))
