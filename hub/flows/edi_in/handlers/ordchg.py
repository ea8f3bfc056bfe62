"""ORDCHG (and ORDERS with BGM 1225 = 1): a buyer's change or cancellation of an order.

map: the message to a SalesOrderChange (``transforms.edifact_ordchg``); check: the order's
sale (buyer GLN + order number) and the GTINs of added/changed lines; write: the change
applied to the sale (a processed one by amendment, ``connectors.erp.tryton_amendments``)
through ``ledger.once`` keyed by ``SaleChangeKey`` (buyer, order, change number: exactly
once per change message; an unknown outcome goes to a person), a ``sale.changed`` trace
event per version; acknowledge: an ORDRSP per change. A change that comes too late (goods
picked or shipped, or a line added to a processed sale) or names an order the hub never
made a sale of is answered with an APERAK and an ORDRSP "not accepted" (27) saying why,
and a dead letter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from hub import edi_out
from hub.flows.edi_in import acks as ack_docs
from hub.flows.edi_in.registry import Context, MessageHandler, TypeVersion, Work, type_version
from hub.ledger import Effect, OnUnknown
from hub.ops import acks as ack_ops
from hub.ops.events import record_event
from schemas.errors import HubError, PermanentError
from schemas.model import ErpSale, SalesOrderChange
from transforms import edifact_ordchg as ordchg
from transforms.edifact_orders import AppError
from transforms.keys import DocumentKey, SaleChangeKey, SaleKey
from transforms.sale_versions import change_with_allowances

REFUSED_CLASS = "ChangeRefused"


@dataclass
class Target:
    """The sale a change applies to, once found, and what happened."""

    sale_erp_id: str | None = None
    sale: ErpSale | None = None
    refusal: str | None = None  # why the change was not applied (answered, not an error)


class OrderChangeHandler(MessageHandler):
    """ORDCHG / cancelling ORDERS -> the ERP sale changed -> ORDRSP."""

    handles: ClassVar[tuple[TypeVersion, ...]] = (("ORDCHG", "D:96A"), ("ORDCHG", "D:01B"))
    counts: ClassVar[str] = "changes"
    refusal_class: ClassVar[str] = REFUSED_CLASS
    created_event: ClassVar[str] = "sale.changed"

    def map(self, ctx: Context, work: Work) -> None:
        kind = type_version(work.message.type)[0]
        source = f"{ctx.profile.id}:{ctx.file_name}:{ctx.interchange_ref}:{work.message.ref}"
        change, errors = ordchg.ordchg_to_change(work.message.segments, kind=kind, source=source)
        if change is None:
            work.errors = errors
            return
        work.record, work.ref = change, change.order_number
        work.key = SaleChangeKey(change.buyer.gln or "", change.order_number, change.change_number)
        work.payload_hash = change.model_copy(update={"source": None}).content_hash()
        work.result = None

    def check(self, ctx: Context, items: list[Work]) -> None:
        """The sale of each change (unknown: refused with an answer), the lines' GTINs."""
        erp = ctx.hub.erp
        glns = sorted({w.record.buyer.gln for w in items if w.record.buyer.gln})
        parties = erp.find_parties_by_gln(glns) if glns else {}
        gtins = sorted({c.gtin for w in items for c in w.record.lines if c.gtin})
        products = erp.find_products_by_gtin(gtins) if gtins else {}
        for work in items:
            change: SalesOrderChange = work.record
            unknown = [c for c in change.lines
                       if c.action != "delete" and c.gtin and c.gtin not in products]  # fmt: skip
            if unknown:
                work.errors = [
                    AppError("GTIN", f"line {c.line_no}: GTIN {c.gtin} is not a known product",
                             tag="LIN", line_no=c.line_no)
                    for c in unknown
                ]  # fmt: skip
                continue
            work.record = change.model_copy(update={"lines": tuple(
                c.model_copy(update={"product_code": products[c.gtin].code})
                if c.gtin in products else c for c in change.lines)})  # fmt: skip
            party = parties.get(change.buyer.gln or "")
            sale = (
                erp.find_sale(party.erp_id, change.order_number) if party and party.erp_id else None
            )
            work.result = Target(sale.erp_id if sale else None, sale)
            if sale is None:
                work.result.refusal = (
                    f"order {change.order_number} from {change.buyer.gln} is not known (no sale "
                    "was made of it, or it is cancelled): nothing was changed"
                )

    def write(self, ctx: Context, items: list[Work]) -> None:
        for work in items:
            target: Target = work.result
            if target.refusal is None and target.sale_erp_id is not None:
                self._apply(ctx, work, target)
            if target.refusal is not None:
                ctx.hub.ledger.dead_letter(
                    ctx.flow, self.refusal_record(ctx.profile.id, work.ref),
                    f"{ctx.file_name}: change {work.record.change_number} of order {work.ref} "
                    f"refused: {target.refusal}", error_class=REFUSED_CLASS, system="erp",
                    partner=ctx.profile.id,
                    payload={"file": ctx.file_name, "interchange": ctx.interchange_ref,
                             "message": work.message.ref},
                )  # fmt: skip

    def _apply(self, ctx: Context, work: Work, target: Target) -> None:
        change: SalesOrderChange = work.record
        erp, sale_id = ctx.hub.erp, target.sale_erp_id or ""
        try:
            outcome = ctx.hub.ledger.once(
                work.key or "", work.payload_hash,
                lambda: change_with_allowances(change, erp.change_sale(sale_id, change)),
                on_unknown=OnUnknown.dead_letter(),
                effect=Effect(ctx.flow, "erp", "change_sale", ref=work.ref, partner=ctx.profile.id),
                encode=lambda sale: sale.model_dump(mode="json"), decode=ErpSale.model_validate,
            )  # fmt: skip
        except PermanentError as exc:
            target.refusal = exc.message
            return
        if not outcome.ok or outcome.result is None:
            error: HubError | None = outcome.error
            target.refusal = f"refused earlier: {error.message if error else outcome.status}"
            return
        target.sale = outcome.result
        work.created = outcome.ran
        _record_version(ctx, change, outcome.result)

    def acknowledge(self, ctx: Context, items: list[Work]) -> list[edi_out.OutboundDocument]:
        docs: list[edi_out.OutboundDocument] = []
        for work in items:
            target: Target = work.result
            change: SalesOrderChange = work.record
            if target.refusal is not None and ctx.profile.acknowledgements.aperak:
                docs.append(ack_docs.aperak(
                    ctx.hub.ledger, ctx.profile, interchange_ref=ctx.interchange_ref,
                    message_ref=work.message.ref, record_ref=work.ref,
                    errors=[AppError("12", target.refusal, tag="BGM")], prepared=ctx.prepared,
                ))  # fmt: skip
            if ctx.profile.acknowledgements.ordrsp:
                doc, number = _response(ctx, change, target)
                docs.append(doc)
                ack_ops.expect(  # the partner may owe an acknowledgement of it (hub edi acks)
                    ctx.hub.ledger, ctx.profile, doc_type="ORDRSP", doc_key=doc.doc_key,
                    control_ref=doc.control_ref, document_number=number, file_name=doc.file_name,
                    refs=(change.order_number, target.sale.number or "" if target.sale else ""),
                )  # fmt: skip
        return docs

    def summary(self, work: Work) -> dict[str, Any]:
        target: Target = work.result
        return {"order": work.ref, "change": work.record.change_number,
                "refused": target.refusal}  # fmt: skip

    def refusal_record(self, partner: str, ref: str) -> str:
        return f"change:{partner}:{ref}"


