"""Where INVOIC and the e-invoice take a line's allowances and charges from: the invoice
customer's own sale (two customers may use one order number), as the order changes the hub
applied since left it (a restated allowance, a line added with its own, a new net price)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.edi import (
    Delimiters,
    EdifactReader,
    Message,
    OutboundMessage,
    build_interchange,
    validate,
)
from connectors.edi.serializer import render_interchange
from connectors.einvoice.mail import FakeMailer
from connectors.einvoice.validator import invoice_xml
from connectors.erp.fake import FakeErp
from hub.bootstrap import Hub
from hub.edi_out import to_segments
from hub.flows.edi_inbound import edi_orders_inbound
from hub.flows.einvoice import einvoice_outbound
from sandbox.einvoice_data import BUYERS
from sandbox.partner import drop
from schemas.model import (
    AllowanceCharge,
    ErpSale,
    ErpSaleLine,
    Party,
    PartyRef,
    SalesOrder,
    SalesOrderChange,
    SalesOrderLine,
    SalesOrderLineChange,
)
from tests.fixtures.edi_orders_body import fake_invoic
from tests.fixtures.einvoice import official_rules, official_validator, write_config
from tests.fixtures.ids import GTINS, NORD, SUED, US
from transforms.edifact_ordchg import change_to_ordchg
from transforms.edifact_orders import sales_order_to_orders
from transforms.einvoice.read import summarize
from transforms.sale_versions import change_with_allowances, latest

Segments = list[tuple[object, ...]]
PARTNERS = {NORD: "kaufhaus-nord", SUED: "markt-sued"}
ORDER = "SAME-1"
# HUB-1001 lists at 11.00: Kaufhaus Nord orders 5 at 11.00 less 1.00 (10.80 each, within its
# 2% tolerance), Markt Sued 5 at 11.50 less 2.50 (11.00 each, its 0.5%): one order number
NORD_DEAL: tuple[str, Segments] = ("11", [("ALC", "A", "", "", "1", ["DI", "", "", "Nord deal"]),
                                         ("MOA", ["204", "1"])])  # fmt: skip
SUED_DEAL: tuple[str, Segments] = ("11.5", [("ALC", "A", "", "", "1", ["TD", "", "", "Sued deal"]),
                                           ("MOA", ["204", "2.5"])])  # fmt: skip


def _allowance(code: str, amount: str, charge: bool = False) -> Segments:
    """A line's ALC+A (MOA+204) or ALC+C (MOA+23) of ``amount`` with reason ``code``."""
    return [("ALC", "C" if charge else "A", "", "", "1", [code]),
            ("MOA", ["23" if charge else "204", amount])]  # fmt: skip


def _gross(body: Segments, line_no: int, price: str, alc: Segments) -> Segments:
    """``body`` with line ``line_no`` at the gross ``price`` (PRI+AAB) followed by ``alc``."""
    at = next(i for i, s in enumerate(body) if s[0] == "LIN" and s[1] == str(line_no))
    at = next(i for i, s in enumerate(body) if s[0] == "PRI" and i > at)
    return [*body[:at], ("PRI", ["AAB", price]), *alc, *body[at + 1 :]]


def _send(hub: Hub, gln: str, message_type: str, body: Segments, ref: str) -> dict[str, object]:
    """The partner of ``gln`` sends one message of ``body``; the hub reads its inbox."""
    message = OutboundMessage(message_type, "1", to_segments(body))
    data = render_interchange(build_interchange(
        [message], sender=gln, recipient=US, control_ref=ref,
        prepared=dt.datetime(2026, 11, 2, 8, 30)), Delimiters())  # fmt: skip
    assert validate(data).verdict == "accepted", validate(data).to_dict()
    inbox: Path = hub.mailbox(hub.partners[PARTNERS[gln]]).inbox  # type: ignore[attr-defined]
    drop(inbox, f"m-{ref}.edi", data)
    return edi_orders_inbound(hub)


