"""Sandbox ERP: builds a seeded Tryton 8.2 database once, copies it per instance, runs trytond.

``build_template`` creates the database (modules, company, accounts, taxes, catalogue, stock,
customers) and caches it: a SQLite file under ``$HUB_HOME/cache/tryton/`` or a template
database on PostgreSQL. Each instance is a copy (file copy or ``CREATE DATABASE .. TEMPLATE``)
with a freshly generated admin password, so a second start costs a copy, not a build.
``SandboxErp`` runs one instance as a subprocess on a free loopback port; ``serve`` runs one in
the foreground for ``hub sandbox erp``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import requests

from sandbox.erp_operator import ErpOperator
from sandbox.erp_seed import SEED_VERSION

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MODULES = ("sale", "stock", "account_invoice", "sale_price_list")
ADMIN_LOGIN = "admin"
BUILD_TIMEOUT = 600.0
START_TIMEOUT = 90.0


class SandboxErpError(RuntimeError):
    """The sandbox ERP could not be built or started; the message says where to look."""


def hub_home() -> Path:
    """$HUB_HOME or the project's .hub (the same rule as the hub's settings)."""
    return Path(os.environ.get("HUB_HOME") or PROJECT_ROOT / ".hub")


def default_cache_dir() -> Path:
    """Where built SQLite templates are kept: $HUB_HOME/cache/tryton."""
    return hub_home() / "cache" / "tryton"


def template_key(year: int | None = None) -> str:
    """What a template depends on: modules, seed version, trytond version, fiscal-year span."""
    from trytond import __version__ as trytond_version

    year = year or time.localtime().tm_year
    raw = json.dumps([sorted(MODULES), SEED_VERSION, trytond_version, year])
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def is_postgres(path_or_url: str | Path | None) -> bool:
    """True when the target names a PostgreSQL server rather than a SQLite file/directory."""
    return isinstance(path_or_url, str) and path_or_url.startswith(("postgresql:", "postgres:"))


def _tool(name: str) -> str:
    beside = Path(sys.executable).with_name(name)
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise SandboxErpError(f"{name} not found: install the sandbox extra (trytond) in .venv")
    return found


def _subprocess_env(passfile: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    env.pop("TRYTONPASSFILE", None)
    if passfile is not None:
        env["TRYTONPASSFILE"] = str(passfile)
    return env


def _write_config(
    path: Path,
    *,
    uri: str,
    sqlite_dir: Path | None,
    listen: str | None = None,
    session_timeout: int | None = None,
) -> Path:
    lines = ["[database]", f"uri = {uri}"]
    if sqlite_dir is not None:
        lines.append(f"path = {sqlite_dir}")
    lines += ["language = en", ""]
    if listen:
        lines += ["[web]", f"listen = {listen}", ""]
    if session_timeout:
        lines += ["[session]", f"timeout = {session_timeout}", ""]
    path.write_text("\n".join(lines))
    return path


def _run(cmd: list[str], *, env: dict[str, str], log_path: Path, what: str) -> None:
    with log_path.open("ab") as out:
        proc = subprocess.run(
            cmd,
            env=env,
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            input=b"\n",  # trytond-admin asks for the admin's email: none
            timeout=BUILD_TIMEOUT,
            check=False,
        )
    if proc.returncode != 0:
        tail = log_path.read_text(errors="replace")[-2000:]
        raise SandboxErpError(f"{what} failed (exit {proc.returncode}), log {log_path}:\n{tail}")


def _init_and_seed(config: Path, database: str, workdir: Path) -> None:
    """trytond-admin (modules) then the seed script, each in its own process."""
    passfile = workdir / "build.pass"
    passfile.write_text(secrets.token_urlsafe(24) + "\n")  # replaced per instance
    passfile.chmod(0o600)
    log_path = workdir / "build.log"
    started = time.monotonic()
    _run(
        [
            _tool("trytond-admin"),
            "-c",
            str(config),
            "-d",
            database,
            "--all",
            "-u",
            *MODULES,
            "--activate-dependencies",
        ],
        env=_subprocess_env(passfile),
        log_path=log_path,
        what="trytond-admin (module activation)",
    )
    _run(
        [sys.executable, "-m", "sandbox.erp_seed", "--config", str(config), "--database", database],
        env=_subprocess_env(),
        log_path=log_path,
        what="sandbox ERP seed",
    )
    passfile.unlink(missing_ok=True)
    log.info("built Tryton database %s in %.1fs", database, time.monotonic() - started)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- PostgreSQL helpers ---------------------------------------------------------------------


def _pg_server_url(url: str) -> str:
    """The server part of a PostgreSQL URL, without the database name (trytond's ``uri``)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/", "", ""))


def _pg_database_of(url: str) -> str | None:
    name = urlsplit(url).path.strip("/")
    return name or None


def _pg_connect(url: str, dbname: str = "postgres") -> psycopg.Connection[tuple[Any, ...]]:
    import psycopg

    parts = urlsplit(url)
    return psycopg.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or None,
        password=parts.password or None,
        dbname=dbname,
        autocommit=True,
        connect_timeout=10,
    )


