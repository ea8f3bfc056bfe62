"""Sandbox ERP: a copy of the seeded Tryton template per instance, and trytond running on it.

``sandbox.erp_build.build_template`` builds the seeded database once and caches it. Each
instance is a copy (file copy or ``CREATE DATABASE .. TEMPLATE``) with a freshly generated
admin password, so a second start costs a copy, not a build. ``SandboxErp`` runs one instance
as a subprocess on a free loopback port; ``serve`` runs one in the foreground for
``hub sandbox erp``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from sandbox.erp_build import (
    ADMIN_LOGIN,
    PROJECT_ROOT,
    START_TIMEOUT,
    SandboxErpError,
    _pg_connect,
    _pg_database_of,
    _pg_exists,
    _pg_ident,
    _pg_server_url,
    _subprocess_env,
    _write_config,
    build_template,
    drop_postgres_database,
    hub_home,
    is_postgres,
)
from sandbox.erp_operator import ErpOperator
from sandbox.server import Running

__all__ = [
    "ErpInstance",
    "SandboxErp",
    "SandboxErpError",
    "build_template",
    "create_instance",
    "drop_postgres_database",
    "free_port",
    "serve",
]


def _hash_password(password: str) -> str:
    import pwdlib
    import pwdlib.hashers.argon2

    return pwdlib.PasswordHash([pwdlib.hashers.argon2.Argon2Hasher()]).hash(password)


@dataclass
class ErpInstance:
    """One sandbox database ready for trytond: where it is and how trytond reaches it."""

    database: str
    uri: str
    sqlite_dir: Path | None
    server_url: str | None = None  # PostgreSQL server, when not SQLite
    created: bool = False

    def set_admin_password(self, password: str) -> None:
        """Store a fresh password hash for the admin user directly in the database."""
        hashed = _hash_password(password)
        self._execute(
            "UPDATE res_user SET password_hash = {p} WHERE login = {p}", (hashed, ADMIN_LOGIN)
        )

    def expire_sessions(self) -> int:
        """Delete every login session (what an expired session looks like to a client)."""
        return self._execute("DELETE FROM ir_session WHERE 1 = 1", ())

    def _execute(self, sql: str, params: tuple[object, ...]) -> int:
        if self.sqlite_dir is not None:
            with (
                contextlib.closing(
                    sqlite3.connect(self.sqlite_dir / f"{self.database}.sqlite", timeout=30)
                ) as conn,
                conn,
            ):
                return conn.execute(sql.format(p="?"), params).rowcount
        assert self.server_url is not None
        with _pg_connect(self.server_url, self.database) as pg:
            return pg.execute(sql.format(p="%s"), params).rowcount

    def drop(self) -> None:
        """Remove the instance's database (file or PostgreSQL database)."""
        if self.sqlite_dir is not None:
            (self.sqlite_dir / f"{self.database}.sqlite").unlink(missing_ok=True)
        elif self.server_url is not None:
            drop_postgres_database(self.server_url, self.database)


