"""The sales an invoice bills, as the hub journaled them: each line's latest allowances and charges.

INVOIC and the e-invoice state a line's allowances again (the ERP keeps only net prices) from
the sale the hub made of the customer's order (``KeyKind.SALE``) with every change message
applied to it since (``KeyKind.SALE_CHANGE``, in order: ``transforms.sale_versions``). Only
the invoice customer's sales count: two customers may use the same order number. The
journal keys them by the buyer's GLN and the results name the ERP party, so the invoice's
customer (its ERP id, else its GLN) picks its own; an invoice naming neither takes an
order's sale only when it is the only one of that number.
"""

from __future__ import annotations

from typing import Any

from hub.bootstrap import Hub
from schemas.model import ErpSale, Invoice
from transforms.keys import KeyKind
from transforms.sale_versions import latest


def journaled_sales(hub: Hub, invoice: Invoice) -> list[ErpSale]:
    """The invoice customer's sales of its orders as journaled, each at its latest version."""
    orders = sorted(
        {*invoice.order_numbers, *(ln.order_number for ln in invoice.lines if ln.order_number)}
    )
    if not orders:
        return []
    ledger = hub.ledger
    made = _customers(invoice, _done(ledger.journal_find(KeyKind.SALE, subjects=orders)))
    changes: dict[str, list[ErpSale]] = {}
    for _, after in _done(ledger.journal_find(KeyKind.SALE_CHANGE, subjects=orders)):
        changes.setdefault(after.erp_id, []).append(after)  # in the order they were applied
    return [latest(sale, changes.get(sale.erp_id, [])) for sale in made]


def _done(rows: list[dict[str, Any]]) -> list[tuple[str, ErpSale]]:
    """(the key's scope: the buyer's GLN, the journaled sale) of each row done."""
    return [
        (str(r.get("scope") or ""), ErpSale.model_validate(r["result"]))
        for r in rows
        if r.get("state") == "done" and isinstance(r.get("result"), dict)
    ]


def _customers(invoice: Invoice, sales: list[tuple[str, ErpSale]]) -> list[ErpSale]:
    """The sales of the invoice's customer: by ERP party, else by the buyer's GLN, else an
    order number's only sale."""
    customer = invoice.customer
    if customer.erp_id:
        return [s for _, s in sales if s.party_erp_id == customer.erp_id]
    if customer.gln:
        return [s for gln, s in sales if gln == customer.gln]
    by_order: dict[str, list[ErpSale]] = {}
    for _, sale in sales:
        by_order.setdefault(sale.reference, []).append(sale)
    return [found[0] for found in by_order.values() if len(found) == 1]
