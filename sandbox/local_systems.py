"""The sandbox systems for `make airflow SANDBOX=1`: ERP, CRM and carrier on 127.0.0.1, and a
simulated partner dropping an ORDERS file into a partner inbox every few minutes, so scheduled
DAG runs have real work to watch in the Airflow UI.

    python -m sandbox.local_systems --env-out FILE [--orders-every 300]

Started as a process by ``hub.airflow_local`` (the hub never imports the sandbox). When the
systems answer it writes their Airflow connections (``AIRFLOW_CONN_HUB_*=json`` lines) to
FILE (mode 0600, it holds the sandbox passwords), then runs until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

from hub import settings


def _connections(stack: ExitStack, home: Path) -> dict[str, str]:
    from sandbox.carrier import SandboxCarrier
    from sandbox.carrier_soap import contracts_present
    from sandbox.crm import SandboxCrm
    from sandbox.erp import SandboxErp

    cache = settings.PROJECT_ROOT / ".hub" / "cache" / "tryton"
    erp = stack.enter_context(SandboxErp(workdir=home / "sandbox" / "erp", cache_dir=cache))
    conns = {"AIRFLOW_CONN_HUB_ERP": settings.connection_json(**erp.hub_connection())}
    crm = stack.enter_context(SandboxCrm(rate_limit=190))
    host, _, port = crm.url.split("//", 1)[1].rstrip("/").partition(":")
    conns["AIRFLOW_CONN_HUB_CRM"] = settings.connection_json(
        conn_type="http", host=host, port=int(port), password=crm.token,
        extra={"account": "local-portal"},
    )  # fmt: skip
    if contracts_present():  # the carrier serves the real DHL WSDLs from ../shared only
        carrier = stack.enter_context(SandboxCarrier())
        for name, fields in carrier.hub_connections().items():
            conns[name] = settings.connection_json(**fields)
    return conns


def _write_private(path: Path, conns: dict[str, str]) -> None:
    tmp = path.with_suffix(".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        for name, value in conns.items():  # single-quoted: a shell or python-dotenv reads it
            if "'" in value:
                raise ValueError(f"{name}: a quote in a sandbox connection")
            out.write(f"{name}='{value}'\n")
    os.replace(tmp, path)


def _drop_orders(home: Path, conns: dict[str, str], n: int) -> None:
    """One ORDERS interchange from kaufhaus-nord into its inbox (the sandbox partner)."""
    from connectors.erp.tryton import TrytonErp
    from hub.config import load_partners
    from sandbox.partner import drop, make_orders, orders_interchange

    erp = TrytonErp.from_connection(
        settings.parse_connection("hub_erp", conns["AIRFLOW_CONN_HUB_ERP"])
    )
    profile = load_partners()["kaufhaus-nord"]
    stamp = datetime.now().strftime("%H%M%S")
    orders = make_orders(profile.unb.partner_id, profile.unb.our_id, erp.list_products(),
                         count=2, seed=n, prefix=f"LOCAL{stamp}-")  # fmt: skip
    data = orders_interchange(
        orders, sender=profile.unb.partner_id, recipient=profile.unb.our_id,
        control_ref=f"L{stamp}{n % 10}",
    )  # fmt: skip
    inbox = home / (profile.channel.inbox or "partners/kaufhaus-nord/in")
    drop(inbox, f"orders_local_{stamp}.edi", data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--env-out", type=Path, required=True, help="connections file")
    parser.add_argument("--orders-every", type=float, default=300.0, help="seconds; 0: never")
    args = parser.parse_args(argv)
    home = Path(os.environ.get("HUB_HOME") or settings.PROJECT_ROOT / ".hub")
    stop = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with ExitStack() as stack:
        conns = _connections(stack, home)
        _write_private(args.env_out, conns)
        print(f"sandbox systems up: {', '.join(sorted(conns))}", flush=True)
        n = 0
        while not stop.wait(args.orders_every if args.orders_every > 0 else None):
            n += 1
            try:
                _drop_orders(home, conns, n)
            except Exception as exc:  # noqa: BLE001 - the demo partner must not stop the systems
                print(f"sandbox partner: could not drop orders: {exc}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
