"""Benchmark: end-to-end EDI orders/s, from partner inbox to confirmed ERP sale with acks written.

Drops FILES interchanges of ORDERS (MESSAGES orders of LINES lines each) into a partner's
inbox, runs the inbound flow once against a sandbox Tryton, and reports orders/s, the time
spent inside ERP calls vs in the hub (parse, validate, map, ledger, acknowledgements), and
the acknowledgement files written. Usage:
``python bench/edi_inbound.py [--files 5] [--messages 20] [--lines 5] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.erp.tryton import TrytonErp  # noqa: E402
from hub.bootstrap import Hub  # noqa: E402
from hub.config import load_partners  # noqa: E402
from hub.flows.edi_inbound import edi_orders_inbound  # noqa: E402
from hub.ledger import Ledger  # noqa: E402
from sandbox.erp import SandboxErp  # noqa: E402
from sandbox.partner import drop, make_orders, orders_interchange  # noqa: E402

PARTNER = "kaufhaus-nord"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5)
    parser.add_argument("--messages", type=int, default=20, help="orders per file")
    parser.add_argument("--lines", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="hub-bench-inbound-"))
    with SandboxErp(workdir=work / "erp") as server:
        erp = TrytonErp.connect(server.url, server.database, server.login, server.password)
        products = erp.list_products()
        ledger = Ledger(f"sqlite:///{work / 'ledger.sqlite'}")
        ledger.upgrade()
        hub = Hub(ledger, erp=erp, home=work / "home", partners=load_partners())
        profile = hub.partners[PARTNER]
        inbox = hub.mailbox(profile).inbox  # type: ignore[attr-defined]
        total_bytes = 0
        for f in range(args.files):
            orders = make_orders(
                profile.unb.partner_id, profile.unb.our_id, products,
                count=args.messages, lines=args.lines, seed=100 + f, prefix=f"B{f:02d}-",
            )  # fmt: skip
            data = orders_interchange(
                orders, sender=profile.unb.partner_id, recipient=profile.unb.our_id,
                control_ref=f"{9000 + f}",
            )  # fmt: skip
            total_bytes += len(data)
            drop(inbox, f"bench_{f:03d}.edi", data)
        erp.rpc.seconds.clear()
        calls_before = erp.calls
        started = time.perf_counter()
        report = edi_orders_inbound(hub, partner=PARTNER)
        elapsed = time.perf_counter() - started
        erp_seconds = sum(erp.rpc.seconds.values())
        erp_calls = erp.calls - calls_before
        acks = sorted(p.name.split("_")[0] for p in hub.mailbox(profile).outbox.iterdir())  # type: ignore[attr-defined]
    orders = report["orders_created"]
    result = {
        "files": args.files,
        "orders": orders,
        "lines_per_order": args.lines,
        "bytes": total_bytes,
        "seconds": round(elapsed, 2),
        "orders_per_s": round(orders / elapsed, 2) if elapsed else None,
        "erp_calls": erp_calls,
        "erp_calls_per_order": round(erp_calls / orders, 3) if orders else None,
        "erp_seconds": round(erp_seconds, 2),
        "hub_share_outside_erp": round(1 - erp_seconds / elapsed, 3) if elapsed else None,
        "acknowledgements": {k: acks.count(k) for k in sorted(set(acks))},
        "refused": report["orders_refused"],
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"EDI inbound end to end: {orders} orders in {args.files} files, {elapsed:.2f} s")
        print(f"  {result['orders_per_s']} orders/s (confirmed in Tryton, acks written)")
        print(
            f"  ERP: {erp_calls} HTTP calls ({result['erp_calls_per_order']}/order), "
            f"{erp_seconds:.2f} s; hub share outside ERP calls: "
            f"{result['hub_share_outside_erp']:.1%}"
        )
        print(f"  acknowledgements: {result['acknowledgements']}")
    return 0 if orders == args.files * args.messages else 1


if __name__ == "__main__":
    sys.exit(main())
