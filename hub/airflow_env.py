"""Embedded Airflow environment: AIRFLOW_HOME under .hub, generated secrets, DB migration, pools.

Everything here must run BEFORE anything imports airflow: Airflow reads AIRFLOW_HOME and its
``AIRFLOW__*`` settings once, at import. ``configure()`` and ``ensure_db()`` therefore never
import airflow: the steps that need it (migrate, pools) run in a fresh ``python -m
hub.airflow_env`` process that inherits the finished environment.

Values the user already exported win (a production deployment sets its own PostgreSQL,
executor and secrets); only missing ones get the embedded defaults (SQLite, LocalExecutor).
Connections to the systems around the hub are never written here: they come from the
environment as ``AIRFLOW_CONN_HUB_*`` variables in Airflow's JSON form (see
``hub.settings.connection_json``).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import secrets
import stat
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(os.environ.get("HUB_PROJECT_DIR") or Path(__file__).resolve().parents[1])
DEFAULT_HOME = PROJECT_ROOT / ".hub" / "airflow"
DAGS_FOLDER = PROJECT_ROOT / "dags"
SECRETS_FILE_NAME = "secrets.json"
MIGRATED_MARKER_NAME = ".hub-migrated.json"
# The embedded default's login: one admin of Airflow's SimpleAuthManager, password generated
# once into this 0600 file (Airflow would otherwise generate it and print it to the log).
ADMIN_USER = "admin"
PASSWORDS_FILE_NAME = "simple_auth_manager_passwords.json"
SIMPLE_AUTH_MANAGER = (
    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
)

# Pools protect each external system from too many concurrent calls. DAG tasks name them.
POOLS: dict[str, dict[str, Any]] = {
    "erp": {"slots": 4, "description": "Calls to the ERP sales core (Tryton JSON-RPC)"},
    "crm": {"slots": 4, "description": "Calls to the CRM REST API (rate limited per account)"},
    "carrier": {"slots": 2, "description": "Calls to the carrier SOAP API"},
    "edi": {"slots": 2, "description": "Partner mailboxes (directory / SFTP)"},
}

# Setting name -> key in the secrets file. Values are generated once and kept mode 0600.
_SECRET_SETTINGS = {
    "AIRFLOW__CORE__FERNET_KEY": "fernet_key",
    "AIRFLOW__API_AUTH__JWT_SECRET": "jwt_secret",
    "AIRFLOW__API__SECRET_KEY": "api_secret_key",
}
MASK = "***"


def airflow_version() -> str:
    """Installed Airflow version, read from package metadata (does not import airflow)."""
    return metadata.version("apache-airflow-core")


def _new_secrets() -> dict[str, str]:
    return {
        # A Fernet key is 32 random bytes, url-safe base64 encoded.
        "fernet_key": base64.urlsafe_b64encode(os.urandom(32)).decode("ascii"),
        "jwt_secret": secrets.token_urlsafe(48),
        "api_secret_key": secrets.token_urlsafe(48),
    }


def load_or_create_secrets(path: Path) -> dict[str, str]:
    """Read the generated Airflow secrets at ``path``, creating the file (mode 0600) once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            path.chmod(0o600)
        stored: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
        missing = {k: v for k, v in _new_secrets().items() if k not in stored}
        if missing:
            stored.update(missing)
            _write_private(path, stored)
        return stored
    values = _new_secrets()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(values, handle)
    return values


