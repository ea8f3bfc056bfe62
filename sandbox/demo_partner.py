"""The partner's side of the conversation: CONTRL and APERAK about the hub's documents.

``contrl_for`` answers one of the hub's interchanges with a CONTRL (syntax 3, or 4 with
``CONTRL:4:1``), built by the hub's own CONTRL serializer as a partner's translator would;
``aperak_for`` writes an EANCOM APERAK (D96A EAN003) naming our document by its number,
accepting it (BGM 1225 = 29) or refusing it with ERC codes. ``answer_documents`` is the
demo's step: it reads the hub's outboxes, accepts one INVOIC and rejects another, and
drops both into the partner's inbox for the next inbound run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectors.edi import Delimiters, OutboundMessage, build_interchange
from connectors.edi.serializer import render_interchange
from hub.edi_out import to_segments
from sandbox.partner import drop, orders_interchange
from schemas import model as m
from schemas.model import PartyRef, Product, SalesOrder, SalesOrderLine
from transforms import edifact_acks as acks
from transforms.edifact_ordchg import change_to_ordchg
from transforms.edifact_orders import sales_order_to_orders

if TYPE_CHECKING:
    from rich.console import Console

    from hub.bootstrap import Hub

CONTRL_V3 = "CONTRL:D:3:UN"
CONTRL_V4 = "CONTRL:4:1:UN"
APERAK_D96A = "APERAK:D:96A:UN:EAN003"
ORDCHG_D96A = "ORDCHG:D:96A:UN:EAN008"
# our document type -> the RFF qualifier an APERAK names it by
DOCUMENT_QUALIFIER = {
    "INVOIC": "IV",
    "DESADV": "AAK",
    "ORDRSP": "ACW",
    "INVRPT": "ACW",
    "ORDERS": "ON",  # the order our ORDRSP answered
}


def _interchange(
    message_type: str,
    body: Sequence[tuple[object, ...]],
    *,
    partner_gln: str,
    our_gln: str,
    **envelope: Any,
) -> bytes:
    """The partner's interchange of one message; ``envelope``: control_ref, prepared,
    syntax_version, syntax_identifier as ``build_interchange`` takes them."""
    segments = build_interchange(
        [OutboundMessage(message_type, "1", to_segments(body))], sender=partner_gln,
        sender_qualifier="14", recipient=our_gln, recipient_qualifier="14", **envelope,
    )  # fmt: skip
    return render_interchange(segments, Delimiters(), una=True, newline=True)


def contrl_for(
    our_ref: str,
    our_type: str,
    *,
    partner_gln: str,
    our_gln: str,
    control_ref: str,
    accepted: bool = True,
    errors: Sequence[acks.SyntaxFinding] = (),
    syntax_version: str = "3",
    syntax_identifier: str = "UNOC",
    prepared: datetime = datetime(2026, 11, 4, 8, 0),
) -> bytes:
    """A partner's CONTRL on our interchange ``our_ref`` (one message ``1`` of S009
    ``our_type``), accepted, or rejected with UCS/UCD ``errors``."""
    body = acks.contrl(
        interchange_ref=our_ref,
        sender=(our_gln, "14"),
        recipient=(partner_gln, "14"),
        interchange_findings=(),
        messages=[acks.MessageVerdict("1", our_type.split(":"), accepted, errors)],
    )
    message_type = CONTRL_V4 if syntax_version == "4" else CONTRL_V3
    return _interchange(
        message_type, body, partner_gln=partner_gln, our_gln=our_gln, control_ref=control_ref,
        prepared=prepared, syntax_version=syntax_version, syntax_identifier=syntax_identifier,
    )  # fmt: skip


def aperak_for(
    document_number: str,
    doc_type: str,
    *,
    partner_gln: str,
    our_gln: str,
    control_ref: str,
    errors: Sequence[tuple[str, str]] = (),
    number: str = "APK-1",
    syntax_identifier: str = "UNOC",
    prepared: datetime = datetime(2026, 11, 4, 9, 0),
) -> bytes:
    """A partner's APERAK on our document ``document_number``: accepted (BGM 29) without
    ``errors``, else not accepted (27) with one ERC + FTX per (code, text)."""
    issued: date = prepared.date()
    body: list[tuple[object, ...]] = [
        ("BGM", "313", number, "27" if errors else "29"),
        ("DTM", ["137", issued.strftime("%Y%m%d"), "102"]),
        ("RFF", [DOCUMENT_QUALIFIER.get(doc_type, "ACW"), document_number]),
        ("NAD", "MS", [partner_gln, "", "9"]),
        ("NAD", "MR", [our_gln, "", "9"]),
    ]
    for code, text in errors:
        body.append(("ERC", [code]))
        body.append(("FTX", "AAO", "", "", [text[i : i + 70] for i in range(0, len(text), 70)]))
    return _interchange(
        APERAK_D96A, body, partner_gln=partner_gln, our_gln=our_gln, control_ref=control_ref,
        prepared=prepared, syntax_identifier=syntax_identifier,
    )  # fmt: skip


# -- the demo's step ----------------------------------------------------------------------


def _answers(hub: Hub, docs: list[dict[str, Any]]) -> list[str]:
    """Drop the partners' answers: a CONTRL (syntax 4) accepting every document, an APERAK
    accepting Kaufhaus Nord's INVOIC and one refusing Markt Sued's (its VAT id)."""
    dropped = []
    refused = False
    for n, doc in enumerate(d for d in docs if d["state"] == "sent"):
        profile = hub.partners[doc["partner"]]
        box = hub.mailbox(profile)
        partner, us, charset = profile.unb.partner_id, profile.unb.our_id, profile.syntax_identifier
        label = f"{doc['doc_type']}:D:96A:UN"
        contrl = contrl_for(doc["control_ref"], label, partner_gln=partner, our_gln=us,
                            control_ref=f"ACK{n:06d}", syntax_version="4",
                            syntax_identifier=charset)  # fmt: skip
        drop(box.inbox, f"contrl_{doc['control_ref']}.edi", contrl)  # type: ignore[attr-defined]
        if doc["doc_type"] != "INVOIC":
            continue
        errors = []
        if profile.id == "markt-sued" and not refused:  # one INVOIC refused, for the demo
            errors = [("12", "NAD+BY RFF+VA: buyer VAT id missing, required for our tax audit")]
            refused = True
        aperak = aperak_for(doc["document_number"], "INVOIC", partner_gln=partner, our_gln=us,
                            control_ref=f"APK{n:06d}", errors=errors, number=f"APK-{n}",
                            syntax_identifier=charset)  # fmt: skip
        drop(box.inbox, f"aperak_{doc['control_ref']}.edi", aperak)  # type: ignore[attr-defined]
        verdict = "refusing" if errors else "accepting"
        dropped.append(f"{profile.id}: APERAK {verdict} INVOIC {doc['document_number']}")
    contrls = sum(1 for d in docs if d["state"] == "sent")
    return [f"{contrls} CONTRL (syntax 4) accepting every document sent", *dropped]


def answer_documents(run_dag: Callable[[str], Any], console: Console) -> dict[str, Any]:
    """Partners acknowledge the hub's documents; the rejected INVOIC is corrected and re-sent
    under a new control number; ``hub edi acks`` shows every document's state."""
    from hub.bootstrap import Hub
    from hub.flows.edi_outbound_resend import resend
    from hub.ops.acks import NOT_EXPECTED, listing

    console.rule("[bold cyan]4b. Partners acknowledge the hub's documents (CONTRL, APERAK)")
    hub = Hub.from_env()
    try:
        for line in _answers(hub, listing(hub.ledger)):
            console.print(f"  dropped {line}")
    finally:
        hub.close()
    run_dag("edi_orders_inbound")
    hub = Hub.from_env()
    try:
        for doc in listing(hub.ledger, state="rejected"):
            done = resend(hub, doc["partner"], doc["control_ref"], by="demo",
                          reason="buyer VAT id added in the ERP")  # fmt: skip
            console.print(
                f"  re-sent {done['doc_type']} {done['document_number']} to {done['partner']} "
                f"as interchange {done['control_ref']} (was {done['was']}), audited"
            )
        rows = listing(hub.ledger)
    finally:
        hub.close()
    from rich.table import Table

    table = Table(title="hub edi acks: documents sent and their acknowledgement state")
    for col in ("partner", "type", "number", "interchange", "state", "note"):
        table.add_column(col)
    answers: dict[str, int] = {}
    for r in rows:
        if r["state"] == NOT_EXPECTED:  # the hub's own CONTRL/APERAK/ORDRSP: counted below
            answers[r["doc_type"]] = answers.get(r["doc_type"], 0) + 1
            continue
        note = f"re-sent as {r['resent_as']}" if r["resent_as"] else ""
        note = note or "; ".join(f"{e['code']} {e.get('text', '')}" for e in r["errors"][:1])
        table.add_row(r["partner"], r["doc_type"], r["document_number"], r["control_ref"],
                      r["state"], note[:60])  # fmt: skip
    console.print(table)
    console.print("  and the hub's own answers to partners' interchanges, listed as "
                  f"{NOT_EXPECTED} (no acknowledgement is owed for them): "
                  + ", ".join(f"{n} {kind}" for kind, n in sorted(answers.items())))  # fmt: skip
    states: dict[str, int] = {}
    for r in rows:
        states[r["state"]] = states.get(r["state"], 0) + 1
    return states