def create_instance(
    db: str | Path | None, *, workdir: Path, cache_dir: Path | None = None
) -> ErpInstance:
    """A database for one server: an existing one is reused, otherwise copied from the template.

    ``db`` is None (a fresh SQLite copy in ``workdir``), a SQLite file path (kept across
    restarts) or a PostgreSQL URL (its database name, or a unique generated one).
    """
    if is_postgres(db):
        url = str(db)
        template = build_template(url)
        name = _pg_database_of(url) or f"hub_erp_{secrets.token_hex(6)}"
        instance = ErpInstance(
            database=name, uri=_pg_server_url(url), sqlite_dir=None, server_url=url
        )
        if not _pg_exists(url, name):
            with _pg_connect(url) as conn:
                conn.execute(f"CREATE DATABASE {_pg_ident(name)} TEMPLATE {_pg_ident(template)}")
            instance.created = True
        return instance
    template_file = Path(build_template(None, cache_dir=cache_dir))
    if db is None:
        target = workdir / f"erp_{secrets.token_hex(4)}.sqlite"
    else:
        target = Path(db)
        if target.suffix != ".sqlite":
            target = target / "erp.sqlite"
    target.parent.mkdir(parents=True, exist_ok=True)
    instance = ErpInstance(
        database=target.stem, uri="sqlite://", sqlite_dir=target.parent.resolve()
    )
    if not target.exists():
        shutil.copyfile(template_file, target)
        instance.created = True
    return instance


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS just handed out for ``host`` (bind to 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class SandboxErp(Running):
    """A running sandbox trytond: ``with SandboxErp() as erp: erp.url, erp.database, ...``.

    The admin password is generated per instance, kept in memory and in a 0600 file in the
    work directory (``password_file``), never logged. ``workers`` > 1 runs that many trytond
    worker processes (``sandbox.erp_server``), so concurrent clients run in parallel; use it
    with a PostgreSQL database (SQLite serialises writers).
    """

    def __init__(
        self,
        db: str | Path | None = None,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        workdir: Path | None = None,
        cache_dir: Path | None = None,
        password: str | None = None,
        session_timeout: int | None = None,
        drop_on_stop: bool | None = None,
        workers: int = 1,
    ) -> None:
        self._db = db
        self.workers = workers  # trytond worker processes (>1: parallel, best on PostgreSQL)
        self._requested_port = port
        self.host = host
        self.port = port
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="hub-erp-"))
        self._cache_dir = cache_dir
        self.password = password or secrets.token_urlsafe(18)
        self._session_timeout = session_timeout
        self._drop_on_stop = drop_on_stop
        self.login = ADMIN_LOGIN
        self.instance: ErpInstance | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.workdir / "trytond.log"
        self.password_file = self.workdir / "admin.pass"

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def database(self) -> str:
        """The Tryton database name (the ``/<db>/`` of every URL)."""
        if self.instance is None:
            raise SandboxErpError("sandbox ERP not started")
        return self.instance.database

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8000/`` (the connector adds ``/<db>/rpc/``)."""
        return f"http://{self.host}:{self.port}/"

    @property
    def rpc_url(self) -> str:
        """The JSON-RPC endpoint of the sandbox database."""
        return f"{self.url}{self.database}/rpc/"

    def hub_connection(self) -> dict[str, Any]:
        """The fields of the hub's connection to this sandbox (``AIRFLOW_CONN_HUB_ERP``)."""
        return {
            "conn_type": "tryton",
            "host": self.host,
            "port": self.port,
            "login": self.login,
            "password": self.password,
            "schema": self.database,
        }

    def command(self, config: Path) -> list[str]:
        """The trytond command line for ``config`` (the sandbox's server entry point)."""
        workers = ["--workers", str(self.workers)] if self.workers > 1 else []
        return [
            sys.executable, "-m", "sandbox.erp_server", "-c", str(config), "-d", self.database,
            *workers,
        ]  # fmt: skip

    def prepare(self) -> Path:
        """Copy/reuse the database, set the admin password, write trytond.conf; return its path."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.instance = create_instance(self._db, workdir=self.workdir, cache_dir=self._cache_dir)
        self.instance.set_admin_password(self.password)
        self.password_file.write_text(self.password + "\n")
        self.password_file.chmod(0o600)
        if not self._requested_port:
            self.port = free_port(self.host)
        return _write_config(
            self.workdir / "trytond.conf",
            uri=self.instance.uri,
            sqlite_dir=self.instance.sqlite_dir,
            listen=f"{self.host}:{self.port}",
            session_timeout=self._session_timeout,
        )

    def start(self, timeout: float = START_TIMEOUT) -> SandboxErp:
        """Start trytond in the background and wait until a JSON-RPC login succeeds."""
        config = self.prepare()
        for attempt in range(3):
            with self.log_path.open("ab") as out:
                self._proc = subprocess.Popen(
                    self.command(config),
                    cwd=PROJECT_ROOT,
                    env=_subprocess_env(),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            try:
                self._wait_ready(timeout)
                return self
            except SandboxErpError:
                in_use = "Address already in use" in self._log_tail()
                self._terminate()
                if not (in_use and not self._requested_port and attempt < 2):
                    raise
                self.port = free_port(self.host)
                config = _write_config(
                    config,
                    uri=self.instance.uri if self.instance else "",
                    sqlite_dir=self.instance.sqlite_dir if self.instance else None,
                    listen=f"{self.host}:{self.port}",
                    session_timeout=self._session_timeout,
                )
        raise SandboxErpError("unreachable")

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except FileNotFoundError:
            return ""

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        body = {
            "id": 0,
            "method": "common.db.login",
            "params": [self.login, {"password": self.password}],
        }
        while True:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise SandboxErpError(
                    f"trytond exited with {self._proc.returncode} before answering; "
                    f"log {self.log_path}:\n{self._log_tail()}"
                )
            try:
                response = requests.post(self.rpc_url, json=body, timeout=2)
                if response.status_code == 200 and "result" in response.json():
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise SandboxErpError(
                    f"trytond on {self.url} did not answer within {timeout:.0f}s; "
                    f"log {self.log_path}:\n{self._log_tail()}"
                )
            time.sleep(0.1)

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            _end(proc)

    def stop(self) -> None:
        """Stop trytond; drop a database this sandbox created unless it was asked to keep it."""
        self._terminate()
        if self.instance is not None:
            drop = self._drop_on_stop
            if drop is None:
                drop = (
                    self.instance.created
                    and self._db is None
                    or (
                        self.instance.created
                        and is_postgres(self._db)
                        and _pg_database_of(str(self._db)) is None
                    )
                )
            if drop:
                self.instance.drop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def running(self) -> bool:
        """Whether the trytond process is alive."""
        return self._proc is not None and self._proc.poll() is None

    # -- operator actions (what the ERP's users would do) ------------------------------------

    def operator(self) -> ErpOperator:
        """A JSON-RPC client acting as the ERP's staff (ship, invoice, count stock)."""
        return ErpOperator(self.url, self.database, self.login, self.password)

    def expire_sessions(self) -> int:
        """Invalidate every session, as a server-side expiry would."""
        if self.instance is None:
            raise SandboxErpError("sandbox ERP not started")
        return self.instance.expire_sessions()