def _ordered(hub: Hub, erp: FakeErp, gln: str, ref: str,
             *lines: tuple[int, int, str | None, Segments]) -> ErpSale:  # fmt: skip
    """ORDERS ``ORDER`` from ``gln``: (GTIN index, quantity, gross price, the line's own ALC)
    each; a line without a gross price at its list price (net)."""
    order = SalesOrder(order_number=ORDER, order_date=dt.date(2026, 11, 2),
                       buyer=PartyRef(gln=gln), supplier=PartyRef(gln=US), currency="EUR",
                       lines=tuple(SalesOrderLine(line_no=n, gtin=GTINS[g], quantity=Decimal(q),
                                                  unit_price=Decimal(11 + g))
                                   for n, (g, q, _, _) in enumerate(lines, start=1)))  # fmt: skip
    body = sales_order_to_orders(order)
    for n, (_, _, gross, alc) in enumerate(lines, start=1):
        if gross is not None:
            body = _gross(body, n, gross, alc)
    report = _send(hub, gln, "ORDERS:D:96A:UN:EAN008", body, ref)
    assert report["orders_created"] == 1, [d.reason for d in hub.ledger.dead_letters()]
    (sale,) = [s for s in erp.sales.values() if s.reference == ORDER
               and erp.parties[s.party_erp_id].gln == gln]  # fmt: skip
    return sale


def _changed(hub: Hub, number: str, ref: str, *lines: tuple[SalesOrderLineChange, Segments]
             ) -> None:  # fmt: skip
    """Kaufhaus Nord's ORDCHG ``number`` of ``ORDER``: each line, a priced one at the gross
    price with its ALC after it."""
    change = SalesOrderChange(order_number=ORDER, change_number=number, buyer=PartyRef(gln=NORD),
                              lines=tuple(c for c, _ in lines))  # fmt: skip
    body = change_to_ordchg(change, order_date="20261103")
    for c, alc in lines:
        if alc:
            body = _gross(body, c.line_no, str(c.unit_price), alc)
    report = _send(hub, NORD, "ORDCHG:D:96A:UN:EAN008", body, ref)
    assert report["changes_created"] == 1, [d.reason for d in hub.ledger.dead_letters()]


def _invoic_lines(path: Path) -> dict[str, list[tuple[str, str, str]]]:
    """GTIN -> (ALC kind, reason code, MOA 204/23 amount) of each ALC of its INVOIC line."""
    (msg,) = [e for e in EdifactReader(path.read_bytes()) if isinstance(e, Message)]
    found: dict[str, list[tuple[str, str, str]]] = {}
    line: list[tuple[str, str, str]] | None = None
    kind = code = ""
    for s in msg.segments:
        if s.tag == "LIN":
            line = found.setdefault(s.element(3, 1), [])
        elif s.tag == "ALC" and line is not None:
            kind, code = s.element(1), s.element(5)
        elif s.tag == "MOA" and line is not None and s.element(1, 1) in ("204", "23"):
            line.append((kind, code, s.element(1, 2).replace(",", ".")))
        elif s.tag == "UNS":
            line = None
    return found


def _outbox(hub: Hub, gln: str) -> Path:
    return hub.mailbox(hub.partners[PARTNERS[gln]]).outbox  # type: ignore[attr-defined]


def _customers(erp: FakeErp) -> dict[str, str]:
    """Markt Sued in the ERP too; both customers with the VAT id and address an INVOIC
    (Markt Sued requires it) and an e-invoice need; GLN -> customer code."""
    erp.create_parties([Party(name="Markt Sued AG", gln=SUED, code="CUST-002")])
    codes = {}
    for party in list(erp.parties.values()):
        buyer = BUYERS[0] if party.gln == NORD else BUYERS[1]
        erp.parties[party.erp_id or ""] = party.model_copy(
            update={"vat": buyer.vat, "addresses": buyer.addresses}
        )
        codes[party.gln or ""] = party.code or ""
    return codes


def _both_ordered(hub: Hub, erp: FakeErp) -> dict[str, ErpSale]:
    """Kaufhaus Nord, then Markt Sued order HUB-1001 under the same order number, each with
    its own line allowance; GLN -> sale."""
    sales = {NORD: _ordered(hub, erp, NORD, "7101", (0, 5, *NORD_DEAL)),
             SUED: _ordered(hub, erp, SUED, "7102", (0, 5, *SUED_DEAL))}  # fmt: skip
    assert sales[NORD].party_erp_id != sales[SUED].party_erp_id
    assert [ln.unit_price for s in sales.values() for ln in s.lines] == [Decimal("10.8"),
                                                                         Decimal(11)]  # fmt: skip
    return sales


