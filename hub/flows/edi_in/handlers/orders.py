"""ORDERS (EANCOM D96A EAN008, D01B EAN010): purchase orders become confirmed ERP sales.

map: the message to a SalesOrder (``transforms.edifact_orders``); check: parties, GTINs and
prices against the ERP in one lookup per batch; write: one ``create_sales`` batch through
``ledger.once_many`` keyed by ``SaleKey`` (buyer GLN + order number); acknowledge: one
ORDRSP per order, dated by the order's first arrival (a re-sent order gets its first
ORDRSP again, byte for byte).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from connectors.erp.port import ErpPort, SaleResult
from hub import edi_out
from hub.flows.edi_in.handlers.ordchg import OrderChangeHandler
from hub.flows.edi_in.registry import Context, MessageHandler, TypeVersion, Work
from hub.ledger import Effect, OnceItem, OnUnknown, Outcome, Status
from hub.ops import acks as ack_ops
from schemas.config import PartnerProfile
from schemas.errors import HubError, PermanentError, TransientError
from schemas.model import ErpSale, PartyRef, Product, SalesOrder, SalesOrderChange
from transforms import availability
from transforms import edifact_acks as acks
from transforms.availability import BACKORDER, LineDecision
from transforms.edifact_ordchg import is_cancellation
from transforms.edifact_orders import (
    AppError,
    check_against_erp,
    line_differences,
    orders_to_sales_order,
    resolve_codes,
)
from transforms.edifact_orders_allowances import sale_with_allowances
from transforms.keys import DocumentKey, KeyKind, SaleKey


def sale_key(order: SalesOrder) -> SaleKey:
    """The journal key of the sale an order becomes."""
    return SaleKey(order.buyer.gln or "", order.order_number)


def order_hash(order: SalesOrder) -> str:
    """The order's content hash, whatever file or interchange carried it."""
    return order.model_copy(update={"source": None}).content_hash()