def _pg_exists(url: str, name: str) -> bool:
    with _pg_connect(url) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        return row is not None


def _pg_ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise SandboxErpError(f"database name {name!r} must be letters, digits and underscores")
    return f'"{name}"'


def drop_postgres_database(url: str, name: str) -> None:
    """Drop a sandbox database on the server of ``url`` (forcing out open sessions)."""
    with _pg_connect(url) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {_pg_ident(name)} WITH (FORCE)")


def build_template(path_or_url: str | Path | None = None, *, cache_dir: Path | None = None) -> str:
    """Build (once) the seeded Tryton template and return where it is.

    SQLite (``None`` or a filesystem path): the cached template file's path
    (``<cache>/<key>.sqlite``). PostgreSQL (``postgresql://user@host:port[/db]``): the
    template database's name on that server. A second call finds the cache and returns at once.
    """
    key = template_key()
    if is_postgres(path_or_url):
        return _build_postgres_template(str(path_or_url), key)
    cache = cache_dir or default_cache_dir()
    target = cache / f"{key}.sqlite"
    if target.exists():
        return str(target)
    with _file_lock(cache / f"{key}.lock"):
        if target.exists():  # another process built it while we waited
            return str(target)
        with tempfile.TemporaryDirectory(prefix="tryton-build-", dir=cache) as tmp:
            workdir = Path(tmp)
            database = f"tpl_{key}"
            (workdir / f"{database}.sqlite").touch()
            config = _write_config(workdir / "trytond.conf", uri="sqlite://", sqlite_dir=workdir)
            _init_and_seed(config, database, workdir)
            os.replace(workdir / f"{database}.sqlite", target)
    return str(target)


def _build_postgres_template(url: str, key: str) -> str:
    name = f"hub_erp_tpl_{key}"
    if _pg_exists(url, name):
        return name
    building = f"{name}_building"
    with _pg_connect(url) as lock_conn:
        lock_conn.execute("SELECT pg_advisory_lock(%s)", (int(key[:12], 16),))
        try:
            if _pg_exists(url, name):
                return name
            drop_postgres_database(url, building)
            with _pg_connect(url) as conn:
                conn.execute(
                    f"CREATE DATABASE {_pg_ident(building)} ENCODING 'UTF8' TEMPLATE template0"
                )
            with tempfile.TemporaryDirectory(prefix="tryton-build-") as tmp:
                workdir = Path(tmp)
                config = _write_config(
                    workdir / "trytond.conf", uri=_pg_server_url(url), sqlite_dir=None
                )
                try:
                    _init_and_seed(config, building, workdir)
                except BaseException:
                    drop_postgres_database(url, building)
                    raise
            with _pg_connect(url) as conn:
                conn.execute(f"ALTER DATABASE {_pg_ident(building)} RENAME TO {_pg_ident(name)}")
        finally:
            lock_conn.execute("SELECT pg_advisory_unlock(%s)", (int(key[:12], 16),))
    return name


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


class SandboxErp:
    """A running sandbox trytond: ``with SandboxErp() as erp: erp.url, erp.database, ...``.

    The admin password is generated per instance, kept in memory and in a 0600 file in the
    work directory (``password_file``), never logged.
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
    ) -> None:
        self._db = db
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

    def command(self, config: Path) -> list[str]:
        """The trytond command line for ``config`` (the sandbox's server entry point)."""
        return [sys.executable, "-m", "sandbox.erp_server", "-c", str(config), "-d", self.database]

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
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

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

    def __enter__(self) -> SandboxErp:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

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
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    finally:
        signal.signal(signal.SIGTERM, previous)