def ordchg_for(change: m.SalesOrderChange, *, partner_gln: str, our_gln: str, control_ref: str,
               cancelling: SalesOrder | None = None, message_type: str = ORDCHG_D96A,
               prepared: datetime = datetime(2026, 11, 3, 9, 0)) -> bytes:  # fmt: skip
    """A partner's ORDCHG (D96A EAN008) for ``change``; with ``cancelling`` (the order as
    first sent) an ORDERS with BGM 1225 = 1 instead, the other way partners cancel."""
    body = change_to_ordchg(change, order_date=prepared.strftime("%Y%m%d"))
    label = message_type
    if cancelling is not None:
        label = "ORDERS:D:96A:UN:EAN008"
        body = [("BGM", "220", cancelling.order_number, "1") if s[0] == "BGM" else s
                for s in sales_order_to_orders(cancelling)]  # fmt: skip
    return _interchange(label, body, partner_gln=partner_gln, our_gln=our_gln,
                        control_ref=control_ref, prepared=prepared)  # fmt: skip


def _conversation_orders(products: list[Product], buyer: str, us: str) -> list[SalesOrder]:
    """PL-1: 100 of the first product at its list price less a 10% allowance (the price
    list's price from 100) and 5.00 off the line (ALC+A DI, MOA 204: a net price), and more
    of the second than the warehouse holds (same allowance, a backorder), 25.00 off the
    order; CH-1 and CX-1: orders the partner changes and cancels next."""
    first, second, third = products[:3]

    def line(no: int, item: Product, qty: int, discount: str = "0") -> SalesOrderLine:
        return SalesOrderLine(
            line_no=no, gtin=item.gtin, quantity=Decimal(qty), unit_price=item.list_price,
            discount_percent=Decimal(discount),
        )  # fmt: skip

    def order(number: str, *lines: SalesOrderLine) -> SalesOrder:
        return SalesOrder(order_number=number, order_date=date(2026, 11, 3),
                          buyer=PartyRef(gln=buyer), supplier=PartyRef(gln=us), currency="EUR",
                          lines=lines)  # fmt: skip

    return [
        order(
            "PL-00000001", _less(line(1, first, 100, "10"), Decimal(5)), line(2, second, 5000, "10")
        ).model_copy(
            update={"allowance_charges": (m.AllowanceCharge(amount=Decimal(25), reason_code="TD"),)}
        ),  # and 25.00 off the whole order (header ALC+A, MOA+204): an ALLOWANCE sale line
        order("CH-00000001", line(1, first, 4), line(2, third, 6)),
        order("CX-00000001", line(1, third, 2)),
    ]