def _record_version(ctx: Context, change: SalesOrderChange, sale: ErpSale) -> None:
    """The order's new version on its timeline (``hub trace`` lists them)."""
    entries = ctx.hub.ledger.journal_find(SaleChangeKey.kind, subjects=[change.order_number])
    version = len([e for e in entries if e["state"] == "done"])  # this one included
    what = "cancelled" if change.cancel else ", ".join(
        [f"line {c.line_no} {c.action}" + (f" qty {c.quantity}" if c.quantity else "")
         for c in change.lines]
        + ([f"delivery {change.requested_delivery_date}"] if change.requested_delivery_date
           else [])
        + ([f"order-level allowances restated ({len(change.allowance_charges)})"]
           if change.allowance_charges else []))  # fmt: skip
    record_event(
        ctx.hub.ledger, ref=change.order_number, refs=tuple(r for r in (sale.number,) if r),
        kind="sale.changed", flow=ctx.flow, system="erp", partner=ctx.profile.id,
        state=sale.state, document=f"change {change.change_number}",
        detail={"summary": f"version {version} (change {change.change_number}): {what}; "
                f"sale {sale.number} now {len(sale.lines)} line(s), {sale.total_amount} "
                f"{sale.currency}", "orders": [change.order_number], "version": version},
    )  # fmt: skip


def _response(
    ctx: Context, change: SalesOrderChange, target: Target
) -> tuple[edi_out.OutboundDocument, str]:
    sale_key = SaleKey(change.buyer.gln or "", change.order_number)
    key = DocumentKey("ORDRSP", "", f"{sale_key}:{change.change_number}")
    number = edi_out.document_number(ctx.hub.ledger, "ordrsp", ctx.profile.id, key)
    sale, deleted = target.sale, {c.line_no for c in change.lines if c.action == "delete"}
    if sale is not None:  # a line deleted by amendment stays at 0: answered as deleted once
        kept = tuple(ln for ln in sale.lines if ln.quantity or ln.line_no not in deleted)
        sale = sale.model_copy(update={"lines": kept})
    body = ordchg.change_response(
        document_number=f"RSP{number:07d}", issued=ctx.prepared.strftime("%Y%m%d"),
        change=change, supplier_gln=ctx.profile.unb.our_id,
        currency=sale.currency if sale else "EUR", sale=sale, refusal=target.refusal,
    )  # fmt: skip
    doc = edi_out.render_keyed(ctx.hub.ledger, ctx.profile, key, ("ORDRSP", "D", "96A", "UN",
                               "EAN005"), body, ctx.prepared)  # fmt: skip
    return doc, f"RSP{number:07d}"