class OrdersHandler(MessageHandler):
    """ORDERS -> ERP sale -> ORDRSP."""

    handles: ClassVar[tuple[TypeVersion, ...]] = (("ORDERS", "D:96A"), ("ORDERS", "D:01B"))
    counts: ClassVar[str] = "orders"

    def __init__(self) -> None:
        self.changes = OrderChangeHandler()  # an ORDERS with BGM 1225 = 1 cancels an order

    def map(self, ctx: Context, work: Work) -> None:
        msg = work.message
        if is_cancellation(msg.segments):
            self.changes.map(ctx, work)
            return
        order, errors = orders_to_sales_order(
            msg.segments, source=f"{ctx.profile.id}:{ctx.file_name}:{ctx.interchange_ref}:{msg.ref}"
        )
        if order is None:
            work.errors = errors
            return
        work.record, work.ref = order, order.order_number
        work.key, work.payload_hash = sale_key(order), order_hash(order)

    def check(self, ctx: Context, items: list[Work]) -> None:
        """ERP lookups for the whole batch, then the checks; good orders get ERP ids."""
        cancels, items = _split(items)
        if cancels:
            self.changes.check(ctx, cancels)
        orders = [w.record for w in items]
        products = _products(ctx.hub.erp, ctx.profile, orders)
        party_ids = _party_ids(ctx.hub.erp, ctx.profile, orders)
        agreed = customer_prices(ctx.hub.erp, orders, products, party_ids)
        for work in items:
            order: SalesOrder = work.record
            work.errors = check_against_erp(
                order,
                products_by_gtin=products,
                known_party_glns=party_ids,
                price_tolerance_percent=ctx.profile.price_tolerance_percent,
                agreed_prices=agreed.get(order.order_number, {}),
            )
            if work.errors:
                continue
            order = resolve_codes(order, products)
            buyer = order.buyer
            erp_id = party_ids[buyer.gln or ""]
            work.record = order.model_copy(
                update={"buyer": PartyRef(gln=buyer.gln, erp_id=erp_id, name=buyer.name)}
            )
        if ctx.profile.ordrsp_mode == "availability":
            _plan_by_stock(ctx, [w for w in items if not w.errors])

    def write(self, ctx: Context, items: list[Work]) -> None:
        """One journaled ``create_sales`` batch for the orders not created before.

        ``OnUnknown.repeat()``: when an earlier attempt's outcome is unknown (a timeout after
        the request went out, a worker killed before the commit), creating again is safe,
        because the ERP adapters' ``create_sales`` look the sale up by (party, order
        reference) first and return the existing one (TrytonErp and FakeErp both do).
        """
        cancels, items = _split(items)
        if cancels:
            self.changes.write(ctx, cancels)
        if not items:
            return
        erp = ctx.hub.erp
        effects: list[OnceItem[ErpSale]] = [
            OnceItem(
                sale_key(w.record),
                w.payload_hash,
                Effect(ctx.flow, "erp", "create_sale", ref=w.ref, partner=ctx.profile.id),
            )
            for w in items
        ]
        state = ctx.profile.order_state

        def create(todo: list[OnceItem[ErpSale]]) -> list[ErpSale | HubError]:
            chosen = {str(i.key) for i in todo}
            orders = [_sold(w) for w in items if str(w.key) in chosen]
            results = erp.create_sales(orders, state=state)
            return [_with_allowances(o, _sale_or_error(r)) for o, r in zip(orders, results,
                                                                          strict=True)]  # fmt: skip

        outcomes = ctx.hub.ledger.once_many(
            effects,
            create,
            on_unknown=OnUnknown.repeat(),
            encode=lambda sale: sale.model_dump(mode="json"),
            decode=ErpSale.model_validate,
        )
        retry: HubError | None = None
        for work, outcome in zip(items, outcomes, strict=True):
            retry = _settle(work, outcome) or retry
        if retry is not None:  # the file stays in the inbox; the rerun repeats nothing done
            raise retry

    def acknowledge(self, ctx: Context, items: list[Work]) -> list[edi_out.OutboundDocument]:
        """One ORDRSP per order: one per order, whatever interchange carried it.

        Its key and control number are per order, so its bytes are too: it is dated by the
        time the hub first took the order in (its journal entry), not by the interchange
        that carries it now. An order re-sent in a new interchange gets the same ORDRSP,
        byte for byte, and an outbox still holding an earlier rendering (e.g. before a
        profile change) never blocks the run (``again``)."""
        cancels, items = _split(items)
        docs = self.changes.acknowledge(ctx, cancels) if cancels else []
        if not ctx.profile.acknowledgements.ordrsp or not items:
            return docs
        keys = [sale_key(w.record) for w in items]
        entries = ctx.hub.ledger.journal_find(KeyKind.SALE, subjects=[k.order_number for k in keys])
        taken_in = {row["key"]: row["created_at"] for row in entries}
        sent: list[tuple[Work, edi_out.OutboundDocument, str]] = []
        for work, key in zip(items, keys, strict=True):
            prepared: datetime = taken_in.get(str(key), ctx.prepared)
            doc, number = _render_ordrsp(ctx, work, DocumentKey.ordrsp(key), prepared)
            docs.append(replace(doc, again=not work.created))
            sent.append((work, doc, number))  # registered once (a repeat changes nothing)
        _expect_acks(ctx, sent)
        return docs

    def preview(self, ctx: Context, work: Work) -> dict[str, Any]:
        res = super().preview(ctx, work)
        if res["outcome"] != "create":
            return res
        entry = ctx.hub.ledger.journal_entry(sale_key(work.record))
        res.update(key=str(work.key), lines=len(work.record.lines))
        if entry is None:
            return res
        if entry["payload_hash"] != work.payload_hash:
            res.update(outcome="refused")
            res["errors"] = ["same order number already received with different content"]
        elif entry["state"] == "done":
            res["outcome"] = "existing"
        elif entry["state"] == "dead":
            res.update(outcome="refused", errors=["refused earlier; see the dead letters"])
        return res  # otherwise a run would attempt it (reconciling first)

    def summary(self, work: Work) -> dict[str, Any]:
        sale: ErpSale = work.result
        return {"order": work.ref, "sale": sale.number, "sale_erp_id": sale.erp_id}


@dataclass(frozen=True)
class StockPlan:
    """The sale to make of an order answered from availability, and each line's decision."""

    sold: SalesOrder
    decisions: dict[int, LineDecision]


