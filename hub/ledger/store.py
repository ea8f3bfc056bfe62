"""The ledger: the hub's memory of every side effect, so retries and reruns repeat nothing.

One SQLAlchemy engine, SQLite file by default and PostgreSQL in production, the same SQL.
The journal is claimed with a lease (an UPDATE that only one writer can win), so two workers
racing on one idempotency key cause one side effect; the loser is told to retry later.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Engine, and_, create_engine, event, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, OperationalError

from hub.ledger import tables as t
from schemas.errors import ConflictError, HubError, TransientError

R = TypeVar("R")

DEFAULT_LEASE = timedelta(minutes=10)


def utcnow() -> datetime:
    """The ledger's clock (UTC, aware)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Binding:
    """An external record bound to an ERP record."""

    system: str
    entity: str
    external_id: str
    erp_id: str
    content_hash: str | None


@dataclass
class Claim:
    """A claimed journal entry: what happened before, and what the caller must do now."""

    key: str
    state: str
    attempts: int
    result: Any = None

    @property
    def done(self) -> bool:
        """The side effect already happened: skip it and use ``result``."""
        return self.state == "done"

    @property
    def reconcile(self) -> bool:
        """An earlier attempt may have reached the target: look it up before creating again."""
        return self.state == "pending" and self.attempts > 1


@dataclass(frozen=True)
class DeadLetter:
    """A record the hub could not process, with the reason a person can act on."""

    id: int
    flow: str
    record_key: str
    system: str | None
    partner: str | None
    error_class: str
    reason: str
    payload: Any
    attempts: int
    state: str
    created_at: datetime
    updated_at: datetime
    resolved_by: str | None = None
    resolution: str | None = None


