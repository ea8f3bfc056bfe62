"""DESADV, INVOIC and INVRPT built from a real Tryton flow: sale confirmed, shipped, invoiced."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.edi import EdifactReader, Message, validate
from connectors.erp.tryton import TrytonErp
from hub.bootstrap import Hub
from hub.config import load_partners
from hub.flows.edi_outbound import edi_documents_outbound
from hub.ledger import Ledger
from hub.settings import PROJECT_ROOT
from sandbox.erp_seed import catalogue, customers
from schemas.model import PartyRef, SalesOrder, SalesOrderLine

pytestmark = pytest.mark.integration

CATALOGUE = catalogue()
NORD = customers()[0]  # GLN 4300000000014 = partner kaufhaus-nord


def _message(data: bytes) -> Message:
    (msg,) = [e for e in EdifactReader(data) if isinstance(e, Message)]
    return msg


def test_documents_from_a_real_erp_flow(
    tmp_path: Path,
    erp: TrytonErp,
    erp_operator,
    unique: str,  # noqa: ANN001
) -> None:
    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)
    number = f"PO-{unique}-EDI"
    order = SalesOrder(
        order_number=number, order_date=dt.date.today(), buyer=PartyRef(gln=NORD.gln),
        currency="EUR",
        lines=tuple(SalesOrderLine(line_no=k + 1, gtin=CATALOGUE[k].gtin, quantity=Decimal(k + 1),
                                   unit_price=Decimal("3.35") + k) for k in range(3)),
    )  # fmt: skip
    (result,) = erp.create_sales([order])
    assert result.sale is not None and result.sale.state in ("confirmed", "processing")
    erp_operator.ship_sale(int(result.sale.erp_id))
    erp_operator.post_invoices(int(result.sale.erp_id))

    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    ledger.upgrade()
    partners = load_partners(PROJECT_ROOT / "config" / "partners")
    hub = Hub(ledger, erp=erp, home=tmp_path / "home", partners=partners)
    report = edi_documents_outbound(hub, partner="kaufhaus-nord", since=started.isoformat())
    out = tmp_path / "home" / "partners" / "kaufhaus-nord" / "out"
    files = {p.name: p.read_bytes() for p in out.glob("*.edi")}
    for name, data in files.items():
        assert validate(data).verdict == "accepted", name
    mine = {n.split("_")[0]: _message(d) for n, d in files.items()
            if number.encode() in d or n.startswith("INVRPT")}  # fmt: skip
    assert set(mine) == {"DESADV", "INVOIC", "INVRPT"}, report

    desadv = mine["DESADV"]
    lins = [s.element(3, 1) for s in desadv.segments if s.tag == "LIN"]
    assert lins == [CATALOGUE[k].gtin for k in range(3)]
    assert [Decimal(s.element(1, 2)) for s in desadv.segments if s.tag == "QTY"] == [1, 2, 3]
    (sscc,) = [s.element(2) for s in desadv.segments if s.tag == "GIN"]
    assert len(sscc) == 18 and sscc.startswith("0400638")

    (invoice,) = [i for i in erp.invoices_posted_since(started) if number in i.order_numbers]
    moa = {s.element(1, 1): Decimal(s.element(1, 2)) for s in mine["INVOIC"].segments
           if s.tag == "MOA" and s.element(1, 1) in ("77", "125", "176")}  # fmt: skip
    assert moa == {"77": invoice.total_amount, "125": invoice.untaxed_amount,
                   "176": invoice.tax_amount}  # fmt: skip
    line_moa = [Decimal(s.element(1, 2)) for s in mine["INVOIC"].segments
                if s.tag == "MOA" and s.element(1, 1) == "203"]  # fmt: skip
    assert line_moa == [ln.amount for ln in invoice.lines]
    assert any(s.tag == "RFF" and s.element(1, 2) == NORD.vat for s in mine["INVOIC"].segments)

    stock = {s.element(1, 1) for s in mine["INVRPT"].segments if s.tag == "QTY"}
    assert stock == {"145"}

    again = edi_documents_outbound(hub, partner="kaufhaus-nord")
    assert again["documents_sent"] == 0
    assert {p.name for p in out.glob("*.edi")} == set(files)
