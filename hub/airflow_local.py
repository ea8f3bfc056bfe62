"""`make airflow`: Airflow 3 for real on this machine, with the hub's DAGs and plugin.

Starts the api-server, scheduler, dag-processor and triggerer as separate processes on the
embedded default (``hub.airflow_env``: AIRFLOW_HOME ``.hub/airflow``, SQLite,
LocalExecutor), everything on 127.0.0.1: the api-server binds the loopback address, and the
scheduler and triggerer run without their log servers (those bind every interface; with
LocalExecutor the api-server reads the task logs from the shared log folder instead).
Before that, idempotently: connections from ``.env`` (variables already exported win), the
metadata DB migrated, the hub's pools created or updated, the ledger upgraded. Prints the
URL and the login, then runs until Ctrl-C (or SIGTERM) and stops every process it started.

With ``--sandbox`` (``make airflow SANDBOX=1``) the sandbox ERP, CRM and carrier start first
(``python -m sandbox.local_systems``, a process: the hub never imports the sandbox), their
connections are used, the hub's DAGs start unpaused and a simulated partner sends ORDERS
every few minutes: scheduled runs to watch in the UI.

    python -m hub.airflow_local [--port 8080] [--sandbox] [--env-file .env]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub import airflow_env

COMPONENTS: dict[str, list[str]] = {
    "api-server": ["api-server", "--host", "127.0.0.1", "--port", "{port}"],
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
}
READY_TIMEOUT = 300.0  # the first start on a busy 2-core machine takes a minute or two


def load_env_file(
    path: Path, prefixes: tuple[str, ...] = ("AIRFLOW_CONN_", "HUB_")
) -> dict[str, str]:
    """The connections (``AIRFLOW_CONN_*``) and hub settings (``HUB_*``) of a .env file
    (python-dotenv's rules: quotes, comments), without the empty ones; the compose stack's
    other settings in the same file (PostgreSQL, Redis passwords) are not for this run."""
    from dotenv import dotenv_values

    if not path.is_file():
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v and k.startswith(prefixes)}


@dataclass
class Local:
    """The running processes of one `make airflow`, their log files, how to stop them."""

    logs: Path
    env: dict[str, str]
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, argv: list[str]) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        with open(self.logs / f"{name}.log", "ab") as out:
            self.procs[name] = subprocess.Popen(
                argv, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=airflow_env.PROJECT_ROOT,
            )  # fmt: skip

    def dead(self) -> dict[str, int]:
        return {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}

    def tail(self, name: str, lines: int = 15) -> str:
        text = (self.logs / f"{name}.log").read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM every process group, then SIGKILL what is still there after 30 s."""
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _wait(local: Local, what: str, ready: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if local.dead():
            name, code = next(iter(local.dead().items()))
            raise RuntimeError(f"{name} exited ({code}) while waiting for {what}:\n"
                               f"{local.tail(name)}")  # fmt: skip
        if ready():
            return
        time.sleep(1)  # polling a server that is starting, not synchronisation
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=5) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _prepare(args: argparse.Namespace, local: Local) -> None:
    """Environment, sandbox connections, metadata DB, pools and ledger (all idempotent)."""
    for name, value in load_env_file(args.env_file).items():
        os.environ.setdefault(name, value)
    airflow_env.configure()
    url = f"http://127.0.0.1:{args.port}"
    os.environ["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"{url}/execution/"
    os.environ["AIRFLOW__API__BASE_URL"] = url
    os.environ.setdefault("HUB_OPS_URL", f"{url}/hub/")
    if args.sandbox:
        os.environ["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "False"
        conns = Path(os.environ["AIRFLOW_HOME"]) / "sandbox-connections.env"
        conns.unlink(missing_ok=True)
        local.env = dict(os.environ)
        local.start("sandbox", [sys.executable, "-m", "sandbox.local_systems",
                                "--env-out", str(conns)])  # fmt: skip
        print("starting the sandbox ERP, CRM and carrier (the first ERP build takes ~45 s)")
        _wait(local, "the sandbox systems", conns.exists, READY_TIMEOUT)
        os.environ.update(load_env_file(conns))
    if not airflow_env.ensure_db():
        airflow_env.ensure_pools()  # a DB migrated earlier: make sure every pool is there
    from hub import settings
    from hub.ledger import Ledger

    ledger = Ledger(settings.database_url())
    ledger.upgrade()
    ledger.dispose()
    local.env = dict(os.environ)


def _login_line(show_password: bool) -> str:
    passwords = os.environ.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
    if not passwords:
        return "login: as configured by your auth manager"
    if not show_password:
        return f"login: {airflow_env.ADMIN_USER}, password in {passwords} (0600)"
    password = airflow_env.ensure_admin_password(Path(passwords))
    return f"login: {airflow_env.ADMIN_USER} / {password}   (kept in {passwords}, 0600)"


def run(args: argparse.Namespace) -> int:
    """Prepare, start the four components, print the login, wait; stop them all at the end."""
    home = Path(os.environ.get("AIRFLOW_HOME") or airflow_env.DEFAULT_HOME)
    local = Local(home / "local-logs", dict(os.environ))
    stopping: list[int] = []

    def _stop(signum: int, frame: Any) -> None:
        stopping.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    try:
        _prepare(args, local)
        url = f"http://127.0.0.1:{args.port}"
        for name, argv in COMPONENTS.items():
            command = [sys.executable, "-m", "airflow", *[a.format(port=args.port) for a in argv]]
            local.start(name, command)
        print(f"starting Airflow {airflow_env.airflow_version()}: "
              f"{', '.join(COMPONENTS)} (logs in {local.logs})", flush=True)  # fmt: skip
        _wait(local, "the api-server", lambda: _healthy(url), READY_TIMEOUT)
        print(f"\nAirflow is up: {url}   (the hub's ops page: {url}/hub/)")
        print(_login_line(sys.stdout.isatty()))
        dags = "running on their schedules" if args.sandbox else "paused until you unpause them"
        print(f"DAGs: {dags}; Ctrl-C stops everything", flush=True)
        while not local.dead():
            time.sleep(2)  # watching the children; a dead one ends the session
        name, code = next(iter(local.dead().items()))
        print(f"{name} exited ({code}); stopping the others. Its log:\n{local.tail(name)}")
        return 1
    except KeyboardInterrupt:
        print("\nstopping Airflow" + (" and the sandboxes" if args.sandbox else ""), flush=True)
        return 0
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        local.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hub.airflow_local", description=__doc__)
    parser.add_argument("--port", type=int, default=8080, help="api-server port on 127.0.0.1")
    parser.add_argument("--sandbox", action="store_true", help="start the sandbox systems too")
    parser.add_argument("--env-file", type=Path, default=airflow_env.PROJECT_ROOT / ".env")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
