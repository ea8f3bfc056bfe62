"""Builds the sandbox ERP's seeded Tryton 8.2 template once and caches it (SQLite or PostgreSQL).

The template holds modules, company, accounts, taxes, catalogue, stock and customers
(``sandbox.erp_seed``). SQLite: a file under ``$HUB_HOME/cache/tryton/``; PostgreSQL: a
template database on that server. Its key follows modules, seed version, trytond version and
year, so a second build finds the cache and returns at once.
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
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from sandbox.erp_seed import SEED_VERSION

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MODULES = ("sale", "stock", "account_invoice", "sale_price_list", "sale_amendment")
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
