"""A line's amount allowance and charge, with the order's reason codes, from ORDERS through
the real Tryton sale and invoice to the INVOIC, which states them again per line: gross
price, ALC with the reason code, MOA 204/23 (issue 14.3)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from connectors.edi import Message
from connectors.erp.tryton import TrytonErp
from hub.bootstrap import Hub
from schemas.model import AllowanceCharge
from tests.integration.test_edi_partner_conversation import (
    ITEMS,
    _adjusted_order,
    _moa,
    _order_to_invoic,
    hub,
)

pytestmark = pytest.mark.integration
__all__ = ["hub"]  # the conversation's hub fixture: Kaufhaus Nord on the sandbox Tryton


def _line_group(msg: Message, number: str) -> list[tuple[str, ...]]:
    """Tag and first elements of each segment of the INVOIC line ``number`` (LIN to LIN)."""
    segments = msg.segments
    start = next(i for i, s in enumerate(segments) if s.tag == "LIN" and s.element(1) == number)
    end = next(i for i, s in enumerate(segments) if i > start and s.tag in ("LIN", "UNS"))
    group = segments[start:end]
    return [(s.tag, s.element(1, 1), s.element(1, 2), s.element(5, 1), s.element(5, 4))
            for s in group if s.tag in ("PRI", "ALC", "PCD", "MOA")]  # fmt: skip


def test_line_allowance_and_charge_with_reason_codes_reach_the_invoic_on_tryton(
    hub: Hub, erp: TrytonErp, erp_operator: Any, unique: str
) -> None:
    item, other = ITEMS[-1], ITEMS[-2]  # both at 19%, as the services are
    order = _adjusted_order(f"LR-{unique}"[:35], item, other)
    gross = item.list_price
    net = gross - Decimal("0.03")  # 2 x gross less 0.10 (DI) plus 0.04 (ABK): 0.03 off each
    line = order.lines[0].model_copy(update={"unit_price": net, "allowance_charges": (
        AllowanceCharge(amount=Decimal("0.10"), reason="Volume", reason_code="DI"),
        AllowanceCharge(charge=True, amount=Decimal("0.04"), reason_code="ABK"))})  # fmt: skip
    header = (AllowanceCharge(amount=Decimal("5.00"), reason_code="DI"),
              AllowanceCharge(charge=True, amount=Decimal("3.50"), reason_code="FC"))  # fmt: skip
    order = order.model_copy(update={"lines": (line, order.lines[1]), "allowance_charges": header})
    sale, invoice, msg = _order_to_invoic(hub, erp, erp_operator, order, f"8{unique[-8:]}")
    assert sale.lines[0].unit_price == net  # the ERP has the net price only
    line_total = 2 * net
    money = "{:.2f}".format
    assert _line_group(msg, "1") == [
        ("MOA", "203", money(line_total), "", ""),
        ("PRI", "AAA", format(net.normalize(), "f"), "", ""),
        ("PRI", "AAB", format(gross.normalize(), "f"), "", ""),
        ("ALC", "A", "", "DI", "Volume"), ("MOA", "204", "0.10", "", ""),
        ("ALC", "C", "", "ABK", ""), ("MOA", "23", "0.04", "", ""),
    ]  # fmt: skip
    assert [(s.element(1), s.element(5, 1)) for s in msg.segments if s.tag == "ALC"][:2] == [
        ("A", "DI"),
        ("C", "FC"),
    ]  # the order-level ones, with the order's reason codes
    moa = _moa(msg)
    assert moa["79"][0] + moa["131"][0] == moa["125"][0] == invoice.untaxed_amount
    assert invoice.untaxed_amount == line_total + 3 * other.list_price - Decimal("1.50")