def _sold(work: Work) -> SalesOrder:
    """The order the sale is made of: as ordered, or as the stock allows."""
    return work.plan.sold if isinstance(work.plan, StockPlan) else work.record


def _plan_by_stock(ctx: Context, items: list[Work]) -> None:
    """One stock read for the batch; orders share it in message order; an order of which
    nothing is available is refused (APERAK) instead of making an empty sale."""
    codes = sorted({ln.product_code for w in items for ln in w.record.lines if ln.product_code})
    available: dict[str, Decimal] = {}
    for level in ctx.hub.erp.stock_levels(codes) if codes else []:
        available[level.product_code] = available.get(level.product_code, Decimal(0)) + (
            level.quantity
        )
    for work in items:
        sold, decisions = availability.plan(
            work.record, available, backorder_days=ctx.profile.backorder_days
        )
        if sold is None:
            work.errors = [AppError("12", f"order {work.ref}: none of its products is available",
                                    tag="LIN")]  # fmt: skip
            continue
        work.plan = StockPlan(sold, decisions)


def _split(items: list[Work]) -> tuple[list[Work], list[Work]]:
    """(cancellations, orders) of a batch."""
    cancels = [w for w in items if isinstance(w.record, SalesOrderChange)]
    return cancels, [w for w in items if not isinstance(w.record, SalesOrderChange)]


def _products(
    erp: ErpPort, profile: PartnerProfile, orders: list[SalesOrder]
) -> dict[str, Product]:
    gtins = sorted({line.gtin for o in orders for line in o.lines if line.gtin})
    products: dict[str, Product] = erp.find_products_by_gtin(gtins) if gtins else {}
    mapped = {g: c for g, c in profile.product_lookup.items() if g in gtins and g not in products}
    if mapped:
        by_code = erp.find_products_by_code(sorted(set(mapped.values())))
        products.update({g: by_code[c] for g, c in mapped.items() if c in by_code})
    return products


def customer_prices(
    erp: ErpPort,
    orders: list[SalesOrder],
    products: dict[str, Product],
    party_ids: dict[str, str],
) -> dict[str, dict[int, Decimal]]:
    """Order number -> line number -> what the ERP charges the buyer for that line's
    quantity (its price list, quantity breaks, the order's currency): one ERP call per
    (customer, currency) of the batch. A currency the ERP lacks leaves the list price
    (the sale is then refused for its currency)."""
    wanted: dict[tuple[str, str], set[tuple[str, Decimal]]] = {}
    for order in orders:
        party = party_ids.get(order.buyer.gln or "")
        for line in order.lines:
            product = products.get(line.gtin or "")
            if party and product and line.unit_price is not None:
                wanted.setdefault((party, order.currency), set()).add((product.code, line.quantity))
    prices: dict[tuple[str, str], dict[tuple[str, Decimal], Decimal]] = {}
    for (party, currency), lines in wanted.items():
        try:
            prices[(party, currency)] = erp.customer_prices(party, currency, sorted(lines))
        except PermanentError:
            prices[(party, currency)] = {}
    agreed: dict[str, dict[int, Decimal]] = {}
    for order in orders:
        known = prices.get((party_ids.get(order.buyer.gln or "", ""), order.currency), {})
        agreed[order.order_number] = {
            line.line_no: known[(products[line.gtin or ""].code, line.quantity)]
            for line in order.lines
            if (line.gtin or "") in products
            and (products[line.gtin or ""].code, line.quantity) in known
        }
    return agreed


def _party_ids(erp: ErpPort, profile: PartnerProfile, orders: list[SalesOrder]) -> dict[str, str]:
    glns = sorted({r.gln for o in orders for r in (o.buyer, o.delivery) if r is not None and r.gln})
    parties = erp.find_parties_by_gln(glns) if glns else {}
    party_ids = {gln: party.erp_id for gln, party in parties.items() if party.erp_id}
    for gln, erp_id in profile.party_lookup.items():
        if gln in glns and gln not in party_ids:
            party_ids[gln] = erp_id
    return party_ids


