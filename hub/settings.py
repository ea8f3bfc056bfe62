"""Where the hub keeps its state and how it finds the systems it talks to (env, never files)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from schemas.errors import PermanentError

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def hub_home() -> Path:
    """The hub's working directory (ledger, archives, mailboxes): $HUB_HOME or ./.hub."""
    home = Path(os.environ.get("HUB_HOME") or PROJECT_ROOT / ".hub")
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PermanentError(
            f"HUB_HOME {home} cannot be created ({exc.strerror or exc}): point HUB_HOME at a "
            "writable directory",
            system="settings",
        ) from exc
    if not os.access(home, os.W_OK | os.X_OK):
        raise PermanentError(
            f"HUB_HOME {home} is not writable by this user: point HUB_HOME at a writable "
            "directory or fix its permissions",
            system="settings",
        )
    return home


def existing_hub_home() -> Path:
    """The hub home for read-only commands: it must exist (a typo must not read as healthy)."""
    home = Path(os.environ.get("HUB_HOME") or PROJECT_ROOT / ".hub")
    if not home.is_dir():
        raise PermanentError(
            f"HUB_HOME {home} does not exist: nothing has run there (check the path; "
            "flows create it on their first run)",
            system="settings",
        )
    return home


def config_dir() -> Path:
    """Partner profiles and mappings: $HUB_CONFIG_DIR or the project's config/."""
    return Path(os.environ.get("HUB_CONFIG_DIR") or PROJECT_ROOT / "config")


def database_url() -> str:
    """The ledger's database: $HUB_DATABASE_URL, else a SQLite file under the hub home."""
    url = os.environ.get("HUB_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{hub_home() / 'ledger.sqlite'}"


@dataclass(frozen=True)
class ConnectionInfo:
    """An Airflow-style connection: where a system is and how to log in."""

    conn_id: str
    conn_type: str | None = None
    host: str | None = None
    port: int | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    schema: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def base_url(self, default_scheme: str = "http") -> str:
        """scheme://host:port without credentials (safe to log)."""
        scheme = self.extra.get("scheme") or (
            self.conn_type if self.conn_type in ("http", "https") else default_scheme
        )
        port = f":{self.port}" if self.port else ""
        return f"{scheme}://{self.host}{port}"


def env_var(conn_id: str) -> str:
    """The environment variable Airflow reads a connection from."""
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def connection(conn_id: str) -> ConnectionInfo:
    """Resolve a connection from ``AIRFLOW_CONN_<ID>`` (JSON or URI form), as Airflow does.

    Inside a worker configured with a secrets backend instead, Airflow's own lookup is used.
    """
    raw = os.environ.get(env_var(conn_id))
    if raw:
        return parse_connection(conn_id, raw)
    try:  # a deployment may keep connections in Airflow's secrets backend instead
        from airflow.sdk import BaseHook  # noqa: PLC0415

        conn = BaseHook.get_connection(conn_id)
    except Exception as exc:  # noqa: BLE001 - any failure means: not configured
        raise PermanentError(
            f"connection {conn_id!r} is not configured: set {env_var(conn_id)} "
            '(JSON like {"conn_type": "http", "host": ..., "port": ..., "login": ..., '
            '"password": ..., "schema": ...}) or add it in Airflow',
            system="settings",
        ) from exc
    return ConnectionInfo(
        conn_id=conn_id,
        conn_type=conn.conn_type,
        host=conn.host,
        port=conn.port,
        login=conn.login,
        password=conn.password,
        schema=conn.schema,
        extra=conn.extra_dejson,
    )


def parse_connection(conn_id: str, raw: str) -> ConnectionInfo:
    """Parse Airflow's JSON or URI connection format."""
    raw = raw.strip()
    if raw.startswith("{"):
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise PermanentError(
                f"{env_var(conn_id)} is not valid JSON ({exc.msg} at {exc.pos})",
                system="settings",
            ) from exc
        extra = data.get("extra") or {}
        if isinstance(extra, str):
            extra = json.loads(extra) if extra else {}
        return ConnectionInfo(
            conn_id=conn_id,
            conn_type=data.get("conn_type"),
            host=data.get("host"),
            port=_port(conn_id, data.get("port")),
            login=data.get("login"),
            password=data.get("password"),
            schema=data.get("schema"),
            extra=extra,
        )
    parts = urlsplit(raw)
    try:
        port = parts.port
    except ValueError as exc:
        raise PermanentError(
            f"{env_var(conn_id)}: the port is not a number from 1 to 65535 ({exc})",
            system="settings",
        ) from exc
    return ConnectionInfo(
        conn_id=conn_id,
        conn_type=parts.scheme.replace("-", "_") or None,
        host=unquote(parts.hostname) if parts.hostname else None,
        port=port,
        login=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        schema=unquote(parts.path.lstrip("/")) or None,
        extra=dict(parse_qsl(parts.query)),
    )


def _port(conn_id: str, value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        port = int(value)
    except (TypeError, ValueError):
        port = -1
    if not 0 < port < 65536:
        raise PermanentError(
            f"{env_var(conn_id)}: port {value!r} is not a number from 1 to 65535",
            system="settings",
        )
    return port


def connection_json(
    *,
    conn_type: str,
    host: str,
    port: int | None = None,
    login: str | None = None,
    password: str | None = None,
    schema: str | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    """The JSON form of a connection, for ``AIRFLOW_CONN_*`` variables."""
    data: dict[str, Any] = {"conn_type": conn_type, "host": host}
    for key, value in (
        ("port", port),
        ("login", login),
        ("password", password),
        ("schema", schema),
        ("extra", extra),
    ):
        if value:
            data[key] = value
    return json.dumps(data)