def _write_private(path: Path, values: Mapping[str, str]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secrets-")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:  # mkstemp creates it 0600
        json.dump(dict(values), handle)
    os.replace(tmp, path)


def embedded_defaults(home: Path) -> dict[str, str]:
    """The non-secret settings of the embedded default (SQLite, LocalExecutor) for ``home``."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        # the hub's plugin is the installed hub's airflow.plugins entry point: this folder of
        # the home stays empty (loading the plugin from a folder too would register it twice)
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),
        # Auth on: no anonymous admin (the demo may export ..._ALL_ADMINS=True itself).
        "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / PASSWORDS_FILE_NAME),
    }


def ensure_admin_password(path: Path, user: str = ADMIN_USER) -> str:
    """The admin's password in SimpleAuthManager's file at ``path``, generated once (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    stored: dict[str, str] = {}
    if path.exists():
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            path.chmod(0o600)
        text = path.read_text(encoding="utf-8").strip()
        stored = json.loads(text) if text else {}
        if stored.get(user):
            return stored[user]
    stored[user] = secrets.token_urlsafe(18)
    _write_private(path, stored)
    return stored[user]


def environment(home: Path) -> dict[str, str]:
    """The complete embedded settings for ``home``, secrets included; ``os.environ`` untouched.

    For building a metadata database in a subprocess (``ensure_db(env=...)``) elsewhere than
    the current process's AIRFLOW_HOME.
    """
    home = home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    values = embedded_defaults(home)
    stored = load_or_create_secrets(home / SECRETS_FILE_NAME)
    values.update({name: stored[key] for name, key in _SECRET_SETTINGS.items()})
    ensure_admin_password(home / PASSWORDS_FILE_NAME)
    return values


def configure(home: Path | None = None, *, force: bool = False) -> dict[str, str]:
    """Set the embedded Airflow environment in ``os.environ``; call before importing airflow.

    The home is ``$AIRFLOW_HOME`` if exported, else ``home``, else ``<project>/.hub/airflow``.
    Variables already in the environment are kept unless ``force`` (tests use it to point a
    session at a throw-away home). Returns what this call set, with secret values masked so
    the result can be printed or logged.
    """
    exported = os.environ.get("AIRFLOW_HOME")
    if exported and not force:
        home = Path(exported)  # an exported home wins over the argument, like every setting
    home = (home or DEFAULT_HOME).resolve()
    home.mkdir(parents=True, exist_ok=True)
    wanted = embedded_defaults(home)
    applied: dict[str, str] = {}
    for name, value in wanted.items():
        if force or name not in os.environ:
            os.environ[name] = value
            applied[name] = value

    needed = [name for name in _SECRET_SETTINGS if force or name not in os.environ]
    if needed:
        stored = load_or_create_secrets(home / SECRETS_FILE_NAME)
        for name in needed:
            os.environ[name] = stored[_SECRET_SETTINGS[name]]
            applied[name] = MASK
    passwords = os.environ.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
    if passwords and os.environ.get("AIRFLOW__CORE__AUTH_MANAGER") == SIMPLE_AUTH_MANAGER:
        ensure_admin_password(Path(passwords))

    # Task processes spawned by the embedded scheduler must import the hub from the checkout.
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if str(PROJECT_ROOT) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(PROJECT_ROOT), *paths])
        applied["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return applied


def _setup_subprocess(step: str, env: Mapping[str, str] | None = None) -> None:
    """Run ``python -m hub.airflow_env STEP`` in a fresh process that imports airflow."""
    proc = subprocess.run(
        [sys.executable, "-m", "hub.airflow_env", step],
        env=dict(os.environ if env is None else env),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout)[-4000:]
        raise RuntimeError(f"Airflow {step} failed ({proc.returncode}):\n{tail}")


def create_pools() -> None:
    """Create or update the hub's pools in THIS process's metadata DB (imports airflow)."""
    from airflow.models.pool import Pool

    for name, spec in POOLS.items():
        Pool.create_or_update_pool(
            name=name, slots=spec["slots"], description=spec["description"], include_deferred=False
        )


def missing_pools(env: Mapping[str, str] | None = None) -> tuple[str, list[str]] | None:
    """(database shown without password, the hub's pools it lacks), read with SQLAlchemy
    from Airflow's ``slot_pool`` table without importing airflow; None when there is no
    metadata DB to check (no ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` and no embedded one)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    env = os.environ if env is None else env
    url = env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
    if not url:
        home = Path(env.get("AIRFLOW_HOME") or DEFAULT_HOME)
        if not (home / "airflow.db").is_file():
            return None
        url = f"sqlite:///{home / 'airflow.db'}"
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        return None
    where = make_url(url).render_as_string(hide_password=True)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            names = {row[0] for row in conn.execute(text("SELECT pool FROM slot_pool"))}
    except SQLAlchemyError:
        return None  # not migrated yet, or unreachable: `airflow db check` says more
    finally:
        engine.dispose()
    return where, [name for name in POOLS if name not in names]


def _migrate_and_create_pools() -> None:
    """``airflow db migrate`` through Airflow's own CLI parser, then the pools: one process."""
    from airflow.cli import cli_parser

    args = cli_parser.get_parser().parse_args(["db", "migrate"])
    args.func(args)
    create_pools()


def ensure_pools(env: Mapping[str, str] | None = None) -> None:
    """Create or update the hub's pools (``POOLS``) in the metadata DB of ``env``."""
    _setup_subprocess("pools", env)


def _migration_stamp(env: Mapping[str, str]) -> str:
    conn = env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    key = json.dumps({"db": conn, "pools": POOLS}, sort_keys=True)
    return json.dumps(
        {"airflow": airflow_version(), "key": hashlib.sha256(key.encode()).hexdigest()},
        sort_keys=True,
    )


def ensure_db(env: Mapping[str, str] | None = None) -> bool:
    """Run ``airflow db migrate`` and create the pools once; return False when already done.

    A marker in AIRFLOW_HOME records the Airflow version, the database and the pools it was
    done for, so a second call costs nothing; anything other than a SQLite file under the
    marker's home is always migrated (migrate is idempotent).
    """
    env = dict(os.environ if env is None else env)
    if "AIRFLOW_HOME" not in env:
        raise RuntimeError("AIRFLOW_HOME is not set: call hub.airflow_env.configure() first")
    marker = Path(env["AIRFLOW_HOME"]) / MIGRATED_MARKER_NAME
    conn = env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    stamp = _migration_stamp(env)
    db_file = Path(conn.removeprefix("sqlite:///")) if conn.startswith("sqlite:///") else None
    if (
        db_file is not None
        and db_file.exists()
        and marker.exists()
        and marker.read_text(encoding="utf-8") == stamp
    ):
        return False
    _setup_subprocess("setup", env)  # ~4 s: airflow db migrate + pools, one process
    if db_file is not None:
        marker.write_text(stamp, encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    """``python -m hub.airflow_env {env,migrate,pools,setup}``: used by make, compose, ensure_db.

    ``env`` and ``migrate`` fill in the embedded defaults first; ``pools`` and ``setup`` use
    the environment as it is (compose sets it completely) and import airflow in-process.
    """
    parser = argparse.ArgumentParser(prog="python -m hub.airflow_env", description=__doc__)
    parser.add_argument("command", choices=["env", "migrate", "pools", "setup"])
    args = parser.parse_args(argv)
    if args.command == "pools":
        create_pools()
        return 0
    if args.command == "setup":
        _migrate_and_create_pools()
        return 0
    applied = configure()
    if args.command == "env":
        for name, value in sorted(applied.items()):
            print(f"{name}={value}")
        return 0
    print("migrated" if ensure_db() else "already migrated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
