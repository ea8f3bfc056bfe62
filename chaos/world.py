"""The chaos world: sandbox ERP, CRM and carrier in this process, a temp hub home, a ledger.

Everything the hub sees comes through the environment handed to its ``hub`` subprocesses
(``AIRFLOW_CONN_HUB_*``, ``HUB_HOME``, ``HUB_DATABASE_URL``, ``HUB_CONFIG_DIR``), as in
``sandbox/demo.py``. The partner profiles are the project's ``config/`` plus one more
partner (a third seeded ERP customer), copied into the world's own config folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from sandbox.server import Running

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("CHAOS_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
EXTRA_PARTNER = "rheinhandel"  # the third partner: seeded ERP customer 3 (Rheinhandel KG)


def hub_command() -> list[str]:
    """The hub's CLI: the console script beside this interpreter, else ``python -m hub.cli``."""
    script = Path(sys.executable).with_name("hub")
    return [str(script)] if script.exists() else [sys.executable, "-m", "hub.cli"]


class WorldError(RuntimeError):
    """The world could not be set up; the message says what is missing."""


@dataclass(frozen=True)
class Partner:
    """What the driver needs of a partner profile: ids, mailboxes and acknowledgement policy."""

    id: str
    gln: str
    our_id: str
    inbox: Path
    outbox: Path
    contrl: str  # "always", "on_error", "never"
    ordrsp: bool
    documents: tuple[str, ...]
    message_type: str
    syntax_identifier: str
    decimal_mark: str


def _json_conn(**fields: Any) -> str:
    import json

    return json.dumps({k: v for k, v in fields.items() if v not in (None, "", {})})


def tryton_cache_dir() -> Path:
    """The cached Tryton template's folder: $HUB_HOME/cache/tryton of the caller, else .hub's."""
    outer = os.environ.get("HUB_HOME")
    base = Path(outer) if outer else PROJECT_ROOT / ".hub"
    return base / "cache" / "tryton"


def carrier_contracts_present() -> bool:
    """The DHL sandbox serves the real WSDLs from ../shared/contracts; without them, no carrier."""
    from sandbox.carrier_soap import contracts_present

    return contracts_present()


