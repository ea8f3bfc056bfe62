"""Demo step: quote to cash between the ERP and the CRM, through the real flows and webhooks.

A person types a quotation into the ERP (Tryton): it appears in the CRM as a deal and a
quote. A sales person wins a deal in the sandbox CRM: its signed webhook reaches the hub's
webhook server, which runs crm_pull at once, and the ERP has a quotation for it; confirmed
by the back office it goes on like any sale: packed, booked with the carrier by
logistics_sync, shipped, delivered and invoiced, and the next crm_sync puts tracking,
carrier status, delivered date, invoice number and payment status on the won deal (checked:
the step fails when they are missing). A prospect typed in the CRM stays out of the ERP.
The deals table shows stage, ERP state, tracking, carrier status, delivered date, invoice
and payment as the CRM holds them.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import requests
from rich.console import Console
from rich.table import Table

from hub import settings


def quote_to_cash(run_dag: Callable[..., Any], console: Console, crm_url: str) -> dict[str, Any]:
    """The step; returns what it showed (for the demo summary)."""
    from connectors.crm import CrmClient
    from connectors.erp.tryton import TrytonErp

    console.rule("[bold cyan]5b. Quote to cash: ERP quotations in the CRM, CRM wins in the ERP")
    erp = TrytonErp.from_connection(settings.connection("hub_erp"))
    conn = settings.connection("hub_crm")
    crm = CrmClient(conn.base_url(), conn.password or "")
    quotation = _typed_quotation(erp)
    console.print(f"  the back office types quotation {quotation.number} into the ERP")
    with _webhooks(crm_url) as trigger:
        deal, prospect = _won_in_the_crm(crm, crm_url)
        console.print(f"  a sales person wins CRM deal {deal}; a prospect is typed in the CRM")
        while not _linked(crm, deal):  # each webhook-triggered crm_pull, until it made the sale
            if not trigger.wait(len(trigger.runs) + 1, timeout=120):
                raise RuntimeError("demo: no webhook-triggered crm_pull made the won deal a sale")
    sale = _sale_of(erp, crm, deal)
    console.print(f"  signed webhook -> crm_pull: ERP {sale.state} {sale.number} for deal {deal}")
    erp.create_sales([_same_order(sale)], state="confirmed")  # the back office confirms it
    carrier = _carrier_url()
    _ships_and_invoices(run_dag, console, int(sale.erp_id), carrier)
    run_dag("crm_sync")
    deals = _show_deals(console, crm_url, {quotation.erp_id: "typed in the ERP",
                                           sale.erp_id: "won in the CRM"})  # fmt: skip
    won = _delivered_and_invoiced(console, crm, deal, shipped=carrier is not None)
    in_erp = any(p.name == prospect for p in erp.parties_changed_since(None, limit=100_000))
    console.print(f"  prospect {prospect!r} in the ERP: [bold]{'yes' if in_erp else 'no'}[/bold]")
    return {"quotation": quotation.number, "won_deal": deal, "won_sale": sale.number,
            "won_deal_facts": won, "prospect_in_erp": in_erp, "deals": deals}  # fmt: skip


def _carrier_url() -> str | None:
    """The sandbox carrier's URL; None when the demo runs without it (no DHL contracts)."""
    from schemas.errors import PermanentError

    try:
        return settings.connection("hub_carrier_bcs").base_url()
    except PermanentError:
        return None


