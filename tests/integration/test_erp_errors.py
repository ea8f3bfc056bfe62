"""ERP faults become the hub's errors (server down, wrong password, timeout); PostgreSQL sandbox."""

from __future__ import annotations

import datetime as dt
import socket
import threading
from collections.abc import Iterator
from decimal import Decimal

import pytest

from connectors.erp.tryton import TrytonErp
from connectors.http import RetryPolicy
from schemas.errors import OutcomeUnknownError, PermanentError, TransientError
from schemas.model import PartyRef, SalesOrder, SalesOrderLine

pytestmark = pytest.mark.integration

TINY = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02, total_timeout=5.0)
SECRET = "s3cret-never-shown"


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A socket that accepts connections and never answers: a hung ERP."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                accepted.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in accepted:
            conn.close()
        listener.close()


def test_stopped_server_is_a_transient_error_naming_erp_and_url(erp_template: str) -> None:
    from sandbox.erp import SandboxErp

    with SandboxErp() as server:
        erp = TrytonErp.connect(
            server.url, server.database, server.login, server.password, policy=TINY
        )
        assert erp.list_products(limit=1)
    # the server is gone now: same connector, same session
    with pytest.raises(TransientError) as info:
        erp.list_products(limit=1)
    err = info.value
    assert err.system == "erp" and server.url.rstrip("/") in str(err)
    assert server.password not in str(err)


def test_wrong_password_is_permanent_and_says_so(erp_server) -> None:  # noqa: ANN001
    erp = TrytonErp.connect(
        erp_server.url, erp_server.database, erp_server.login, SECRET, policy=TINY
    )
    with pytest.raises(PermanentError, match="wrong login or password") as info:
        erp.list_products()
    assert info.value.system == "erp" and erp_server.url.rstrip("/") in str(info.value)
    assert SECRET not in str(info.value)
    assert erp.calls == 1  # not retried


def test_wrong_database_is_permanent(erp_server) -> None:  # noqa: ANN001
    erp = TrytonErp.connect(
        erp_server.url, "no_such_db", erp_server.login, erp_server.password, policy=TINY
    )
    with pytest.raises(PermanentError, match="no_such_db"):
        erp.list_products()


def test_hung_server_times_out_transient_for_reads_unknown_for_writes(silent_server: str) -> None:
    erp = TrytonErp.connect(silent_server, "db", "admin", SECRET, timeout=(1.0, 0.3), policy=TINY)
    with pytest.raises(TransientError, match="Timeout") as info:
        erp.list_products()
    assert info.value.system == "erp" and silent_server.rstrip("/") in str(info.value)
    assert SECRET not in str(info.value)
    assert erp.calls == TINY.attempts  # retried, then given up

    # a create whose answer is lost must not be repeated blindly
    erp.rpc._auth = "Session eA=="  # pretend a session is open
    with pytest.raises(OutcomeUnknownError, match="outcome unknown"):
        erp.rpc.model("sale.sale", "create", [{}], idempotent=False)


def test_connection_refused_is_transient(erp_server) -> None:  # noqa: ANN001
    from sandbox.erp import free_port

    url = f"http://127.0.0.1:{free_port()}/"
    erp = TrytonErp.connect(url, "db", "admin", SECRET, policy=TINY)
    with pytest.raises(TransientError, match="cannot connect") as info:
        erp.find_products_by_code(["X"])
    assert url.rstrip("/") in str(info.value) and SECRET not in str(info.value)


def test_sandbox_erp_on_postgresql(pg_server: str, erp_template: str) -> None:
    """Template database built once on the server, a per-run copy, dropped afterwards."""
    from sandbox.erp import SandboxErp
    from sandbox.erp_build import _pg_exists
    from sandbox.erp_seed import catalogue
    from transforms.edifact_orders_allowances import ADJUSTMENT_RATES, adjustment_code

    server_url = pg_server.rsplit("/", 1)[0]
    server = SandboxErp(server_url).start()
    name = server.database
    try:
        assert name.startswith("hub_erp_") and _pg_exists(server_url, name)
        erp = TrytonErp.connect(server.url, name, server.login, server.password)
        # the seeded catalogue and the allowance/charge services, one of each per VAT rate
        seeded = {p.code for p in catalogue()} | {
            adjustment_code(charge, rate) for charge in (False, True) for rate in ADJUSTMENT_RATES
        }
        assert {p.code for p in erp.list_products()} == seeded
        (result,) = erp.create_sales(
            [
                SalesOrder(
                    order_number="PG-1",
                    order_date=dt.date.today(),
                    buyer=PartyRef(gln="4300000000014"),
                    currency="EUR",
                    lines=(
                        SalesOrderLine(
                            line_no=1,
                            gtin="4006380000018",
                            quantity=Decimal(3),
                            unit_price=Decimal(5),
                        ),
                    ),
                )
            ]
        )
        assert result.sale is not None and result.sale.untaxed_amount == Decimal("15.00")
    finally:
        server.stop()
    assert not _pg_exists(server_url, name)