def _less(line: SalesOrderLine, amount: Decimal) -> SalesOrderLine:
    """``line`` (gross price, a percentage) with ``amount`` off its total as well: its net
    price, and both as the line's allowances (the ORDERS states gross price, ALC, PCD, MOA)."""
    assert line.unit_price is not None
    gross = line.quantity * line.unit_price
    share = (gross * line.discount_percent / 100).quantize(Decimal("0.01"))
    return line.model_copy(update={
        "unit_price": (gross - share - amount) / line.quantity, "discount_percent": Decimal(0),
        "allowance_charges": (
            m.AllowanceCharge(amount=share, reason_code="TD", percent=line.discount_percent),
            m.AllowanceCharge(amount=amount, reason_code="DI", reason="Aktion")),
    })  # fmt: skip


def conversation(console: Console) -> dict[str, Any]:
    """A price-list customer orders at its price with an allowance, gets an ORDRSP with a
    backorder line, changes one confirmed order (ORDCHG: Tryton has processed it, so the
    change is a sale amendment) and cancels another, with Kaufhaus Nord's profile set for
    this step to answer from availability."""
    from hub.bootstrap import Hub
    from hub.flows.edi_inbound import edi_orders_inbound
    from hub.ops.trace import trace

    console.rule("[bold cyan]7. A partner conversation: price list, allowance, backorder, "
                 "change, cancellation")  # fmt: skip
    base = Hub.from_env()
    nord = base.partners["kaufhaus-nord"].model_copy(
        update={"ordrsp_mode": "availability", "backorder_days": 7, "order_state": "confirmed"}
    )
    hub = Hub(base.ledger, erp=base.erp, home=base.home, partners={nord.id: nord})
    inbox: Path = hub.mailbox(nord).inbox  # type: ignore[attr-defined]
    partner, us = nord.unb.partner_id, nord.unb.our_id
    try:
        products = [p for p in hub.erp.list_products() if p.gtin and p.list_price]
        orders = _conversation_orders(products, partner, us)
        data = orders_interchange(orders, sender=partner, recipient=us, control_ref="9100")
        drop(inbox, "conversation_orders.edi", data)
        edi_orders_inbound(hub, partner=nord.id)
        ch, cx = orders[1], orders[2]
        change = m.SalesOrderChange(
            order_number=ch.order_number, change_number="CHG-1", buyer=ch.buyer,
            lines=(m.SalesOrderLineChange(line_no=1, action="change", gtin=ch.lines[0].gtin,
                                        quantity=Decimal(12)),),
        )  # fmt: skip
        cancel = m.SalesOrderChange(order_number=cx.order_number, change_number="CHG-2",
                                  buyer=cx.buyer, cancel=True)  # fmt: skip
        for name, msg, ref in (("change", change, "9101"), ("cancel", cancel, "9102")):
            data = ordchg_for(msg, partner_gln=partner, our_gln=us, control_ref=ref)
            drop(inbox, f"conversation_{name}.edi", data)
        edi_orders_inbound(hub, partner=nord.id)
        shown = _show_conversation(console, hub, [o.order_number for o in orders], trace)
        return {**shown, "invoic": _invoiced(console, hub, orders[0].order_number)}
    finally:
        hub.close()
        base.close()


