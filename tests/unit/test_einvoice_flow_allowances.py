"""The e-invoice flow states each line's allowances and charges (BG-27, BG-28) from the sale the
hub made of the customer's EDI order, with the amounts INVOIC sends for that sale (the ERP keeps
only net prices); the readable PDF page and `hub einvoice show` list them under the line.

Needs ../shared/contracts/einvoicing for the official rules; skips cleanly without it.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from connectors.edi import EdifactReader, Message, validate
from connectors.einvoice.mail import FakeMailer
from connectors.einvoice.validator import invoice_xml
from connectors.erp.fake import FakeErp
from hub.bootstrap import Hub
from hub.cli import app
from hub.flows.edi_inbound import edi_orders_inbound
from hub.flows.einvoice import einvoice_outbound
from hub.ledger import Ledger
from sandbox.einvoice_data import BUYERS
from sandbox.partner import drop
from schemas.einvoice_config import EInvoiceFormat
from schemas.model import ErpSale, PartyRef, SalesOrder, SalesOrderLine
from tests.fixtures.edi_orders_body import fake_invoic, orders_of_body
from tests.fixtures.einvoice import PDF, XR, official_rules, official_validator, write_config
from tests.fixtures.ids import GTINS, NORD, US
from transforms.edifact_orders import sales_order_to_orders
from transforms.einvoice.read import summarize

runner = CliRunner()
PARTNER = "kaufhaus-nord"
# HUB-1001 at 11.00 gross: 5 x 11.00 = 55.00, less 2% volume (1.10, DI), plus 0.55 packing
# (ABK) = 54.45 (10.89 each, within the partner's 2% price tolerance); HUB-1002 2 x 12.00 net
VOLUME = [("ALC", "A", "", "", "1", ["DI", "", "", "Volume"]), ("PCD", ["1", "2"])]
PACKING = [("ALC", "C", "", "", "1", ["ABK", "", "", "Packing"]), ("MOA", ["23", "0.55"])]


def _orders() -> bytes:
    """The partner's ORDERS: line 1 at its gross price (PRI+AAB) with VOLUME and PACKING."""
    lines = tuple(
        SalesOrderLine(line_no=n, gtin=GTINS[n - 1], quantity=Decimal(q), unit_price=Decimal(p))
        for n, q, p in ((1, 5, 11), (2, 2, 12))
    )
    order = SalesOrder(order_number="EA-1", order_date=dt.date(2026, 11, 2),
                       buyer=PartyRef(gln=NORD), supplier=PartyRef(gln=US), currency="EUR",
                       lines=lines)  # fmt: skip
    body = sales_order_to_orders(order)
    at = next(i for i, s in enumerate(body) if s[0] == "PRI")
    body = [*body[:at], ("PRI", ["AAB", "11"]), *VOLUME, *PACKING, *body[at + 1 :]]
    data = orders_of_body(body, sender=NORD, recipient=US, control_ref="9301")
    assert validate(data).verdict == "accepted", validate(data).to_dict()
    return data


def _invoic_line(path: Path) -> dict[str, object]:
    """The first INVOIC line's amount, gross price and (kind, reason, percent, amount) each."""
    (msg,) = [e for e in EdifactReader(path.read_bytes()) if isinstance(e, Message)]
    start = next(i for i, s in enumerate(msg.segments) if s.tag == "LIN")
    end = next(i for i, s in enumerate(msg.segments) if s.tag == "LIN" and i > start)
    found: dict[str, object] = {"adjustments": []}
    adjustments: list[list[str]] = found["adjustments"]  # type: ignore[assignment]
    for s in msg.segments[start:end]:
        if s.tag == "ALC":
            adjustments.append([s.element(1), s.element(5), "", ""])
        elif s.tag == "PCD" and adjustments:
            adjustments[-1][2] = s.element(1, 2)
        elif s.tag == "MOA" and s.element(1, 1) in ("204", "23"):
            adjustments[-1][3] = s.element(1, 2)
        elif s.tag == "MOA" and s.element(1, 1) == "203":
            found["amount"] = Decimal(s.element(1, 2))
        elif s.tag == "PRI" and s.element(1) == "AAB":
            found["gross"] = Decimal(s.element(1, 2))
    return found


@pytest.fixture
def code(erp: FakeErp, monkeypatch: pytest.MonkeyPatch) -> str:
    """The EDI customer (GLN NORD) with the address and VAT id an e-invoice needs; its code."""
    monkeypatch.setenv("HUB_EINVOICE_RULES", str(official_rules()))  # skips without ../shared
    (party,) = [p for p in erp.parties.values() if p.gln == NORD]
    erp.parties[party.erp_id or ""] = party.model_copy(
        update={"vat": BUYERS[0].vat, "addresses": BUYERS[0].addresses}
    )
    return party.code or ""


