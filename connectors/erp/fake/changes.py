"""The FakeErp's order changes: lines by number while a sale is editable, amended once
processed, its order-level allowance/charge lines split again over the goods' VAT rates."""

from __future__ import annotations

from decimal import Decimal

from connectors.erp.fake.base import PRICE_DIGITS, SYSTEM, FakeErpBase
from schemas.errors import PermanentError
from schemas.model import ErpSale, ErpSaleLine, SalesOrderChange, SalesOrderLineChange
from transforms.edifact_orders_allowances import ADJUSTMENT_PRODUCTS
from transforms.sale_adjustments import SaleAdjustment, plan, resplit


class FakeChanges(FakeErpBase):
    """Buyers' changes and cancellations applied to the fake's sales."""

    def change_sale(self, sale_erp_id: str, change: SalesOrderChange) -> ErpSale:
        """Lines by number while the sale is draft or quotation; a confirmed sale (Tryton's
        processing, nothing shipped) is amended: no line added, a deleted one kept at 0, a
        cancelled one all at 0; ``ship`` makes it processing: too late, as on Tryton."""
        self._call()
        sale = self.sales[sale_erp_id]
        if sale.state == "cancelled" and change.cancel:
            return sale
        name = sale.number or sale_erp_id
        if sale.state not in ("draft", "quotation", "confirmed"):
            raise PermanentError(f"sale {name} is {sale.state}: the change comes too late",
                                 system=SYSTEM, code="too_late")  # fmt: skip
        amend = sale.state == "confirmed"
        if change.requested_delivery_date is not None and not change.cancel:
            sale = sale.model_copy(update={"delivery_date": change.requested_delivery_date})
            self.sales[sale_erp_id] = sale
        lines = {ln.line_no: ln for ln in sale.lines if ln.product_code not in ADJUSTMENT_PRODUCTS}
        services = [ln for ln in sale.lines if ln.product_code in ADJUSTMENT_PRODUCTS]
        added = [c.line_no for c in change.lines if c.line_no not in lines and c.action != "delete"]
        if amend and added and not change.cancel:
            raise PermanentError(f"sale {name} is processed: Tryton cannot add line(s) {added}",
                                 system=SYSTEM, code="too_late")  # fmt: skip
        if change.cancel and not amend:
            self.sales[sale_erp_id] = sale.model_copy(update={"state": "cancelled"})
            return self.sales[sale_erp_id]
        zero = {"quantity": Decimal(0)}
        for c in change.lines if not change.cancel else ():
            if c.action == "delete" and amend and c.line_no in lines:
                lines[c.line_no] = lines[c.line_no].model_copy(update=zero)
            elif c.action == "delete":
                lines.pop(c.line_no, None)
            else:
                lines[c.line_no] = self._changed_line(sale, lines.get(c.line_no), c)
        if change.cancel:
            lines = {no: ln.model_copy(update=zero) for no, ln in lines.items()}
            services = [ln.model_copy(update=zero) for ln in services]
        elif change.lines or change.allowance_charges:
            services = self._resplit(list(lines.values()), services, change, name, amend)
        kept = tuple(sorted([*lines.values(), *services], key=lambda ln: ln.line_no))
        goods = [ln for ln in kept if ln.product_code not in ADJUSTMENT_PRODUCTS]
        state = "cancelled" if goods and not any(ln.quantity for ln in goods) else sale.state
        untaxed, total = self.totals(kept)
        self.sales[sale_erp_id] = sale.model_copy(update={
            "lines": kept, "untaxed_amount": untaxed, "total_amount": total,
            "state": state})  # fmt: skip
        return self.sales[sale_erp_id]

    def _resplit(
        self, goods: list[ErpSaleLine], services: list[ErpSaleLine], change: SalesOrderChange,
        name: str, amend: bool,
    ) -> list[ErpSaleLine]:  # fmt: skip
        """The order-level allowance/charge lines split again over the changed goods' rates:
        rewritten in place, created (not on a processed sale: too late), emptied (at 0 on a
        processed sale, else gone), as on Tryton."""
        current = [SaleAdjustment(ln.line_no, ln.product_code, ln.quantity, ln.unit_price,
                                  self.line_texts.get(ln.erp_id or "", ""), ln.erp_id or "")
                   for ln in services]  # fmt: skip
        after = max((ln.line_no for ln in goods), default=0)
        target, error = resplit(self.bases(goods), after, current, change.allowance_charges)
        if error is not None:
            raise PermanentError(f"sale {name}: {error}: nothing was changed", system=SYSTEM,
                                 code="bad_allowance")  # fmt: skip
        steps = plan(current, target)
        if amend and steps.create:
            raise PermanentError(f"sale {name} is processed: Tryton adds no service line "
                                 f"{[a.product_code for a in steps.create]}", system=SYSTEM,
                                 code="too_late")  # fmt: skip
        by_ref = {ln.erp_id: ln for ln in services}
        emptied = {a.ref for a in steps.empty}
        moves = [(by_ref[a.ref], w) for a, w in steps.write] + [(None, w) for w in steps.create]
        changed = {a.ref for a, _ in steps.write}
        result = [ln.model_copy(update={"quantity": Decimal(0)}) if ln.erp_id in emptied else ln
                  for ln in services if ln.erp_id not in changed
                  and (amend or ln.erp_id not in emptied)]  # fmt: skip
        for old, want in moves:
            line = ErpSaleLine(line_no=old.line_no if amend and old else want.sequence,
                               product_code=want.product_code, quantity=Decimal(1),
                               unit_price=want.unit_price,
                               erp_id=old.erp_id if old else self._id())  # fmt: skip
            self.line_texts[line.erp_id or ""] = want.description
            result.append(line)
        return result

    def _changed_line(
        self, sale: ErpSale, old: ErpSaleLine | None, c: SalesOrderLineChange
    ) -> ErpSaleLine:
        by_code = {p.code: p for p in self.products.values()}
        product = by_code.get(c.product_code or "") or (by_code.get(old.product_code)
                                                          if old else None)  # fmt: skip
        if product is None:
            raise PermanentError(f"line {c.line_no}: unknown product", system=SYSTEM,
                                 code="unknown_product")  # fmt: skip
        price = c.unit_price if c.unit_price is not None else (
            old.unit_price if old else self._price_for(sale.party_erp_id, product,
                                                       c.quantity or Decimal(1)))  # fmt: skip
        return ErpSaleLine(
            line_no=c.line_no, product_code=product.code, gtin=product.gtin,
            quantity=c.quantity or (old.quantity if old else Decimal(1)),
            unit_price=((price or Decimal(0)) * (1 - c.discount_percent / 100)).quantize(
                PRICE_DIGITS), erp_id=old.erp_id if old else self._id(),
        )  # fmt: skip