def _ships_and_invoices(
    run_dag: Callable[..., Any], console: Console, sale_id: int, carrier: str | None
) -> None:
    """The won sale like any other: packed, booked by logistics_sync, its parcel carried to
    the customer, the shipment done, the invoice posted, the tracking read back."""
    from sandbox.erp_operator import ErpOperator

    conn = settings.connection("hub_erp")
    operator = ErpOperator(conn.base_url(str(conn.extra.get("scheme") or "http")),
                           conn.schema or "", conn.login or "", conn.password or "")  # fmt: skip
    (row,) = operator.call("sale.sale", "read", [sale_id], ["shipments"])
    shipments = row["shipments"]
    for action in ("assign_force", "pick", "pack"):
        operator.call("stock.shipment.out", action, shipments)
    console.print(f"  the warehouse packs the won sale ({len(shipments)} shipment)")
    if carrier is not None:
        run_dag("logistics_sync")  # the carrier books the parcel: tracking number to the ERP
        for got in operator.call("stock.shipment.out", "read", shipments, ["reference"]):
            if got.get("reference"):  # the parcel travels to the customer
                advance = {"number": got["reference"], "steps": 10}
                requests.post(f"{carrier}/__sandbox/advance", json=advance, timeout=30)
    operator.call("stock.shipment.out", "do", shipments)
    operator.post_invoices(sale_id)
    if carrier is not None:
        run_dag("logistics_sync")  # the carrier's statuses, delivered included


def _delivered_and_invoiced(
    console: Console, crm: Any, deal: str, *, shipped: bool
) -> dict[str, str]:
    """The won deal's delivery and invoice as the CRM holds them; missing ones fail the step
    (delivery only when the carrier ran)."""
    delivery = ("hub_tracking_number", "hub_carrier_status", "hub_delivered_date")
    props = (*delivery, "hub_invoice_number", "hub_payment_status")
    record = crm.get("deals", deal, properties=props, by_id_property=False)
    facts = {p: (record.properties.get(p) or "") if record else "" for p in props}
    missing = [p for p, v in facts.items() if not v and (shipped or p not in delivery)]
    if missing:
        raise RuntimeError(f"demo: won deal {deal} lacks {', '.join(missing)} after crm_sync")
    console.print(
        f"  won deal {deal}: shipped, tracking {facts['hub_tracking_number']} "
        f"({facts['hub_carrier_status']} {facts['hub_delivered_date']}), invoiced "
        f"{facts['hub_invoice_number']} ({facts['hub_payment_status']})"
    )
    return facts


def _typed_quotation(erp: Any) -> Any:
    from schemas.model import PartyRef, SalesOrder, SalesOrderLine

    party = next(p for p in erp.parties_changed_since(None, limit=50) if p.gln)
    products = erp.list_products()[:2]
    order = SalesOrder(
        order_number=f"PHONE-{secrets.randbelow(10**6):06d}", order_date=date.today(),
        buyer=PartyRef(erp_id=party.erp_id), currency="EUR",
        lines=tuple(SalesOrderLine(line_no=n, product_code=p.code, quantity=Decimal(n * 5))
                    for n, p in enumerate(products, start=1)),
    )  # fmt: skip
    (result,) = erp.create_sales([order], state="quotation")
    if result.sale is None:
        raise RuntimeError(f"the demo quotation was refused: {result.error}")
    return result.sale


class _webhooks:  # noqa: N801 - used as a context manager, reads like one
    """The hub's webhook server running crm_pull, and the sandbox CRM sending to it."""

    def __init__(self, crm_url: str) -> None:
        self.crm_url = crm_url.rstrip("/")

    def __enter__(self) -> Any:
        from hub.bootstrap import Hub
        from hub.webhooks.server import SyncTrigger, WebhookServer, flow_trigger

        secret = secrets.token_urlsafe(24)
        self.hub = Hub.from_env()
        self.trigger = SyncTrigger(flow_trigger(self.hub, "crm_pull"))
        self.server = WebhookServer(secret, self.trigger).__enter__()
        requests.post(f"{self.crm_url}/__sandbox/webhooks",
                      json={"url": self.server.url, "secret": secret}, timeout=30)  # fmt: skip
        return self.trigger

    def __exit__(self, *exc: object) -> None:
        requests.post(f"{self.crm_url}/__sandbox/webhooks", json={}, timeout=30)
        self.server.__exit__()
        self.hub.close()