def _ordered(hub: Hub, erp: FakeErp) -> ErpSale:
    """The partner's ORDERS read by the hub: the sale it made (and journaled)."""
    inbox: Path = hub.mailbox(hub.partners[PARTNER]).inbox  # type: ignore[attr-defined]
    drop(inbox, "o-9301.edi", _orders())
    assert edi_orders_inbound(hub)["orders_created"] == 1, hub.ledger.dead_letters()
    (sale,) = erp.sales.values()
    return sale


def _einvoice_hub(edi: Hub, erp: FakeErp, home: Path) -> Hub:
    """The same ledger and ERP, the customer now taking e-invoices instead of INVOIC (it
    still orders by EDI)."""
    partners = dict(edi.partners)
    profile = partners[PARTNER]
    outbound = profile.outbound.model_copy(update={"documents": ("DESADV",)})
    partners[PARTNER] = profile.model_copy(update={"outbound": outbound})
    return Hub(edi.ledger, erp=erp, home=home, partners=partners)


def _sent(hub: Hub, tmp_path: Path) -> Path:
    """Run the e-invoice flow: the one document it mailed (valid), saved under ``tmp_path``."""
    mailer = FakeMailer()
    report = einvoice_outbound(hub, mailer=mailer)
    assert (report["sent"], report["dead_letters"]) == (1, 0), report
    (mail,) = mailer.sent
    (part,) = list(mail.iter_attachments())
    data = bytes(part.get_content())
    check = official_validator().validate(data, str(part.get_filename()))
    assert check.valid, [f.line() for f in check.errors]
    path = tmp_path / str(part.get_filename())
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("fmt", ["zugferd-en16931", "xrechnung-ubl"])
def test_the_orders_line_allowances_reach_the_einvoice_as_invoic_sends_them(
    fmt: EInvoiceFormat,
    code: str,
    hub: Hub,
    erp: FakeErp,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entry = {**(XR if fmt == "xrechnung-ubl" else PDF), "format": fmt, "channel": "email"}
    write_config(tmp_path, monkeypatch, {code: {**entry, "email": "ap@nord.example"}})
    sale = _ordered(hub, erp)
    outbox: Path = hub.mailbox(hub.partners[PARTNER]).outbox  # type: ignore[attr-defined]
    invoic = _invoic_line(fake_invoic(hub, erp, sale.erp_id, outbox))
    assert invoic["adjustments"] == [["A", "DI", "2", "1.10"], ["C", "ABK", "", "0.55"]]

    path = _sent(_einvoice_hub(hub, erp, tmp_path / "home"), tmp_path)
    shown = runner.invoke(app, ["einvoice", "show", "--json", str(path)])
    assert shown.exit_code == 0, shown.output
    summary = json.loads(shown.stdout)
    # the same amounts as INVOIC's ALC/PCD/MOA; DI is UNCL 5189 95 in EN 16931
    assert [[a[k] for k in ("line", "kind", "code", "reason", "percent", "base", "amount")]
            for a in summary["line_allowances"]] == [
        ["1", "allowance", "95", "Volume", "2", "55.00", "1.10"],
        ["1", "charge", "ABK", "Packing", "", "", "0.55"],
    ]  # fmt: skip
    first, second = summary["lines"]
    assert Decimal(first["price"]) == invoic["gross"] == Decimal(11)  # BT-146: the gross price
    assert Decimal(first["net"]) == invoic["amount"] == Decimal("54.45")  # BT-131: the ERP's
    assert (second["price"], second["net"]) == ("12", "24.00")
    assert Decimal(summary["totals"]["net"]) == sale.untaxed_amount == Decimal("78.45")

    table = runner.invoke(app, ["einvoice", "show", str(path)], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert "allowance (95): Volume, 2% of 55.00: -1.10" in table.output
    assert "charge (ABK): Packing: +0.55" in table.output
    if fmt == "zugferd-en16931":
        text = PdfReader(io.BytesIO(path.read_bytes())).pages[0].extract_text()
        lines = text.splitlines()
        at = next(i for i, ln in enumerate(lines) if ln.startswith("1 "))
        assert lines[at + 1 : at + 3] == ["Volume, 2% of 55.00: -1.10", "Packing: +0.55"], text
        assert lines[at].endswith("11 19% 54.45"), lines[at]


def test_an_invoice_of_no_journaled_sale_has_no_line_allowances(
    code: str, hub: Hub, erp: FakeErp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same invoice without the hub's sale (an order from elsewhere): the ERP's net price,
    nothing under the line."""
    write_config(tmp_path, monkeypatch, {code: PDF})
    sale = _ordered(hub, erp)
    erp.ship(sale.erp_id)
    erp.post_invoice(sale.erp_id)
    ledger = Ledger(f"sqlite:///{tmp_path / 'elsewhere.sqlite'}")  # no sale journaled
    ledger.upgrade()
    path = _sent(Hub(ledger, erp=erp, home=tmp_path / "elsewhere", partners={}), tmp_path)
    summary = summarize(invoice_xml(path.read_bytes()))
    assert summary.line_allowances == []
    assert [ln["price"] for ln in summary.lines] == ["10.89", "12"]
    ledger.dispose()