def serve(port: int = 8000, db: str | None = None, host: str = "127.0.0.1") -> None:
    """Build/copy the sandbox database and run trytond in the foreground (``hub sandbox erp``).

    ``db``: None keeps the database in ``$HUB_HOME/sandbox/erp/erp.sqlite`` (state survives a
    restart), a SQLite path, or a PostgreSQL URL. The admin password comes from
    ``$HUB_SANDBOX_ERP_PASSWORD`` or is generated and written to a 0600 file whose path is
    printed (never the password itself).
    """
    workdir = hub_home() / "sandbox" / "erp"
    target: str | Path = db if db else workdir / "erp.sqlite"
    erp = SandboxErp(
        target,
        port=port,
        host=host,
        workdir=workdir,
        password=os.environ.get("HUB_SANDBOX_ERP_PASSWORD") or None,
        drop_on_stop=False,
    )
    config = erp.prepare()
    print(f"sandbox ERP: {erp.url} database {erp.database!r} login {erp.login!r}", flush=True)
    print(f"admin password in {erp.password_file} (0600)", flush=True)
    print(f"JSON-RPC endpoint: {erp.rpc_url}", flush=True)
    proc = subprocess.Popen(erp.command(config), cwd=PROJECT_ROOT, env=_subprocess_env())

    def _stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        proc.wait()
    except KeyboardInterrupt:
        _end(proc)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _end(proc: subprocess.Popen[bytes]) -> None:
    """Stop trytond: SIGTERM, and SIGKILL when it has not exited within 10 s."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
