"""A line's allowance and charge from ORDERS through the real Tryton sale and invoice to the
e-invoice the flow sends: BG-27/BG-28 with the amounts the INVOIC of the same sale states,
BT-146 the gross price, BT-131 and the totals Tryton's, valid by the official rules."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.einvoice.mail import FakeMailer
from connectors.einvoice.validator import invoice_xml
from connectors.erp.tryton import TrytonErp
from hub.bootstrap import Hub
from hub.flows.einvoice import einvoice_outbound
from schemas.model import AllowanceCharge, SalesOrder
from tests.fixtures.einvoice import PDF, official_rules, official_validator, write_config
from tests.integration import test_edi_partner_conversation as conversation
from tests.integration.test_edi_line_allowances_tryton import _line_group
from transforms.einvoice.read import summarize

pytestmark = pytest.mark.integration
hub = conversation.hub  # the conversation's fixture: Kaufhaus Nord on the sandbox Tryton
ITEMS, NORD = conversation.ITEMS, conversation.NORD


ITEM = ITEMS[-1]  # at 19%, as the services of the order's own allowance and charge are
# 2 x ITEM less 0.10 (DI) plus 0.04 (ABK): 0.03 under its list price each
ADJUSTMENTS = (
    AllowanceCharge(amount=Decimal("0.10"), reason="Volume", reason_code="DI"),
    AllowanceCharge(charge=True, amount=Decimal("0.04"), reason="Packing", reason_code="ABK"),
)
NET = ITEM.list_price - Decimal("0.03")


def _order(number: str) -> SalesOrder:
    """The conversation's adjusted order, its first line (2 x ITEM) with ADJUSTMENTS."""
    order = conversation._adjusted_order(number, ITEM, ITEMS[-2])
    first = order.lines[0].model_copy(update={"unit_price": NET, "allowance_charges": ADJUSTMENTS})
    return order.model_copy(update={"lines": (first, *order.lines[1:])})


def _einvoice_hub(edi: Hub, erp: TrytonErp, home: Path) -> Hub:
    """The same ledger and ERP, Kaufhaus Nord now taking e-invoices instead of INVOIC (it
    still orders by EDI)."""
    nord = edi.partners["kaufhaus-nord"]
    outbound = nord.outbound.model_copy(update={"documents": ("DESADV",)})
    return Hub(
        edi.ledger,
        erp=erp,
        home=home,
        partners={nord.id: nord.model_copy(update={"outbound": outbound})},
    )


def test_the_orders_line_allowances_reach_the_einvoice_on_tryton(
    hub: Hub,
    erp: TrytonErp,
    erp_operator: Any,
    unique: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HUB_EINVOICE_RULES", str(official_rules()))  # skips without ../shared
    write_config(tmp_path, monkeypatch, {NORD.code: PDF})
    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)
    order = _order(f"LE-{unique}"[:35])
    sale, invoice, msg = conversation._order_to_invoic(
        hub, erp, erp_operator, order, f"7{unique[-8:]}"
    )
    assert sale.lines[0].unit_price == NET  # the ERP has the net price only
    invoic = _line_group(msg, "1")
    assert [(s[0], s[1], s[2], s[3]) for s in invoic if s[0] in ("ALC", "MOA")][1:] == [
        ("ALC", "A", "", "DI"), ("MOA", "204", "0.10", ""),
        ("ALC", "C", "", "ABK"), ("MOA", "23", "0.04", ""),
    ]  # fmt: skip

    mailer = FakeMailer()
    report = einvoice_outbound(
        _einvoice_hub(hub, erp, tmp_path / "home"), mailer=mailer, since=started.isoformat()
    )
    assert report["dead_letters"] == 0, report
    (mail,) = [m for m in mailer.sent if invoice.number in str(m["Subject"])]
    (part,) = list(mail.iter_attachments())
    data = bytes(part.get_content())
    check = official_validator().validate(data, str(part.get_filename()))
    assert check.valid, [f.line() for f in check.errors]
    summary = summarize(invoice_xml(data))
    assert [(a["line"], a["kind"], a["code"], a["reason"], a["amount"])
            for a in summary.line_allowances] == [
        ("1", "allowance", "95", "Volume", "0.10"),  # INVOIC's ALC+A DI, MOA 204
        ("1", "charge", "ABK", "Packing", "0.04"),  # INVOIC's ALC+C ABK, MOA 23
    ]  # fmt: skip
    first = summary.lines[0]
    assert Decimal(first["price"]) == ITEM.list_price  # INVOIC's PRI+AAB
    assert Decimal(first["net"]) == 2 * NET  # INVOIC's MOA+203, Tryton's line amount
    assert Decimal(summary.totals["net"]) == invoice.untaxed_amount
    assert Decimal(summary.totals["payable"]) == invoice.total_amount
