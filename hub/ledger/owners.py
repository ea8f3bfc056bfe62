"""Lease owners: who holds a journal lease or a run, and whether that owner is provably dead.

An owner is ``host:pid:nonce``. On the same host a missing process is proof; across hosts a
heartbeat (written every few seconds while a flow runs) that stopped long ago is.
"""

from __future__ import annotations

import os
import socket
import threading
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from hub.ledger import tables as t
from hub.ledger.engine import LedgerBase, insert_new, translate_db_errors, utcnow
from schemas.errors import TransientError

HEARTBEAT_EVERY = 5.0  # seconds
HEARTBEAT_STALE = timedelta(seconds=30)
HOST = socket.gethostname()


def process_gone(pid: int) -> bool:
    """True only when no process with ``pid`` exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def split_owner(owner: str) -> tuple[str, int | None]:
    """(host, pid) of an owner name; pid None when the name is not ours."""
    host, _, rest = owner.partition(":")
    pid, _, _ = rest.partition(":")
    return host, int(pid) if pid.isdigit() else None


class OwnerStore(LedgerBase):
    """Heartbeats of live owners and the dead-owner test the journal and runs use."""

    _beat_stop: threading.Event | None = None

    def owner_is_dead(self, owner: str | None, *, conn: Connection | None = None) -> bool:
        """Provably dead: same host and the process is gone, or its heartbeat went stale.

        Inside a write transaction pass its ``conn``: on SQLite a second connection would
        wait for the lock this one holds."""
        if not owner or owner == self.owner:
            return False
        host, pid = split_owner(owner)
        if host == HOST and pid is not None:
            return process_gone(pid)
        query = select(t.owners.c.beat_at).where(t.owners.c.owner == owner)
        if conn is not None:
            beat = conn.execute(query).scalar()
        else:
            with self._read() as read:
                beat = read.execute(query).scalar()
        return beat is not None and beat < utcnow() - HEARTBEAT_STALE

    def heartbeat(self, *, at: datetime | None = None) -> None:
        """Say this owner is alive (one small write); ``at`` backdates it (tests, imports)."""
        now = at or utcnow()
        with translate_db_errors(), self.engine.begin() as conn:
            done = conn.execute(
                update(t.owners).where(t.owners.c.owner == self.owner).values(beat_at=now)
            ).rowcount
            if not done:
                insert_new(conn, t.owners, owner=self.owner, host=HOST, beat_at=now)

    def start_heartbeat(self, every: float = HEARTBEAT_EVERY) -> None:
        """Beat in a daemon thread until ``stop_heartbeat`` (while a flow runs)."""
        if self._beat_stop is not None:
            return
        stop = threading.Event()
        self._beat_stop = stop
        self.heartbeat()

        def beat() -> None:
            while not stop.wait(every):
                try:
                    self.heartbeat()
                except TransientError:
                    continue  # a locked ledger: the next beat will do

        threading.Thread(target=beat, name="ledger-heartbeat", daemon=True).start()

    def stop_heartbeat(self) -> None:
        """Stop beating (the owner's row stays: its age tells it has stopped)."""
        if self._beat_stop is not None:
            self._beat_stop.set()
            self._beat_stop = None