def _invoiced(console: Console, hub: Hub, number: str) -> list[str]:
    """The ERP's staff post the price-list order's invoice; the hub sends its INVOIC, whose
    first line states the order's allowances again (gross price, ALC, PCD, MOA)."""
    from hub import settings
    from hub.flows.edi_outbound import edi_documents_outbound
    from sandbox.erp_operator import ErpOperator

    conn = settings.connection("hub_erp")
    operator = ErpOperator(conn.base_url(str(conn.extra.get("scheme") or "http")),
                           conn.schema or "", conn.login or "", conn.password or "")  # fmt: skip
    nord = hub.partners["kaufhaus-nord"]
    party = hub.erp.find_parties_by_gln([nord.unb.partner_id])
    sale = hub.erp.find_sale(next(iter(party.values())).erp_id or "", number)
    if sale is None:
        return []
    started = datetime.now(UTC) - timedelta(seconds=2)
    operator.post_invoices(int(sale.erp_id))  # invoiced on order: its allowances are lines
    edi_documents_outbound(hub, partner=nord.id, documents="INVOIC", since=started.isoformat())
    out: Path = hub.mailbox(nord).outbox  # type: ignore[attr-defined]
    for path in sorted(out.glob("INVOIC_*")):
        text = path.read_text().replace("\n", "")
        if f"RFF+ON:{number}'" not in text:
            continue
        line = text.split("LIN+1+")[1].split("LIN+")[0].split("'")
        shown = [seg for seg in line if seg.startswith(("PRI", "ALC", "PCD", "MOA"))]
        console.print(f"  {path.name}, line 1 of {number}: " + " ".join(shown))
        return shown
    return []


def _show_conversation(
    console: Console, hub: Hub, numbers: list[str], trace: Any
) -> dict[str, Any]:
    from rich.table import Table

    table = Table(title="The partner's orders in the ERP, and what the hub answered")
    for col in ("order", "sale", "state", "lines (qty x net price)", "timeline"):
        table.add_column(col)
    shown: dict[str, Any] = {}
    for number in numbers:
        party = hub.erp.find_parties_by_gln([hub.partners["kaufhaus-nord"].unb.partner_id])
        erp_id = next(iter(party.values())).erp_id or ""
        sale = hub.erp.find_sale(erp_id, number)
        steps = [i["summary"] for i in trace(hub, number)["timeline"]
                 if i["kind"] in ("sale.changed",)]  # fmt: skip
        lines = ", ".join(f"{ln.quantity.normalize():f} x {ln.unit_price.normalize():f}"
                          for ln in (sale.lines if sale else ()))  # fmt: skip
        state = sale.state if sale else "cancelled"
        table.add_row(number, sale.number if sale and sale.number else "-", state, lines,
                      "; ".join(steps)[:80])  # fmt: skip
        shown[number] = state
    console.print(table)
    console.print(
        "  the change and the cancellation came after Tryton had processed the confirmed "
        "sales (shipments waiting): both applied as sale amendments"
    )
    out: Path = hub.mailbox(hub.partners["kaufhaus-nord"]).outbox  # type: ignore[attr-defined]
    wanted = ("BGM", "LIN", "QTY", "DTM+69", "FTX")
    for path in sorted(out.glob("ORDRSP_*")):
        text = path.read_text()
        if any(f"RFF+ON:{n}'" in text for n in numbers):
            body = [x.strip() for x in text.split("'") if x.strip().startswith(wanted)]
            console.print(f"  {path.name}: " + " ".join(body))
    return shown