class Ledger:
    """Bindings, journal, interchanges, cursors, control numbers and dead letters."""

    def __init__(self, url: str, *, echo: bool = False, owner: str | None = None):
        self.url = url
        self.engine: Engine = _make_engine(url, echo=echo)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

    # -- schema -------------------------------------------------------------------------
    def upgrade(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        from hub.ledger.migrate import upgrade

        upgrade(self.engine)

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction: write results and move a cursor atomically."""
        with _translate_db_errors(), self.engine.begin() as conn:
            yield conn

    # -- bindings -----------------------------------------------------------------------
    def lookup(self, system: str, entity: str, external_id: str) -> Binding | None:
        """The ERP record bound to an external id, if any."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.bindings).where(
                    t.bindings.c.system == system,
                    t.bindings.c.entity == entity,
                    t.bindings.c.external_id == external_id,
                )
            ).first()
        return _binding(row) if row else None

    def lookup_erp(self, system: str, entity: str, erp_id: str) -> Binding | None:
        """The external record bound to an ERP id, if any."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.bindings).where(
                    t.bindings.c.system == system,
                    t.bindings.c.entity == entity,
                    t.bindings.c.erp_id == erp_id,
                )
            ).first()
        return _binding(row) if row else None

    def bindings_for(self, system: str, entity: str) -> dict[str, Binding]:
        """Every binding of one entity in one system, keyed by ERP id (for batch syncs)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.bindings).where(
                    t.bindings.c.system == system, t.bindings.c.entity == entity
                )
            ).all()
        return {row.erp_id: _binding(row) for row in rows}

    def bind(
        self,
        system: str,
        entity: str,
        external_id: str,
        erp_id: str,
        content_hash: str | None = None,
        *,
        conn: Connection | None = None,
    ) -> Binding:
        """Bind (or re-hash) an external id; binding it to another ERP id is a conflict."""
        now = utcnow()
        with self._conn(conn) as c:
            existing = c.execute(
                select(t.bindings).where(
                    t.bindings.c.system == system,
                    t.bindings.c.entity == entity,
                    t.bindings.c.external_id == external_id,
                )
            ).first()
            if existing is not None:
                if existing.erp_id != erp_id:
                    raise ConflictError(
                        f"{system} {entity} {external_id!r} is already bound to ERP id "
                        f"{existing.erp_id}, not {erp_id}",
                        system="ledger",
                    )
                if content_hash is not None and existing.content_hash != content_hash:
                    c.execute(
                        update(t.bindings)
                        .where(t.bindings.c.id == existing.id)
                        .values(content_hash=content_hash, updated_at=now)
                    )
            else:
                try:
                    with c.begin_nested():
                        c.execute(
                            insert(t.bindings).values(
                                system=system,
                                entity=entity,
                                external_id=external_id,
                                erp_id=erp_id,
                                content_hash=content_hash,
                                created_at=now,
                                updated_at=now,
                            )
                        )
                except IntegrityError:
                    return self.bind(system, entity, external_id, erp_id, content_hash, conn=c)
        return Binding(system, entity, external_id, erp_id, content_hash)

    # -- journal ------------------------------------------------------------------------
    def claim(
        self,
        key: str,
        payload_hash: str,
        *,
        flow: str,
        system: str,
        action: str,
        ref: str | None = None,
        lease: timedelta = DEFAULT_LEASE,
    ) -> Claim:
        """Record the intent for ``key`` and take the lease on it, or say it is done.

        Raises ConflictError when the key was used with another payload, and TransientError
        when another live worker holds the lease (retry later, it may finish it).
        """
        now = utcnow()
        with _translate_db_errors(), self.engine.begin() as conn:
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(t.journal).values(
                            key=key,
                            flow=flow,
                            system=system,
                            action=action,
                            payload_hash=payload_hash,
                            state="pending",
                            attempts=0,
                            ref=ref,
                            created_at=now,
                            updated_at=now,
                        )
                    )
            except IntegrityError:
                pass
            row = conn.execute(select(t.journal).where(t.journal.c.key == key)).one()
            if row.payload_hash != payload_hash:
                raise ConflictError(
                    f"idempotency key {key!r} was already used for different content "
                    f"(hash {row.payload_hash[:12]} vs {payload_hash[:12]}): refusing to overwrite",
                    system="ledger",
                )
            if row.state == "done":
                return Claim(key, "done", row.attempts, _loads(row.result))
            if row.state == "dead":
                return Claim(key, "dead", row.attempts, _loads(row.result))
            won = conn.execute(
                update(t.journal)
                .where(
                    t.journal.c.key == key,
                    t.journal.c.state.in_(("pending", "failed")),
                    or_(
                        t.journal.c.owner.is_(None),
                        t.journal.c.owner == self.owner,
                        t.journal.c.lease_until < now,
                    ),
                )
                .values(
                    owner=self.owner,
                    lease_until=now + lease,
                    attempts=t.journal.c.attempts + 1,
                    state="pending",
                    updated_at=now,
                )
            ).rowcount
            if won != 1:
                raise TransientError(
                    f"{key!r} is being processed by {row.owner} (lease until {row.lease_until}); "
                    "retry after it finishes",
                    system="ledger",
                    retry_after=1.0,
                )
            return Claim(key, "pending", row.attempts + 1)

    def complete(self, key: str, result: Any = None, *, conn: Connection | None = None) -> None:
        """Mark the side effect done, with its result (ids, numbers) for later skips."""
        with self._conn(conn) as c:
            c.execute(
                update(t.journal)
                .where(t.journal.c.key == key)
                .values(
                    state="done",
                    result=_dumps(result),
                    owner=None,
                    lease_until=None,
                    error=None,
                    updated_at=utcnow(),
                )
            )

    def fail(self, key: str, error: str, *, dead: bool, conn: Connection | None = None) -> None:
        """Release the lease after a failure; ``dead`` stops further automatic attempts."""
        with self._conn(conn) as c:
            c.execute(
                update(t.journal)
                .where(t.journal.c.key == key)
                .values(
                    state="dead" if dead else "failed",
                    error=error[:4000],
                    owner=None,
                    lease_until=None,
                    updated_at=utcnow(),
                )
            )

    def reopen(self, key: str) -> None:
        """Let a dead journal entry be attempted again (dead-letter replay)."""
        with self.engine.begin() as c:
            c.execute(
                update(t.journal)
                .where(t.journal.c.key == key, t.journal.c.state.in_(("dead", "failed")))
                .values(state="failed", owner=None, lease_until=None, updated_at=utcnow())
            )

    def journal_entry(self, key: str) -> dict[str, Any] | None:
        """The raw journal row of a key (for tests, trace and status)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(t.journal).where(t.journal.c.key == key)).first()
        if row is None:
            return None
        data = dict(row._mapping)
        data["result"] = _loads(data["result"])
        return data

    def once(
        self,
        key: str,
        payload_hash: str,
        effect: Callable[[], R],
        *,
        flow: str,
        system: str,
        action: str,
        ref: str | None = None,
        reconcile: Callable[[], R | None] | None = None,
        encode: Callable[[R], Any] = lambda r: r,
        decode: Callable[[Any], R] = lambda v: v,
    ) -> tuple[R, bool]:
        """Run ``effect`` at most once for ``key``; returns (result, did_run_now).

        A previous attempt that may have reached the target is reconciled first (``reconcile``
        looks the target up by its natural key). Permanent errors mark the entry dead;
        transient ones release it for a retry.
        """
        claim = self.claim(key, payload_hash, flow=flow, system=system, action=action, ref=ref)
        if claim.done:
            return decode(claim.result), False
        if claim.state == "dead":
            raise ConflictError(
                f"{key!r} was dead-lettered earlier; replay it from the dead letters",
                system="ledger",
            )
        try:
            if claim.reconcile and reconcile is not None:
                found = reconcile()
                if found is not None:
                    self.complete(key, encode(found))
                    return found, False
            result = effect()
        except HubError as exc:
            self.fail(key, str(exc), dead=not exc.retryable)
            raise
        except BaseException as exc:
            self.fail(key, f"{exc.__class__.__name__}: {exc}", dead=False)
            raise
        self.complete(key, encode(result))
        return result, True

    # -- interchanges -------------------------------------------------------------------
    def record_interchange(
        self,
        partner: str,
        direction: str,
        control_ref: str,
        file_hash: str,
        *,
        file_name: str | None = None,
        state: str = "received",
    ) -> tuple[dict[str, Any], bool]:
        """Register an interchange; returns (row, is_new). A repeat returns the first row."""
        now = utcnow()
        with _translate_db_errors(), self.engine.begin() as conn:
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(t.interchanges).values(
                            partner=partner,
                            direction=direction,
                            control_ref=control_ref,
                            file_hash=file_hash,
                            file_name=file_name,
                            state=state,
                            created_at=now,
                            updated_at=now,
                        )
                    )
                is_new = True
            except IntegrityError:
                is_new = False
            row = conn.execute(
                select(t.interchanges).where(
                    t.interchanges.c.partner == partner,
                    t.interchanges.c.direction == direction,
                    t.interchanges.c.control_ref == control_ref,
                )
            ).one()
        return dict(row._mapping), is_new

    def update_interchange(
        self,
        partner: str,
        direction: str,
        control_ref: str,
        *,
        conn: Connection | None = None,
        **values: Any,
    ) -> None:
        """Set state/ack/archive_path/detail of a registered interchange."""
        values["updated_at"] = utcnow()
        with self._conn(conn) as c:
            c.execute(
                update(t.interchanges)
                .where(
                    t.interchanges.c.partner == partner,
                    t.interchanges.c.direction == direction,
                    t.interchanges.c.control_ref == control_ref,
                )
                .values(**values)
            )

    def interchange(self, partner: str, direction: str, control_ref: str) -> dict[str, Any] | None:
        """One interchange row, if registered."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.interchanges).where(
                    t.interchanges.c.partner == partner,
                    t.interchanges.c.direction == direction,
                    t.interchanges.c.control_ref == control_ref,
                )
            ).first()
        return dict(row._mapping) if row else None

    # -- cursors ------------------------------------------------------------------------
    def cursor(self, stream: str) -> tuple[str | None, list[str]]:
        """The stream's watermark and the hashes of rows already seen at that value."""
        with self.engine.connect() as conn:
            row = conn.execute(select(t.cursors).where(t.cursors.c.stream == stream)).first()
        if row is None:
            return None, []
        return row.value, json.loads(row.tie_hashes or "[]")

    def advance_cursor(
        self,
        stream: str,
        value: str,
        tie_hashes: list[str] | None = None,
        *,
        conn: Connection | None = None,
    ) -> None:
        """Move the watermark; call it inside the transaction that marks the batch done."""
        now = utcnow()
        ties = json.dumps(sorted(tie_hashes or []))
        with self._conn(conn) as c:
            changed = c.execute(
                update(t.cursors)
                .where(t.cursors.c.stream == stream)
                .values(value=value, tie_hashes=ties, updated_at=now)
            ).rowcount
            if not changed:
                c.execute(
                    insert(t.cursors).values(
                        stream=stream, value=value, tie_hashes=ties, updated_at=now
                    )
                )

    def cursors(self) -> dict[str, tuple[str | None, datetime]]:
        """All streams and their watermarks (for status)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.cursors)).all()
        return {row.stream: (row.value, row.updated_at) for row in rows}

    # -- control numbers ----------------------------------------------------------------
    def control_number(self, scope: str, document_key: str) -> int:
        """The control number of a document in a scope: allocated once, the same on retry."""
        for _ in range(20):
            with _translate_db_errors(), self.engine.begin() as conn:
                row = conn.execute(
                    select(t.control_numbers.c.number).where(
                        t.control_numbers.c.scope == scope,
                        t.control_numbers.c.document_key == document_key,
                    )
                ).first()
                if row is not None:
                    return int(row.number)
                try:
                    with conn.begin_nested():
                        conn.execute(insert(t.control_counters).values(scope=scope, last=0))
                except IntegrityError:
                    pass
                conn.execute(
                    update(t.control_counters)
                    .where(t.control_counters.c.scope == scope)
                    .values(last=t.control_counters.c.last + 1)
                )
                number = conn.execute(
                    select(t.control_counters.c.last).where(t.control_counters.c.scope == scope)
                ).scalar_one()
                try:
                    with conn.begin_nested():
                        conn.execute(
                            insert(t.control_numbers).values(
                                scope=scope,
                                document_key=document_key,
                                number=number,
                                created_at=utcnow(),
                            )
                        )
                except IntegrityError:
                    continue  # another writer allocated this document meanwhile: read theirs
                return int(number)
        raise TransientError(f"could not allocate a control number in {scope}", system="ledger")

    # -- dead letters -------------------------------------------------------------------
    def dead_letter(
        self,
        flow: str,
        record_key: str,
        reason: str,
        *,
        error_class: str,
        payload: Any = None,
        system: str | None = None,
        partner: str | None = None,
        conn: Connection | None = None,
    ) -> int:
        """File (or re-file) a dead letter; one open letter per (flow, record_key)."""
        now = utcnow()
        with self._conn(conn) as c:
            row = c.execute(
                select(t.dead_letters.c.id).where(
                    t.dead_letters.c.flow == flow,
                    t.dead_letters.c.record_key == record_key,
                    t.dead_letters.c.state == "open",
                )
            ).first()
            if row is not None:
                c.execute(
                    update(t.dead_letters)
                    .where(t.dead_letters.c.id == row.id)
                    .values(
                        reason=reason,
                        error_class=error_class,
                        attempts=t.dead_letters.c.attempts + 1,
                        updated_at=now,
                        **({"payload": _dumps(payload)} if payload is not None else {}),
                    )
                )
                return int(row.id)
            result = c.execute(
                insert(t.dead_letters).values(
                    flow=flow,
                    record_key=record_key,
                    system=system,
                    partner=partner,
                    error_class=error_class,
                    reason=reason,
                    payload=_dumps(payload),
                    attempts=1,
                    state="open",
                    created_at=now,
                    updated_at=now,
                )
            )
            key = result.inserted_primary_key
            assert key is not None  # a single-row INSERT always reports its key
            return int(key[0])

    def dead_letters(
        self,
        *,
        state: str | None = "open",
        flow: str | None = None,
        partner: str | None = None,
        error_class: str | None = None,
        older_than: datetime | None = None,
        limit: int = 1000,
    ) -> list[DeadLetter]:
        """Dead letters matching the filters, oldest first."""
        dl = t.dead_letters
        conds = []
        if state:
            conds.append(dl.c.state == state)
        if flow:
            conds.append(dl.c.flow == flow)
        if partner:
            conds.append(dl.c.partner == partner)
        if error_class:
            conds.append(dl.c.error_class == error_class)
        if older_than:
            conds.append(dl.c.created_at < older_than)
        query = select(dl).where(and_(True, *conds)).order_by(dl.c.id).limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [_dead_letter(row) for row in rows]

    def dead_letter_by_id(self, letter_id: int) -> DeadLetter | None:
        """One dead letter."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.dead_letters).where(t.dead_letters.c.id == letter_id)
            ).first()
        return _dead_letter(row) if row else None

    def close_dead_letter(
        self, letter_id: int, state: str, *, by: str | None = None, note: str | None = None
    ) -> None:
        """Mark a dead letter replayed, resolved or discarded, keeping who/why for the audit."""
        with self.engine.begin() as c:
            c.execute(
                update(t.dead_letters)
                .where(t.dead_letters.c.id == letter_id)
                .values(state=state, resolved_by=by, resolution=note, updated_at=utcnow())
            )

    def count_dead_letters(self, state: str = "open") -> dict[str, int]:
        """Open dead letters per flow."""
        dl = t.dead_letters
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(dl.c.flow, func.count()).where(dl.c.state == state).group_by(dl.c.flow)
            ).all()
        return {flow: int(n) for flow, n in rows}

    # -- shared rate budget -------------------------------------------------------------
    def take_tokens(self, key: str, capacity: float, per_second: float, n: float = 1.0) -> float:
        """Token bucket shared by every process on this ledger: 0.0 if granted, else seconds
        to wait before asking again (nothing is taken then)."""
        now = time.time()
        with _translate_db_errors(), self.engine.begin() as conn:
            query = select(t.rate_buckets).where(t.rate_buckets.c.key == key)
            if conn.dialect.name == "postgresql":
                query = query.with_for_update()
            row = conn.execute(query).first()
            if row is None:
                try:
                    with conn.begin_nested():
                        conn.execute(
                            insert(t.rate_buckets).values(key=key, tokens=capacity, stamp=now)
                        )
                except IntegrityError:
                    pass
                row = conn.execute(query).one()
            tokens = min(capacity, row.tokens + (now - row.stamp) * per_second)
            if tokens >= n:
                conn.execute(
                    update(t.rate_buckets)
                    .where(t.rate_buckets.c.key == key)
                    .values(tokens=tokens - n, stamp=now)
                )
                return 0.0
            return (n - tokens) / per_second if per_second > 0 else 1.0

    # -- helpers ------------------------------------------------------------------------
    @contextmanager
    def _conn(self, conn: Connection | None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
        else:
            with _translate_db_errors(), self.engine.begin() as c:
                yield c


def _make_engine(url: str, *, echo: bool) -> Engine:
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
def _translate_db_errors() -> Iterator[None]:
    try:
        yield
    except OperationalError as exc:
        raise TransientError(
            f"ledger database unavailable or locked: {exc.orig.__class__.__name__}",
            system="ledger",
        ) from exc


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str, sort_keys=True)


def _loads(value: str | None) -> Any:
    return None if value is None else json.loads(value)


def _binding(row: Any) -> Binding:
    return Binding(row.system, row.entity, row.external_id, row.erp_id, row.content_hash)


def _dead_letter(row: Any) -> DeadLetter:
    data = dict(row._mapping)
    data["payload"] = _loads(data["payload"])
    return DeadLetter(**data)
