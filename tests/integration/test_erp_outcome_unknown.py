"""Lost ERP answers (the server committed, the hub never heard): no twin sales, no false refusal.

A loopback proxy in front of the sandbox trytond forwards every JSON-RPC call, and for the
methods it is told to lose it waits for trytond's answer (the transaction is committed by
then) and drops the connection instead of passing the answer on.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

import pytest
import requests

from connectors.erp.port import TargetState
from connectors.erp.tryton import TrytonErp
from sandbox.server import LoopbackServer, ServerThread
from schemas.errors import OutcomeUnknownError
from schemas.model import SalesOrder
from tests.fixtures.erp import FAST_POLICY
from tests.integration.test_erp_connector import order

if TYPE_CHECKING:
    from sandbox.erp import SandboxErp
    from sandbox.erp_operator import ErpOperator

pytestmark = pytest.mark.integration

CREATE, QUOTE, CONFIRM = (f"model.sale.sale.{m}" for m in ("create", "quote", "confirm"))
CONFIRMED = ("confirmed", "processing")  # Tryton processes a confirmed sale at once


class _ProxyServer(LoopbackServer):
    upstream: str
    to_lose: dict[str, int]  # JSON-RPC method -> answers still to lose
    methods: list[str]  # every call forwarded, in order
    lost: list[str]  # the calls whose answer was lost
    guard: threading.Lock


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ProxyServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        method = str(json.loads(body).get("method", ""))
        headers = {k: v for k, v in self.headers.items() if k in ("Content-Type", "Authorization")}
        answer = requests.post(
            self.server.upstream + self.path.lstrip("/"), data=body, headers=headers, timeout=300
        )
        with self.server.guard:
            self.server.methods.append(method)
            lose = self.server.to_lose.get(method, 0) > 0
            if lose:
                self.server.to_lose[method] -= 1
                self.server.lost.append(method)
        if lose:  # trytond has answered, so committed: the hub never hears of it
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(answer.status_code)
        self.send_header("Content-Type", answer.headers.get("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)


class LosingProxy:
    """The proxy's controls: ``lose(method)`` loses the next answer to that method."""

    def __init__(self, server: _ProxyServer) -> None:
        self._server = server
        self.url = server.url + "/"

    def lose(self, method: str, times: int = 1) -> None:
        with self._server.guard:
            self._server.to_lose[method] = self._server.to_lose.get(method, 0) + times

    @property
    def methods(self) -> list[str]:
        with self._server.guard:
            return list(self._server.methods)

    @property
    def lost(self) -> list[str]:
        with self._server.guard:
            return list(self._server.lost)


@pytest.fixture
def proxy(erp_server: SandboxErp) -> Iterator[LosingProxy]:
    server = _ProxyServer(("127.0.0.1", 0), _ProxyHandler, threading.Event())
    server.upstream = erp_server.url.rstrip("/") + "/"
    server.to_lose, server.methods, server.lost = {}, [], []
    server.guard = threading.Lock()
    running = ServerThread(server, "erp-losing-proxy").start()
    try:
        yield LosingProxy(server)
    finally:
        running.stop()


@pytest.fixture
def erp_via_proxy(erp_server: SandboxErp, proxy: LosingProxy) -> TrytonErp:
    return TrytonErp.connect(
        proxy.url, erp_server.database, erp_server.login, erp_server.password, policy=FAST_POLICY
    )


def orders_of(prefix: str) -> list[SalesOrder]:
    """Three orders of two lines, each of another seeded customer."""
    return [order(f"{prefix}-{n}", buyer=n, lines=2) for n in range(3)]


def sales_by_reference(
    operator: ErpOperator, orders: list[SalesOrder]
) -> dict[str, list[tuple[int, str]]]:
    """Reference -> (id, state) of every sale the ERP holds for it, cancelled ones included."""
    rows = operator.search_read(
        "sale.sale", [("reference", "in", [o.order_number for o in orders])], ["reference", "state"]
    )
    found: dict[str, list[tuple[int, str]]] = {o.order_number: [] for o in orders}
    for row in rows:
        found[row["reference"]].append((row["id"], row["state"]))
    return found


def test_lost_answer_to_the_batch_create_makes_no_twin_and_the_rerun_finds_the_sales(
    erp_via_proxy: TrytonErp,
    proxy: LosingProxy,
    erp_operator: ErpOperator,
    unique: str,
) -> None:
    orders = orders_of(f"LOST-C-{unique}")
    proxy.lose(CREATE)
    with pytest.raises(OutcomeUnknownError, match="outcome unknown") as info:
        erp_via_proxy.create_sales(orders)
    assert info.value.system == "erp" and not info.value.retryable  # reconcile, never repeat
    assert proxy.lost == [CREATE]
    assert proxy.methods.count(CREATE) == 1  # not created again one by one
    made = sales_by_reference(erp_operator, orders)
    assert [len(sales) for sales in made.values()] == [1, 1, 1]  # the lost call did commit
    assert {state for sales in made.values() for _, state in sales} == {"draft"}

    seen = len(proxy.methods)
    rerun = erp_via_proxy.create_sales(orders)
    assert [r.error for r in rerun] == [None, None, None]
    assert [r.sale.erp_id for r in rerun if r.sale] == [str(s[0][0]) for s in made.values()]
    assert not any(r.sale.created for r in rerun if r.sale)
    assert all(r.sale.state in CONFIRMED for r in rerun if r.sale)
    assert CREATE not in proxy.methods[seen:]
    again = sales_by_reference(erp_operator, orders)
    assert [[sid for sid, _ in sales] for sales in again.values()] == [
        [sid for sid, _ in sales] for sales in made.values()
    ]


@pytest.mark.parametrize(
    ("target", "steps", "states"),
    [("quotation", [QUOTE], ("quotation",)), ("confirmed", [QUOTE, CONFIRM], CONFIRMED)],
)
def test_lost_answers_to_quote_and_confirm_are_no_refusal(
    erp_via_proxy: TrytonErp,
    proxy: LosingProxy,
    erp_operator: ErpOperator,
    unique: str,
    target: TargetState,
    steps: list[str],
    states: tuple[str, ...],
) -> None:
    orders = orders_of(f"LOST-{target[0].upper()}-{unique}")
    for step in steps:
        proxy.lose(step)
    results = erp_via_proxy.create_sales(orders, state=target)
    assert proxy.lost == steps  # each step's answer was lost once, after the ERP did it
    assert [r.error for r in results] == [None, None, None]  # not "ERP refused to quote"
    assert all(r.sale.created and r.sale.state in states for r in results if r.sale)
    made = sales_by_reference(erp_operator, orders)
    assert [len(sales) for sales in made.values()] == [1, 1, 1]
    assert all(state in states for sales in made.values() for _, state in sales)

    seen = len(proxy.methods)
    rerun = erp_via_proxy.create_sales(orders, state=target)
    assert [r.error for r in rerun] == [None, None, None]
    assert [r.sale.erp_id for r in rerun if r.sale] == [r.sale.erp_id for r in results if r.sale]
    assert not any(r.sale.created for r in rerun if r.sale)
    assert not {CREATE, QUOTE, CONFIRM} & set(proxy.methods[seen:])  # nothing left to do
    assert sales_by_reference(erp_operator, orders).keys() == made.keys()
    assert [len(s) for s in sales_by_reference(erp_operator, orders).values()] == [1, 1, 1]