def test_two_customers_with_one_order_number_each_get_their_own_in_invoic(
    hub: Hub, erp: FakeErp
) -> None:
    _customers(erp)
    sales = _both_ordered(hub, erp)
    nord = _invoic_lines(fake_invoic(hub, erp, sales[NORD].erp_id, _outbox(hub, NORD)))
    sued = _invoic_lines(fake_invoic(hub, erp, sales[SUED].erp_id, _outbox(hub, SUED)))
    assert nord == {GTINS[0]: [("A", "DI", "1.00")]}
    assert sued == {GTINS[0]: [("A", "TD", "2.50")]}  # not Kaufhaus Nord's (journaled first)


def test_two_customers_with_one_order_number_each_get_their_own_in_the_einvoice(
    hub: Hub, erp: FakeErp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_EINVOICE_RULES", str(official_rules()))  # skips without ../shared
    codes = _customers(erp)
    entry = {"format": "xrechnung-ubl", "channel": "email", "buyer_reference": "04011000-1-03"}
    write_config(tmp_path, monkeypatch, {code: {**entry, "email": f"ap@{gln}.example"}
                                         for gln, code in codes.items()})  # fmt: skip
    for sale in _both_ordered(hub, erp).values():
        erp.ship(sale.erp_id)
        erp.post_invoice(sale.erp_id)
    partners = dict(hub.partners)  # the customers take e-invoices instead of INVOIC now
    for pid in PARTNERS.values():
        outbound = partners[pid].outbound.model_copy(update={"documents": ("DESADV",)})
        partners[pid] = partners[pid].model_copy(update={"outbound": outbound})
    mailer = FakeMailer()
    report = einvoice_outbound(Hub(hub.ledger, erp=erp, home=tmp_path / "e", partners=partners),
                               mailer=mailer)  # fmt: skip
    assert (report["sent"], report["dead_letters"]) == (2, 0), report
    stated = {}
    for mail in mailer.sent:
        (part,) = list(mail.iter_attachments())
        data = bytes(part.get_content())
        assert official_validator().validate(data, str(part.get_filename())).valid
        summary = summarize(invoice_xml(data))
        stated[str(mail["To"])] = [(a["reason"], a["amount"]) for a in summary.line_allowances]
    assert stated == {f"ap@{NORD}.example": [("Nord deal", "1.00")],
                      f"ap@{SUED}.example": [("Sued deal", "2.50")]}  # fmt: skip


def _quoting(hub: Hub) -> Hub:
    """The same hub with Kaufhaus Nord's orders made quotations (open to added lines)."""
    nord = hub.partners["kaufhaus-nord"].model_copy(update={"order_state": "quotation"})
    return Hub(hub.ledger, erp=hub.erp, home=hub.home,
               partners={**hub.partners, "kaufhaus-nord": nord})  # fmt: skip


def _line(no: int, action: str, gtin: int, qty: int | None = None, price: str | None = None
          ) -> SalesOrderLineChange:  # fmt: skip
    return SalesOrderLineChange(
        line_no=no, action=action, gtin=GTINS[gtin],  # type: ignore[arg-type]
        quantity=None if qty is None else Decimal(qty),
        unit_price=None if price is None else Decimal(price),
    )  # fmt: skip


def test_invoic_states_a_lines_allowance_as_the_last_change_restated_it(
    hub: Hub, erp: FakeErp
) -> None:
    """ORDERS: HUB-1001 5 x 11.00 less 1.00 (DI), HUB-1002 2 x 12.00. Change 1: HUB-1001 less
    2.00 (TD) now (10.60 each); change 2 adds HUB-1003 2 x 13.00 plus a 0.50 charge (ABK)."""
    hub = _quoting(hub)
    sale = _ordered(hub, erp, NORD, "7201", (0, 5, *NORD_DEAL), (1, 2, None, []))
    _changed(hub, "C-1", "7202", (_line(1, "change", 0, 5, "11"), _allowance("TD", "2")))
    _changed(hub, "C-2", "7203", (_line(3, "add", 2, 2, "13"), _allowance("ABK", "0.5", True)))
    now = erp.sales[sale.erp_id]
    assert [(ln.line_no, ln.unit_price) for ln in now.lines] == [
        (1, Decimal("10.6")), (2, Decimal(12)), (3, Decimal("13.25"))]  # fmt: skip
    lines = _invoic_lines(fake_invoic(hub, erp, sale.erp_id, _outbox(hub, NORD)))
    assert lines == {GTINS[0]: [("A", "TD", "2.00")], GTINS[1]: [],
                     GTINS[2]: [("C", "ABK", "0.50")]}  # fmt: skip


def test_invoic_keeps_an_allowance_through_a_quantity_change_not_a_new_price(
    hub: Hub, erp: FakeErp
) -> None:
    """ORDERS: HUB-1001 5 x 11.00 less 1.00 (DI), HUB-1002 2 x 12.00 plus 0.24 (ABK). The
    change doubles HUB-1001 (its price stands: 2.00 off 10) and prices HUB-1002 at 12.00 net
    (the charge is gone from its price, so from the INVOIC)."""
    sale = _ordered(hub, erp, NORD, "7301", (0, 5, *NORD_DEAL),
                    (1, 2, "12", _allowance("ABK", "0.24", True)))  # fmt: skip
    assert [ln.unit_price for ln in sale.lines] == [Decimal("10.8"), Decimal("12.12")]
    _changed(hub, "C-1", "7302", (_line(1, "change", 0, 10), []),
             (_line(2, "change", 1, 2, "12"), []))  # fmt: skip
    lines = _invoic_lines(fake_invoic(hub, erp, sale.erp_id, _outbox(hub, NORD)))
    assert lines == {GTINS[0]: [("A", "DI", "2.00")], GTINS[1]: []}


def _sale(*lines: tuple[int, str, str, str, tuple[AllowanceCharge, ...]]) -> ErpSale:
    """A journaled sale of (line, product, quantity, net price, allowances) each."""
    return ErpSale(erp_id="9", reference=ORDER, party_erp_id="1", state="quotation",
                   currency="EUR", lines=tuple(ErpSaleLine(
                       line_no=n, product_code=p, quantity=Decimal(q), unit_price=Decimal(u),
                       allowance_charges=a) for n, p, q, u, a in lines))  # fmt: skip


def test_an_order_level_allowance_keeps_its_reason_through_changes() -> None:
    """4.00 off the order (TD, Promo) split over 19% and 7% (ALLOWANCE 2.50, ALLOWANCE-7
    1.50): the 7% line deleted moves all 4.00 to ALLOWANCE, still TD Promo (INVOIC's header
    ALC reason); a change restating it as 3.00 (DI) makes the line DI 3.00."""
    promo = AllowanceCharge(amount=Decimal("2.5"), reason_code="TD", reason="Promo")
    made = _sale(
        (1, "HUB-1001", "5", "11", ()),
        (2, "HUB-1002", "2", "12", ()),
        (3, "ALLOWANCE", "1", "-2.5", (promo,)),
        (4, "ALLOWANCE-7", "1", "-1.5", (promo.model_copy(update={"amount": Decimal("1.5")}),)),
    )
    deleted = _sale((1, "HUB-1001", "5", "11", ()), (2, "ALLOWANCE", "1", "-4", ()))
    assert [ln.allowance_charges for ln in latest(made, [deleted]).lines] == [
        (), (promo.model_copy(update={"amount": Decimal("4.00")}),)]  # fmt: skip
    di = AllowanceCharge(amount=Decimal(3), reason_code="DI")
    restated = SalesOrderChange(order_number=ORDER, change_number="C-2", buyer=PartyRef(gln=NORD),
                                allowance_charges=(di,))  # fmt: skip
    after = _sale((1, "HUB-1001", "5", "11", ()), (2, "ALLOWANCE", "1", "-3", ()))
    journaled = change_with_allowances(restated, after)
    assert [ln.allowance_charges for ln in latest(made, [deleted, journaled]).lines] == [(), (di,)]
