"""Benchmark: shipments/s end to end against the sandbox carrier, and the WSDL parse cost.

Run: ``.venv/bin/python -m bench.carrier [--shipments N] [--threads T]``. Prints the one-off
zeep client build cost (WSDL parse) per contract, the per-client cost on the cached
document, the parse counters that prove the parse is paid once per process, then
shipments/s through the carrier port (map + createShipmentOrder + parse label) for BCS and
Express, and tracking calls/s.
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from connectors.carrier import client as carrier_client
from connectors.carrier.bcs import BcsConnector
from connectors.carrier.dhl import BcsCarrier, ExpressCarrier
from connectors.carrier.express import ExpressConnector
from connectors.http import RetryPolicy
from sandbox.carrier import SandboxCarrier
from sandbox.carrier_clients import (
    BCS_PROFILE,
    EXPRESS_PROFILE,
    bcs_settings,
    express_settings,
    make_shipment,
)
from sandbox.carrier_soap import (
    BCS_DIR,
    BCS_WSDL,
    EXPRESS_DIR,
    EXPRESS_SHIP_WSDL,
    EXPRESS_TRACK_WSDL,
    default_contracts_dir,
)
from schemas.model import Shipment

ONE_TRY = RetryPolicy(attempts=1)


def _shipment(n: int) -> Shipment:
    return make_shipment(f"BENCH{n:06d}", erp_id=str(n))


def _rate(label: str, count: int, seconds: float) -> None:
    print(f"  {label:<44} {count:>5} in {seconds:6.2f}s = {count / seconds:8.1f}/s")


def _parse_costs(wsdls: dict[str, str]) -> None:
    print("zeep client build cost (WSDL parse, once per process):")
    for name, location in wsdls.items():
        started = time.perf_counter()
        carrier_client.load_document(location)
        print(f"  {name:<14} parse {1000 * (time.perf_counter() - started):8.1f} ms")
    per_client = []
    for _ in range(50):
        started = time.perf_counter()
        carrier_client.bind_client(
            wsdls["BCS 3.3.2"], "http://127.0.0.1:9/bcs", operation_timeout=5
        )
        per_client.append(time.perf_counter() - started)
    print(
        "  per-thread client on the cached WSDL: median "
        f"{1000 * statistics.median(per_client):.2f} ms"
    )


def _ports(server: SandboxCarrier) -> tuple[BcsCarrier, ExpressCarrier]:
    """The carrier port's DHL adapters on the sandbox (one try per call, 10 s timeouts)."""
    contracts = default_contracts_dir()
    bcs = BcsConnector(bcs_settings(server, contracts, timeout=10), create_policy=ONE_TRY)
    express = ExpressConnector(
        express_settings(server, contracts, timeout=10), create_policy=ONE_TRY
    )
    bcs.get_version()  # warm the sandbox's XSD validators
    return BcsCarrier(bcs, BCS_PROFILE), ExpressCarrier(express, EXPRESS_PROFILE)


def _end_to_end(server: SandboxCarrier, wsdls: dict[str, str], n: int, threads: int) -> None:
    bcs, express = _ports(server)
    now = datetime(2024, 5, 2, 10, 0, tzinfo=UTC)

    def book_bcs(i: int) -> str:
        return bcs.book(_shipment(i), now=now).shipment_number

    print(f"end to end against the sandbox (XSD validation on, {threads} threads max):")
    started = time.perf_counter()
    for i in range(n):
        book_bcs(i)
    _rate("BCS createShipmentOrder, 1 thread", n, time.perf_counter() - started)
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(book_bcs, range(n, 2 * n)))
    _rate(f"BCS createShipmentOrder, {threads} threads", n, time.perf_counter() - started)
    started = time.perf_counter()
    awbs = [express.book(_shipment(i)).shipment_number for i in range(2 * n, 2 * n + n // 2)]
    _rate("Express createShipmentRequest, 1 thread", len(awbs), time.perf_counter() - started)
    started = time.perf_counter()
    calls = 0
    for start in range(0, len(awbs), 10):
        express.track(awbs[start : start + 10])
        calls += 1
    _rate("Express trackShipmentRequest (10 numbers/call)", calls, time.perf_counter() - started)
    stats = server.stats()
    duplicates = [ref for ref, count in stats["created_by_reference"].items() if count != 1]
    print(f"  carrier shipments: {stats['shipments']}, references booked twice: {len(duplicates)}")
    bcs.close()
    express.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shipments", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    contracts = default_contracts_dir()
    wsdls = {
        "BCS 3.3.2": str(contracts / BCS_DIR / BCS_WSDL),
        "Express ship": str(contracts / EXPRESS_DIR / EXPRESS_SHIP_WSDL),
        "Express track": str(contracts / EXPRESS_DIR / EXPRESS_TRACK_WSDL),
    }
    if not Path(wsdls["BCS 3.3.2"]).is_file():
        raise SystemExit(f"DHL contracts not found under {contracts} (needs ../shared)")
    _parse_costs(wsdls)
    with SandboxCarrier(contracts_dir=contracts) as server:
        _end_to_end(server, wsdls, args.shipments, args.threads)
    print("proof the WSDL parse is paid once per process:")
    for name, location in wsdls.items():
        print(f"  {name:<14} parsed {carrier_client.wsdl_parse_count(location)}x")


if __name__ == "__main__":
    main()