def _with_allowances(order: SalesOrder, sale: ErpSale | HubError) -> ErpSale | HubError:
    """The sale as journaled, with the order's allowances and charges on its lines (the ERP
    keeps only the net price; the INVOIC states them again from this)."""
    return sale_with_allowances(order, sale) if isinstance(sale, ErpSale) else sale


def _sale_or_error(res: SaleResult) -> ErpSale | HubError:
    if res.ok and res.sale is not None:
        return res.sale
    error: HubError = res.error or PermanentError("the ERP refused the order", system="erp")
    return error


def _settle(work: Work, outcome: Outcome[ErpSale]) -> HubError | None:
    """Copy one outcome onto its work item; return the error that must fail the run."""
    order: SalesOrder = work.record
    if outcome.ok:
        work.result = outcome.result
        work.created = outcome.ran and bool(outcome.result and outcome.result.created)
        return None
    if outcome.status is Status.CONFLICT:
        work.errors = [
            AppError(
                "DUP",
                f"order {order.order_number} from {order.buyer.gln} was already received with "
                "different content; send a change (ORDCHG) or a new order number",
                tag="BGM",
                element_position=2,
            )
        ]
    elif outcome.status is Status.DEAD and outcome.raised_now and outcome.error is not None:
        work.errors = [
            AppError("12", f"the ERP refused order {order.order_number}: {outcome.error.message}")
        ]
    elif outcome.status is Status.DEAD:
        work.errors = [
            AppError("12", f"order {order.order_number} was refused earlier; see the dead letters")
        ]
    elif outcome.status is Status.FAILED and isinstance(outcome.error, TransientError):
        return outcome.error  # nothing happened: the file stays, the rerun calls again
    else:  # UNKNOWN: the rerun repeats the create, which the ERP dedups (see ``write``)
        return TransientError(
            f"order {order.order_number}: the outcome of create_sale is unknown "
            f"({outcome.error}); the next run repeats it safely",
            system="erp",
        )
    return None


def _render_ordrsp(
    ctx: Context, work: Work, key: DocumentKey, prepared: datetime
) -> tuple[edi_out.OutboundDocument, str]:
    """The ORDRSP of one order and its document number."""
    order: SalesOrder = work.record
    sale: ErpSale = work.result
    status = line_differences(order, sale)
    backorders: dict[int, tuple[Decimal, date]] = {}
    if isinstance(work.plan, StockPlan):  # answered from the ERP's availability
        for line_no, decision in work.plan.decisions.items():
            if decision.status == BACKORDER and decision.by is not None:
                backorders[line_no] = (decision.later, decision.by)
                status[line_no] = "changed"
    number = edi_out.document_number(ctx.hub.ledger, "ordrsp", ctx.profile.id, key)
    gtin_by_code = {
        line.product_code: line.gtin for line in order.lines if line.product_code and line.gtin
    }
    document_number = f"RSP{number:07d}"
    body = acks.ordrsp(
        document_number=document_number,
        issued=prepared.date(),
        order=order,
        sale=sale,
        line_status=status,
        backorders=backorders,
        supplier_gln=ctx.profile.unb.our_id,
        gtin_by_code=gtin_by_code,
        decimal_mark=ctx.profile.outbound.decimal_mark,
    )
    ledger, profile = ctx.hub.ledger, ctx.profile
    doc = edi_out.render_keyed(ledger, profile, key, acks.ORDRSP_TYPE, body, prepared)
    return doc, document_number


def _expect_acks(ctx: Context, sent: list[tuple[Work, edi_out.OutboundDocument, str]]) -> None:
    """Register the batch's new ORDRSPs among the documents whose acknowledgement the
    partner owes (``hub edi acks``), in one transaction."""
    if not sent:
        return
    with ctx.hub.ledger.transaction() as conn:
        for work, doc, number in sent:
            sale: ErpSale = work.result
            ack_ops.expect(
                ctx.hub.ledger, ctx.profile, doc_type="ORDRSP", doc_key=doc.doc_key,
                control_ref=doc.control_ref, document_number=number, file_name=doc.file_name,
                refs=(work.ref, sale.number or ""), conn=conn,
            )  # fmt: skip