def _user(crm_url: str, method: str, path: str, props: dict[str, str]) -> str:
    answer = requests.request(method, f"{crm_url.rstrip('/')}/__sandbox/user/{path}",
                              json={"properties": props}, timeout=30)  # fmt: skip
    answer.raise_for_status()
    return str(answer.json()["id"])


def _won_in_the_crm(crm: Any, crm_url: str) -> tuple[str, str]:
    """A prospect typed in, and a deal with two line items won for a synced customer."""
    prospect = "Interessent Nord GmbH"
    _user(crm_url, "POST", "companies", {"name": prospect, "zip": "24103", "country": "DE",
                                         "lifecyclestage": "lead"})  # fmt: skip
    company = next(r.crm_id for r in crm.list_records("companies") if r.erp_id)
    products = [r for r in crm.list_records("products", properties=["hs_sku", "price"])][:2]
    deal = _user(crm_url, "POST", "deals", {"dealname": "Spring campaign", "pipeline": "default",
                                            "dealstage": "decisionmakerboughtin"})  # fmt: skip
    lines = [
        _user(crm_url, "POST", "line_items", {
            "name": p.properties.get("hs_sku", ""), "hs_sku": p.properties.get("hs_sku", ""),
            "hs_product_id": p.crm_id, "quantity": str(12 * n),
            "price": p.properties.get("price", "1"),
        })
        for n, p in enumerate(products, start=1)
    ]  # fmt: skip
    crm.associate("deals", "companies", [(deal, company)])
    crm.associate("deals", "line_items", [(deal, line) for line in lines])
    _user(crm_url, "PATCH", f"deals/{deal}", {"dealstage": "closedwon"})
    return deal, prospect


def _linked(crm: Any, deal: str) -> bool:
    record = crm.get("deals", deal, by_id_property=False)
    return bool(record and record.erp_id)


def _sale_of(erp: Any, crm: Any, deal: str) -> Any:
    record = crm.get("deals", deal, by_id_property=False)
    sales = erp.get_sales([record.erp_id]) if record and record.erp_id else []
    if not sales:
        raise RuntimeError(f"demo: CRM deal {deal} did not become an ERP sale")
    return sales[0]


def _same_order(sale: Any) -> Any:
    from schemas.model import PartyRef, SalesOrder, SalesOrderLine

    return SalesOrder(
        order_number=sale.reference, order_date=date.today(),
        buyer=PartyRef(erp_id=sale.party_erp_id), currency=sale.currency,
        lines=tuple(SalesOrderLine(line_no=n, product_code=ln.product_code,
                                   quantity=ln.quantity)
                    for n, ln in enumerate(sale.lines, start=1)),
    )  # fmt: skip


COLUMNS = {
    "dealname": "deal", "dealstage": "stage", "hub_sale_state": "ERP state",
    "hub_tracking_number": "tracking", "hub_carrier_status": "carrier status",
    "hub_delivered_date": "delivered", "hub_invoice_number": "invoice",
    "hub_payment_status": "payment",
}  # fmt: skip


def _show_deals(console: Console, crm_url: str, notes: dict[str, str]) -> list[dict[str, str]]:
    """The CRM's deals as its users see them (from the sandbox's record dump)."""
    answer = requests.get(f"{crm_url.rstrip('/')}/__sandbox/records/deals", timeout=30)
    records = [r["properties"] for r in answer.json()["results"]]
    quotes = requests.get(f"{crm_url.rstrip('/')}/__sandbox/records/quotes", timeout=30).json()
    table = Table(title=f"Deals in the sandbox CRM ({len(quotes['results'])} quotes beside them)")
    for title in [*COLUMNS.values(), "origin"]:
        table.add_column(title)
    shown = []
    for props in sorted(records, key=lambda p: p.get("hub_sale_number") or ""):
        row = {title: props.get(key, "") for key, title in COLUMNS.items()}
        row["origin"] = notes.get(props.get("hub_erp_id", ""), "EDI order")
        table.add_row(*row.values())
        shown.append(row)
    console.print(table)
    return shown
