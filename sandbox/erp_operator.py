"""What the sandbox ERP's staff would do in the Tryton client, done over JSON-RPC.

Ship a confirmed sale's customer shipments, post its invoices, count stock. Deliberately
independent of ``connectors.erp`` so that tests of the connector do not set up their world
with the code under test.
"""

from __future__ import annotations

import base64
import itertools
from decimal import Decimal
from typing import Any

import requests

from connectors.erp.wire import decode as _decode
from connectors.erp.wire import encode as _encode
from sandbox.erp_seed import STORAGE_CODE


class ErpOperatorError(RuntimeError):
    """Tryton refused an operator action; the message carries Tryton's answer."""


class _Warning(Exception):
    """Tryton asks the user to confirm a warning (named ``name``)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class ErpOperator:
    """A logged-in Tryton user acting on the sandbox ERP through JSON-RPC."""

    def __init__(self, url: str, database: str, login: str, password: str) -> None:
        self.rpc_url = f"{url.rstrip('/')}/{database}/rpc/"
        self._login = login
        self._password = password
        self._session = requests.Session()
        self._ids = itertools.count(1)
        self._context: dict[str, Any] = {}
        self._user_id = 0
        self._authenticate()

    def _authenticate(self) -> None:
        user_id, token = self._post("common.db.login", [self._login, {"password": self._password}])[
            :2
        ]
        self._user_id = user_id
        raw = f"{self._login}:{user_id}:{token}".encode()
        self._session.headers["Authorization"] = "Session " + base64.b64encode(raw).decode()
        self._context = self._post("model.res.user.get_preferences", [True, {}])

    def _post(self, method: str, params: list[Any]) -> Any:
        body = {"id": next(self._ids), "method": method, "params": _encode(params)}
        response = self._session.post(self.rpc_url, json=body, timeout=60)
        if response.status_code != 200:
            raise ErpOperatorError(f"{method} on {self.rpc_url}: HTTP {response.status_code}")
        data = response.json()
        error = data.get("error")
        if error:
            if isinstance(error, list) and error and error[0] == "UserWarning":
                raise _Warning(error[1][0])
            raise ErpOperatorError(f"{method}: {error}")
        return _decode(data.get("result"))

    def call(self, model: str, method: str, *args: Any) -> Any:
        """``model.<model>.<method>(*args, context)``; warnings are accepted as a user would."""
        for _ in range(10):
            try:
                return self._post(f"model.{model}.{method}", [*args, self._context])
            except _Warning as warning:  # the user clicks "OK" on the warning dialog
                self._post(
                    "model.res.user.warning.create",
                    [
                        [{"user": self._user_id, "name": warning.name, "always": False}],
                        self._context,
                    ],
                )
        raise ErpOperatorError(f"{model}.{method}: too many warnings to accept")

    def search_read(self, model: str, domain: list[Any], fields: list[str]) -> list[dict[str, Any]]:
        """Records matching ``domain`` with ``fields`` read."""
        return self.call(model, "search_read", domain, 0, None, None, fields)

    def sale_id(self, reference: str) -> int:
        """The id of the sale whose customer reference (partner order number) is ``reference``."""
        rows = self.search_read("sale.sale", [("reference", "=", reference)], ["id"])
        if len(rows) != 1:
            raise ErpOperatorError(
                f"expected one sale with reference {reference!r}, got {len(rows)}"
            )
        return rows[0]["id"]

    def ship_sale(self, sale_id: int) -> list[int]:
        """Take every open customer shipment of a confirmed sale through assign/pick/pack/done."""
        (sale,) = self.call("sale.sale", "read", [sale_id], ["shipments", "state"])
        if sale["state"] not in ("processing", "done"):
            raise ErpOperatorError(f"sale {sale_id} is {sale['state']}: confirm it before shipping")
        shipments = self.call("stock.shipment.out", "read", sale["shipments"], ["state"])
        todo = [s["id"] for s in shipments if s["state"] not in ("done", "cancelled")]
        if todo:
            self.call("stock.shipment.out", "assign_force", todo)
            self.call("stock.shipment.out", "pick", todo)
            self.call("stock.shipment.out", "pack", todo)
            self.call("stock.shipment.out", "do", todo)
        return sale["shipments"]

    def post_invoices(self, sale_id: int) -> list[int]:
        """Post the draft invoices of a sale (after shipping, with invoice method fulfillment)."""
        (sale,) = self.call("sale.sale", "read", [sale_id], ["invoices"])
        invoices = self.call("account.invoice", "read", sale["invoices"], ["state"])
        todo = [i["id"] for i in invoices if i["state"] in ("draft", "validated")]
        if todo:
            self.call("account.invoice", "post", todo)
        return sale["invoices"]

    def product_id(self, code: str) -> int:
        """The id of the product whose code is ``code``."""
        rows = self.search_read("product.product", [("code", "=", code)], ["id"])
        if len(rows) != 1:
            raise ErpOperatorError(f"expected one product with code {code!r}, got {len(rows)}")
        return rows[0]["id"]

    def set_stock(self, quantities: dict[str, Decimal | int | float]) -> int:
        """Count stock: an inventory in the warehouse storage setting each product's quantity."""
        (storage,) = self.search_read("stock.location", [("code", "=", STORAGE_CODE)], ["id"])
        lines = [
            {"product": self.product_id(code), "quantity": float(qty)}
            for code, qty in quantities.items()
        ]
        (inventory_id,) = self.call(
            "stock.inventory",
            "create",
            [{"location": storage["id"], "lines": [("create", lines)]}],
        )
        self.call("stock.inventory", "confirm", [inventory_id])
        return inventory_id