class World(Running):
    """Sandboxes, environment and folders of one chaos run: ``with World(...) as world:``."""

    stop_if_start_fails = True

    def __init__(self, *, seed: int, faults: float, ledger: str, keep: bool = False) -> None:
        if ledger not in ("sqlite", "postgresql"):
            raise WorldError(f"--ledger {ledger!r}: use sqlite or postgresql")
        self.seed = seed
        self.faults = faults
        self.ledger_kind = ledger
        self.keep = keep
        self.root = Path(tempfile.mkdtemp(prefix="chaos-"))
        self.home = self.root / "home"
        self.config_dir = self.root / "config"
        self.ledger_url = ""
        self._pg_database: str | None = None
        self._stack = ExitStack()
        self.erp: Any = None
        self.crm: Any = None
        self.carrier: Any = None
        self.partners: dict[str, Partner] = {}
        self.env: dict[str, str] = {}

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        if not carrier_contracts_present():
            raise WorldError(
                "the DHL contracts (../shared/contracts) are missing: the sandbox carrier "
                "cannot run, and the chaos suite needs every target system"
            )
        self.home.mkdir(parents=True)
        self._write_config()
        self.ledger_url = self._make_ledger()
        from sandbox.carrier import SandboxCarrier
        from sandbox.crm import SandboxCrm
        from sandbox.erp import SandboxErp, build_template

        build_template(None, cache_dir=tryton_cache_dir())  # once; later runs copy it
        self.erp = self._stack.enter_context(
            SandboxErp(workdir=self.root / "erp", cache_dir=tryton_cache_dir())
        )
        self.crm = self._stack.enter_context(
            SandboxCrm(rate_limit=190, fault_rate=self.faults, seed=self.seed, slow_seconds=1.5)
        )
        self.carrier = self._stack.enter_context(
            SandboxCarrier(fault_rate=self.faults, seed=self.seed, slow_seconds=1.5)
        )
        self.env = self._environment()
        self.hub("ledger", "upgrade", check=True)

    def stop(self) -> None:
        self._stack.close()
        if self._pg_database is not None:
            from sandbox.erp import drop_postgres_database

            try:
                drop_postgres_database(PG_ADMIN, self._pg_database)
            except Exception as exc:  # noqa: BLE001 - report and go on tearing down
                print(f"chaos: could not drop database {self._pg_database}: {exc}", file=sys.stderr)
            self._pg_database = None
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    # -- pieces -----------------------------------------------------------------------------

    def _write_config(self) -> None:
        shutil.copytree(PROJECT_ROOT / "config", self.config_dir)
        partners = self.config_dir / "partners"
        base = yaml.safe_load((partners / "kaufhaus-nord.yaml").read_text())
        from sandbox.erp_seed import customers

        rhein = customers()[2]
        base.update(
            id=EXTRA_PARTNER,
            name=rhein.name,
            decimal_mark=".",
            acknowledgements={"contrl": "always", "aperak": True, "ordrsp": True},
            channel={
                "type": "local",
                "inbox": f"partners/{EXTRA_PARTNER}/in",
                "outbox": f"partners/{EXTRA_PARTNER}/out",
            },
        )
        base["unb"]["partner_id"] = rhein.gln
        base["outbound"] = {**base["outbound"], "documents": ["DESADV", "INVOIC"]}
        base["outbound"].pop("invrpt_schedule", None)
        (partners / f"{EXTRA_PARTNER}.yaml").write_text(
            "# chaos suite: a third partner (seeded ERP customer 3)\n"
            + yaml.safe_dump(base, sort_keys=False)
        )
        for path in sorted(partners.glob("*.yaml")):
            data = yaml.safe_load(path.read_text())
            if not data.get("active", True):
                continue
            channel = data.get("channel") or {}
            if channel.get("type", "local") != "local":
                continue
            pid = data["id"]
            first = (data.get("messages") or [{}])[0]
            acks = data.get("acknowledgements") or {}
            self.partners[pid] = Partner(
                id=pid,
                gln=str(data["unb"]["partner_id"]),
                our_id=str(data["unb"]["our_id"]),
                inbox=self.home / (channel.get("inbox") or f"partners/{pid}/in"),
                outbox=self.home / (channel.get("outbox") or f"partners/{pid}/out"),
                contrl=str(acks.get("contrl", "always")),
                ordrsp=bool(acks.get("ordrsp", True)),
                documents=tuple((data.get("outbound") or {}).get("documents") or ()),
                message_type="ORDERS:D:{}:UN:{}".format(
                    first.get("release", "96A"), first.get("association", "EAN008")
                ),
                syntax_identifier=str(data.get("syntax_identifier", "UNOC")),
                decimal_mark=str(data.get("decimal_mark", ".")),
            )

    def _make_ledger(self) -> str:
        if self.ledger_kind == "sqlite":
            return f"sqlite:///{self.home / 'ledger.sqlite'}"
        import psycopg

        name = f"chaos_{os.getpid()}"
        try:
            with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{name}"')
        except psycopg.Error as exc:
            raise WorldError(f"PostgreSQL at {PG_ADMIN} is not usable: {exc}") from exc
        self._pg_database = name
        return PG_ADMIN.rsplit("/", 1)[0] + "/" + name

    def _environment(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AIRFLOW_CONN_", "HUB_", "PYTEST_"))
        }
        crm = urlsplit(self.crm.url)
        env.update(
            HUB_HOME=str(self.home),
            HUB_DATABASE_URL=self.ledger_url,
            HUB_CONFIG_DIR=str(self.config_dir),
            AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",
            PYTHONUNBUFFERED="1",
            COLUMNS="250",  # one-line errors from the CLI's rich console
            AIRFLOW_CONN_HUB_ERP=_json_conn(**self.erp.hub_connection()),
            AIRFLOW_CONN_HUB_CRM=_json_conn(
                conn_type="http",
                host=crm.hostname,
                port=crm.port,
                password=self.crm.token,
                extra={"account": "chaos-portal"},
            ),
            **{name: _json_conn(**conn) for name, conn in self.carrier.hub_connections().items()},
        )
        return env

    # -- the hub's CLI ------------------------------------------------------------------------

    def hub(
        self, *args: str, check: bool = False, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """``hub ARGS`` in this world (not killed: for setup and for counting)."""
        started = time.monotonic()
        proc = subprocess.run(
            [*hub_command(), *args],
            env=self.env,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise WorldError(
                f"hub {' '.join(args)} exited {proc.returncode} after "
                f"{time.monotonic() - started:.1f}s: {proc.stderr.strip()[-1500:]}"
            )
        return proc

    def operator(self) -> Any:
        """The ERP's staff (``sandbox.erp_operator.ErpOperator``) on the sandbox Tryton."""
        return self.erp.operator()

    def describe(self) -> dict[str, Any]:
        """Where everything is (no secrets)."""
        return {
            "root": str(self.root),
            "ledger": self.ledger_kind,
            "ledger_url": self.ledger_url.split("@")[-1],
            "erp": self.erp.url if self.erp else None,
            "crm": self.crm.url if self.crm else None,
            "carrier": self.carrier.url if self.carrier else None,
            "partners": sorted(self.partners),
            "faults": self.faults,
        }


class StaffSession:
    """Works as the ERP's staff of a world: logs in on first use, and again after ``reset()``."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._operator: Any = None

    @property
    def operator(self) -> Any:
        if self._operator is None:
            self._operator = self.world.operator()
        return self._operator

    def reset(self) -> None:
        """Log in again on the next step (after the ERP refused or dropped a call)."""
        self._operator = None
