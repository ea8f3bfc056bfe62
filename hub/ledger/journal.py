"""The journal protocol, written once: intent, call, result; an unknown outcome follows a policy.

``once`` and ``once_many`` are how every flow causes a side effect. The intent is journaled
(with a lease, so two racing workers cause one effect), the call is made, the result is
recorded. When the outcome of an earlier attempt is unknown (a timeout after the request
went out, or a worker killed between the call and the commit), the caller's policy decides,
and a replay of the dead letter goes through the same call with the same policy:

- ``OnUnknown.look_up(find)``: ask the target by our reference first; act only when it
  provably holds nothing; when it cannot tell, leave the entry unknown for the next run;
- ``OnUnknown.dead_letter()``: never act again by itself; a person decides with the facts;
- ``OnUnknown.repeat()``: the call is an idempotent upsert, acting again is harmless.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy import and_, false, func, or_, select, update
from sqlalchemy.engine import Connection

from hub.ledger import tables as t
from hub.ledger.engine import LedgerBase, dumps, insert_new, loads, translate_db_errors, utcnow
from schemas.errors import (
    ConflictError,
    HubError,
    OutcomeUnknownError,
    PermanentError,
    TransientError,
)
from transforms.keys import Key, KeyKind, fields_of

R = TypeVar("R")

DEFAULT_LEASE = timedelta(minutes=10)
UNKNOWN_PREFIX = "outcome unknown: "


class Unknown(StrEnum):
    """What to do when an earlier attempt may or may not have reached the target."""

    LOOK_UP = "look_up"
    DEAD_LETTER = "dead_letter"
    REPEAT = "repeat"


@dataclass(frozen=True)
class OnUnknown(Generic[R]):
    """The policy for an unknown outcome, passed as data to ``once``/``once_many``.

    ``find`` (look-up policy) asks the target by our reference: it returns the result the
    first attempt produced, None when the target provably holds nothing, and raises
    ``OutcomeUnknownError`` (or ``TransientError``) when it cannot tell.
    """

    policy: Unknown
    find: Callable[[str], R | None] | None = None

    @classmethod
    def look_up(cls, find: Callable[[str], R | None]) -> OnUnknown[R]:
        """Ask the target by our reference (the key text is passed) before acting again."""
        return cls(Unknown.LOOK_UP, find)

    @classmethod
    def dead_letter(cls) -> OnUnknown[Any]:
        """Stop and hand the decision to a person (a dead letter with the facts)."""
        return cls(Unknown.DEAD_LETTER)

    @classmethod
    def repeat(cls) -> OnUnknown[Any]:
        """The call is safe to repeat (idempotent upsert, or the target dedups by our key)."""
        return cls(Unknown.REPEAT)


@dataclass(frozen=True)
class Effect:
    """What a journal entry records about its side effect (and its dead letter names)."""

    flow: str
    system: str
    action: str
    ref: str | None = None  # the business reference a person knows (order, shipment ...)
    partner: str | None = None
    what: str | None = None  # a phrase for messages, e.g. "shipment 42 (ERP id 7)"
    payload: Any = None  # kept in the dead letter for a replay


class Status(StrEnum):
    """How ``once`` ended for one key."""

    RAN = "ran"  # the call was made now and succeeded
    DONE_BEFORE = "done_before"  # an earlier attempt succeeded: result from the journal
    FOUND = "found"  # the look-up found what an earlier unknown attempt had created
    UNKNOWN = "unknown"  # the outcome is still unknown; the next attempt looks up first
    FAILED = "failed"  # a transient error: nothing happened, a later attempt calls again
    DEAD = "dead"  # refused or dead-lettered (now or earlier); a person decides
    CONFLICT = "conflict"  # the key was used before for other content


@dataclass
class Outcome(Generic[R]):
    """The result of one ``once`` for one key."""

    key: str
    status: Status
    result: R | None = None
    error: HubError | None = None
    dead_letter_id: int | None = None
    raised_now: bool = False  # the call itself failed permanently in this attempt

    @property
    def ok(self) -> bool:
        """The side effect exists (now or before): ``result`` is set."""
        return self.status in (Status.RAN, Status.DONE_BEFORE, Status.FOUND)

    @property
    def ran(self) -> bool:
        """The call was made by this attempt."""
        return self.status is Status.RAN


@dataclass
class Claim:
    """A claimed journal entry: what happened before, and what the caller must do now."""

    key: str
    state: str
    attempts: int
    result: Any = None
    prior: str | None = None  # the entry's state before this claim
    error: str | None = None

    @property
    def done(self) -> bool:
        """The side effect already happened: skip it and use ``result``."""
        return self.state == "done"

    @property
    def reconcile(self) -> bool:
        """An earlier attempt may have reached the target: look it up before creating again."""
        return self.state == "pending" and self.prior in ("pending", "unknown")


@dataclass
class OnceItem(Generic[R]):
    """One key of a ``once_many`` batch."""

    key: Key | str
    payload_hash: str
    effect: Effect
    outcome: Outcome[R] | None = field(default=None)


class JournalStore(LedgerBase):
    """Journal entries keyed by idempotency keys, with leases and unknown-outcome policies."""

    # -- the protocol -------------------------------------------------------------------
    def once(
        self,
        key: Key | str,
        payload_hash: str,
        call: Callable[[], R],
        *,
        on_unknown: OnUnknown[R],
        effect: Effect,
        encode: Callable[[R], Any] = lambda r: r,
        decode: Callable[[Any], R] = lambda v: v,
        on_done: Callable[[Connection, R], None] | None = None,
    ) -> Outcome[R]:
        """Cause ``call``'s side effect at most once for ``key``.

        Transient errors release the entry and propagate (retry later); a permanent error
        marks it dead and propagates; ``OutcomeUnknownError`` follows ``on_unknown``.
        ``on_done(conn, result)`` writes the caller's own records in the same transaction
        that marks the entry done.
        """
        item: OnceItem[R] = OnceItem(key, payload_hash, effect)
        outcomes = self.once_many(
            [item],
            lambda todo: [_wrap(call)],
            on_unknown=on_unknown,
            encode=encode,
            decode=decode,
            on_done=(lambda conn, _item, result: on_done(conn, result)) if on_done else None,
        )
        outcome = outcomes[0]
        if outcome.error is not None and (
            outcome.status in (Status.CONFLICT, Status.FAILED) or outcome.raised_now
        ):
            raise outcome.error
        return outcome

    def once_many(
        self,
        items: Sequence[OnceItem[R]],
        call: Callable[[list[OnceItem[R]]], Sequence[R | HubError]],
        *,
        on_unknown: OnUnknown[R],
        encode: Callable[[R], Any] = lambda r: r,
        decode: Callable[[Any], R] = lambda v: v,
        on_done: Callable[[Connection, OnceItem[R], R], None] | None = None,
    ) -> list[Outcome[R]]:
        """The batch form: claim every key, settle what the journal or a look-up knows,
        make ONE call for the rest (it returns a result or a HubError per item, in order),
        record each. A transient error of the whole call releases every claim and
        propagates; per-item transient errors are released and reported in the outcome."""
        todo: list[OnceItem[R]] = []
        for item in items:
            outcome = self._settle_before_call(item, on_unknown, encode, decode, on_done)
            if outcome is None:
                todo.append(item)
            else:
                item.outcome = outcome
        if todo:
            try:
                results = list(call(todo))
            except HubError as exc:
                for item in todo:
                    item.outcome = self._after_error(item, exc, on_unknown)
                if isinstance(exc, TransientError) and not isinstance(exc, OutcomeUnknownError):
                    raise
                return [item.outcome or Outcome(str(item.key), Status.DEAD) for item in items]
            except BaseException as exc:
                for item in todo:
                    self.fail(str(item.key), f"{exc.__class__.__name__}: {exc}", unknown=True)
                raise
            if len(results) != len(todo):
                raise PermanentError(
                    f"{todo[0].effect.action}: {len(results)} results for {len(todo)} requests",
                    system=todo[0].effect.system,
                )
            for item, res in zip(todo, results, strict=True):
                if isinstance(res, HubError):
                    item.outcome = self._after_error(item, res, on_unknown)
                else:
                    self._record_done(item, res, encode, on_done)
                    item.outcome = Outcome(str(item.key), Status.RAN, res)
        return [item.outcome or Outcome(str(item.key), Status.DEAD) for item in items]

    def _settle_before_call(
        self,
        item: OnceItem[R],
        on_unknown: OnUnknown[R],
        encode: Callable[[R], Any],
        decode: Callable[[Any], R],
        on_done: Callable[[Connection, OnceItem[R], R], None] | None,
    ) -> Outcome[R] | None:
        """An outcome known without calling (done, dead, conflict, found), or None: call."""
        key = str(item.key)
        try:
            claim = self.claim(
                item.key,
                item.payload_hash,
                flow=item.effect.flow,
                system=item.effect.system,
                action=item.effect.action,
                ref=item.effect.ref,
            )
        except ConflictError as exc:
            return Outcome(key, Status.CONFLICT, error=exc)
        if claim.done:
            return Outcome(key, Status.DONE_BEFORE, decode(claim.result))
        if claim.state == "dead":
            return Outcome(
                key,
                Status.DEAD,
                error=PermanentError(
                    f"{key!r} was dead-lettered earlier ({claim.error or 'no reason kept'}); "
                    "see `hub dead-letters list`",
                    system="ledger",
                ),
            )
        if not claim.reconcile or on_unknown.policy is Unknown.REPEAT:
            return None
        why = (
            "an earlier attempt stopped during the call"
            if claim.prior == "pending"
            else (claim.error or "an earlier attempt's outcome is unknown").removeprefix(
                UNKNOWN_PREFIX
            )
        )
        if on_unknown.policy is Unknown.DEAD_LETTER:
            return self._dead_unknown(item, why)
        return self._look_up(item, on_unknown, why, encode, on_done)

    def _look_up(
        self,
        item: OnceItem[R],
        on_unknown: OnUnknown[R],
        why: str,
        encode: Callable[[R], Any],
        on_done: Callable[[Connection, OnceItem[R], R], None] | None,
    ) -> Outcome[R] | None:
        key = str(item.key)
        assert on_unknown.find is not None, "OnUnknown.look_up needs a find function"
        try:
            found = on_unknown.find(key)
        except (OutcomeUnknownError, TransientError) as exc:
            self.fail(key, f"{UNKNOWN_PREFIX}{why}; the look-up could not tell: {exc}",
                      unknown=True)  # fmt: skip
            return Outcome(key, Status.UNKNOWN, error=exc)
        except PermanentError as exc:  # the target cannot be asked: a person decides
            return self._dead_unknown(item, f"{why}; the target cannot be asked: {exc}")
        if found is None:
            return None  # provably nothing there: act
        self._record_done(item, found, encode, on_done)
        return Outcome(key, Status.FOUND, found)

    def _dead_unknown(self, item: OnceItem[R], why: str) -> Outcome[R]:
        key = str(item.key)
        what = item.effect.what or f"{item.effect.action} {item.effect.ref or key}"
        reason = (
            f"{what}: the outcome of {item.effect.action} at {item.effect.system} is unknown "
            f"({why}). It may have happened under our reference {item.effect.ref or key}; "
            "it will NOT be repeated automatically. Look the reference up at "
            f"{item.effect.system}: if it exists, record it there and resolve this letter; if "
            "it provably does not, replay this letter with --confirm-absent."
        )
        with self.transaction() as conn:
            self.fail(key, UNKNOWN_PREFIX + reason, dead=True, conn=conn)
            letter = self._file_dead_letter(item, reason, "OutcomeUnknownError", conn)
        return Outcome(
            key,
            Status.DEAD,
            error=OutcomeUnknownError(reason, system=item.effect.system),
            dead_letter_id=letter,
        )

    def _after_error(
        self, item: OnceItem[R], exc: HubError, on_unknown: OnUnknown[R]
    ) -> Outcome[R]:
        key = str(item.key)
        if isinstance(exc, OutcomeUnknownError):
            if on_unknown.policy is Unknown.DEAD_LETTER:
                return self._dead_unknown(item, str(exc))
            self.fail(key, f"{UNKNOWN_PREFIX}{exc}", unknown=True)
            return Outcome(key, Status.UNKNOWN, error=exc)
        if exc.retryable:
            self.fail(key, str(exc))
            return Outcome(key, Status.FAILED, error=exc)
        self.fail(key, str(exc), dead=True)
        return Outcome(key, Status.DEAD, error=exc, raised_now=True)

    def _record_done(
        self,
        item: OnceItem[R],
        result: R,
        encode: Callable[[R], Any],
        on_done: Callable[[Connection, OnceItem[R], R], None] | None,
    ) -> None:
        with self.transaction() as conn:
            self.complete(str(item.key), encode(result), conn=conn)
            if on_done is not None:
                on_done(conn, item, result)

    def _file_dead_letter(
        self, item: OnceItem[Any], reason: str, error_class: str, conn: Connection
    ) -> int:
        filer = getattr(self, "dead_letter", None)
        assert filer is not None, "the Ledger composes the dead-letter store"
        return int(
            filer(
                item.effect.flow,
                str(item.key),
                reason,
                error_class=error_class,
                payload=item.effect.payload,
                system=item.effect.system,
                partner=item.effect.partner,
                conn=conn,
            )
        )

    # -- the entries --------------------------------------------------------------------
    def claim(
        self,
        key: Key | str,
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
        when another live worker holds the lease (retry later, it may finish it). A lease
        whose owner is provably dead (same host and its process gone, or its heartbeat
        stopped) is taken over at once.
        """
        text = str(key)
        fields = key.fields() if isinstance(key, Key) else fields_of(text)
        now = utcnow()
        with translate_db_errors(), self.engine.begin() as conn:
            insert_new(
                conn, t.journal, key=text, flow=flow, system=system, action=action,
                payload_hash=payload_hash, state="new", attempts=0, ref=ref,
                created_at=now, updated_at=now, **fields,
            )  # fmt: skip
            row = conn.execute(select(t.journal).where(t.journal.c.key == text)).one()
            if row.payload_hash != payload_hash:
                raise ConflictError(
                    f"idempotency key {text!r} was already used for different content "
                    f"(hash {row.payload_hash[:12]} vs {payload_hash[:12]}): refusing to overwrite",
                    system="ledger",
                )
            if row.state in ("done", "dead"):
                return Claim(text, row.state, row.attempts, loads(row.result), row.state, row.error)
            takeover = (
                row.state == "pending"
                and row.owner not in (None, self.owner)
                and row.lease_until is not None
                and row.lease_until >= now
                and self.owner_is_dead(row.owner, conn=conn)
            )
            won = conn.execute(
                update(t.journal)
                .where(
                    t.journal.c.key == text,
                    t.journal.c.state.in_(("new", "pending", "failed", "unknown")),
                    or_(
                        t.journal.c.owner.is_(None),
                        t.journal.c.owner == self.owner,
                        t.journal.c.lease_until < now,
                        and_(t.journal.c.owner == row.owner) if takeover else false(),
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
                    f"{text!r} is being processed by {row.owner} (lease until "
                    f"{row.lease_until}); retry after it finishes",
                    system="ledger",
                    retry_after=1.0,
                )
            prior = "new" if row.state == "new" else row.state
            return Claim(text, "pending", row.attempts + 1, None, prior, row.error)

    def complete(self, key: str, result: Any = None, *, conn: Connection | None = None) -> None:
        """Mark the side effect done, with its result (ids, numbers) for later skips."""
        with self._conn(conn) as c:
            c.execute(
                update(t.journal)
                .where(t.journal.c.key == str(key))
                .values(state="done", result=dumps(result), owner=None, lease_until=None,
                        error=None, updated_at=utcnow())
            )  # fmt: skip

    def fail(
        self,
        key: str,
        error: str,
        *,
        dead: bool = False,
        unknown: bool = False,
        conn: Connection | None = None,
    ) -> None:
        """Release the lease after a failure: ``dead`` stops further automatic attempts,
        ``unknown`` says the call may have reached the target (the next attempt follows the
        caller's policy); otherwise nothing happened and a retry simply calls again."""
        state = "dead" if dead else ("unknown" if unknown else "failed")
        with self._conn(conn) as c:
            c.execute(
                update(t.journal)
                .where(t.journal.c.key == str(key))
                .values(state=state, error=error[:4000], owner=None, lease_until=None,
                        updated_at=utcnow())
            )  # fmt: skip

    def reopen(self, key: str, *, confirmed_absent: bool = False) -> None:
        """Let a dead journal entry be attempted again (dead-letter replay).

        An entry that died of an unknown outcome comes back as *unknown*, so the replay goes
        through the caller's policy again (look up first, or a person); only a person's
        ``confirmed_absent`` (the target holds nothing) lets it act straight away.
        """
        entry = self.journal_entry(key)
        if entry is None:
            return
        was_unknown = (entry.get("error") or "").startswith(UNKNOWN_PREFIX)
        state = "unknown" if was_unknown and not confirmed_absent else "failed"
        with self.transaction() as c:
            c.execute(
                update(t.journal)
                .where(t.journal.c.key == key, t.journal.c.state.in_(("dead", "failed", "unknown")))
                .values(state=state, owner=None, lease_until=None, updated_at=utcnow())
            )

    def journal_entry(self, key: Key | str) -> dict[str, Any] | None:
        """The raw journal row of a key (for tests, trace and status)."""
        with self._read() as conn:
            row = conn.execute(select(t.journal).where(t.journal.c.key == str(key))).first()
        if row is None:
            return None
        data = dict(row._mapping)
        data["result"] = loads(data["result"])
        return data

    def journal_find(
        self,
        kind: KeyKind,
        *,
        subjects: Sequence[str] | None = None,
        scope: str | None = None,
        state: str | None = None,
        flow: str | None = None,
        result_field: tuple[str, Sequence[str]] | None = None,
    ) -> list[dict[str, Any]]:
        """Journal rows of one key kind, by subject/scope/state/flow (decoded results).

        ``result_field=(name, values)`` keeps rows whose result has ``name`` in ``values``
        (checked after decoding: JSON is never matched as text)."""
        j = t.journal
        conds = [j.c.kind == kind.value]
        if subjects is not None:
            if not subjects:
                return []
            conds.append(j.c.subject.in_(sorted(set(subjects))))
        if scope is not None:
            conds.append(j.c.scope == scope)
        if state is not None:
            conds.append(j.c.state == state)
        if flow is not None:
            conds.append(j.c.flow == flow)
        with self._read() as conn:
            rows = conn.execute(select(j).where(*conds).order_by(j.c.created_at)).all()
        found = []
        for row in rows:
            data = dict(row._mapping)
            data["result"] = loads(data["result"])
            if result_field is not None:
                name, values = result_field
                res = data["result"]
                if not isinstance(res, dict) or str(res.get(name)) not in set(values):
                    continue
            found.append(data)
        return found

    def journal_counts(self) -> dict[tuple[str, str], int]:
        """(flow, state) -> number of journal entries (status and metrics)."""
        j = t.journal
        with self._read() as conn:
            rows = conn.execute(
                select(j.c.flow, j.c.state, func.count()).group_by(j.c.flow, j.c.state)
            ).all()
        return {(flow, state): int(n) for flow, state, n in rows}


def _wrap(call: Callable[[], R]) -> R | HubError:
    """Run a single call, returning a HubError instead of raising it (batch shape)."""
    try:
        return call()
    except HubError as exc:
        return exc
