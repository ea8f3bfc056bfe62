"""Demo step: posted invoices leave as e-invoices (XRechnung UBL to an outbox, ZUGFeRD by mail).

Needs the official validation rules (``HUB_EINVOICE_RULES``, default: the project's
``../shared/contracts/einvoicing`` when it exists); without them the step is skipped with a
note, as the flow itself would refuse to send. Mail goes to a local catching SMTP server
(aiosmtpd on loopback) that the ``hub_smtp`` connection points at for the demo.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from hub import settings

RULES_ENV = "HUB_EINVOICE_RULES"


class MailCatcher:
    """Every message a loopback SMTP server received."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        policy = email.policy.default  # parses into an EmailMessage
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy))
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server() -> Iterator[MailCatcher]:
    """aiosmtpd on 127.0.0.1; ``AIRFLOW_CONN_HUB_SMTP`` points at it while it runs."""
    from aiosmtpd.controller import Controller

    with socket.socket() as sock:  # aiosmtpd's readiness probe needs a real port, not 0
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    catcher = MailCatcher()
    controller = Controller(catcher, hostname="127.0.0.1", port=port)
    controller.start()
    before = os.environ.get("AIRFLOW_CONN_HUB_SMTP")
    os.environ["AIRFLOW_CONN_HUB_SMTP"] = settings.connection_json(
        conn_type="smtp", host="127.0.0.1", port=port,
        extra={"invoice_from": "invoices@sandbox-sales.example", "starttls": "false"},
    )  # fmt: skip
    try:
        yield catcher
    finally:
        controller.stop()
        if before is None:
            os.environ.pop("AIRFLOW_CONN_HUB_SMTP", None)
        else:
            os.environ["AIRFLOW_CONN_HUB_SMTP"] = before


def _rules() -> Path | None:
    configured = os.environ.get(RULES_ENV)
    if configured:
        return Path(configured)
    shared = settings.PROJECT_ROOT.parent / "shared" / "contracts" / "einvoicing"
    if shared.is_dir():
        os.environ[RULES_ENV] = str(shared)
        return shared
    return None


def _sell(operator: Any, console: Console) -> None:
    """Two customers without EDI buy goods at 7% and 19% VAT; shipped and invoiced at once."""
    from hub.bootstrap import Hub
    from sandbox.erp_seed import catalogue, customers
    from schemas.model import PartyRef, SalesOrder, SalesOrderLine

    items = [p for p in catalogue() if p.tax_rate == Decimal("0.07")][:2]
    items += [p for p in catalogue() if p.tax_rate == Decimal("0.19")][:2]
    erp = Hub.from_env().erp
    for n, seed in enumerate(customers()[2:4], start=1):
        order = SalesOrder(
            order_number=f"EINV-DEMO-{n}", order_date=date.today(),
            buyer=PartyRef(gln=seed.gln), currency="EUR",
            lines=tuple(SalesOrderLine(line_no=k + 1, gtin=p.gtin, quantity=Decimal(k + n + 1),
                                       unit_price=p.list_price) for k, p in enumerate(items)),
        )  # fmt: skip
        (result,) = erp.create_sales([order])
        assert result.sale is not None, result
        operator.ship_sale(int(result.sale.erp_id))
        operator.post_invoices(int(result.sale.erp_id))
        console.print(f"  {seed.name} ({seed.code}, no EDI) bought {len(items)} items at 7% "
                      f"and 19% VAT: shipped, invoice posted")  # fmt: skip


def einvoice_step(
    run_dag: Callable[..., Any], console: Console, home: Path, operator: Any
) -> dict[str, Any]:
    """Invoices for two customers without EDI, then DAG einvoice_outbound; each e-invoice
    delivered is shown, re-validated by the official rules."""
    console.rule("[bold cyan]4a. E-invoices: XRechnung to Rheinhandel, ZUGFeRD PDF to Spree Retail")
    rules = _rules()
    if rules is None:
        console.print(f"[yellow]skipped: set {RULES_ENV} to the official EN 16931 / XRechnung "
                      "validation artefacts (the flow sends nothing without them)")  # fmt: skip
        return {"skipped": f"{RULES_ENV} not set"}
    _sell(operator, console)
    with smtp_server() as catcher:
        result = run_dag("einvoice_outbound")
    report = result.returned("send_einvoices") if result is not None else None
    delivered = _delivered(home, catcher)
    _show(console, rules, delivered)
    if report:
        warnings = sum(len(v) for v in report.get("warnings", {}).values())
        console.print(f"  sent {report['sent']}, already sent {report['already_sent']}, dead "
                      f"letters {report['dead_letters']}, warnings {warnings}")  # fmt: skip
    return {"report": json.loads(json.dumps(report, default=str)) if report else None,
            "delivered": sorted(delivered)}  # fmt: skip


def _delivered(home: Path, catcher: MailCatcher) -> dict[str, tuple[str, bytes]]:
    """File name -> (how it left, bytes): outbox files and mail attachments (kept on disk)."""
    out: dict[str, tuple[str, bytes]] = {}
    for path in sorted((home / "partners").glob("*/out/*_xrechnung-*.xml")):
        out[path.name] = (f"outbox {path.parent.parent.name}", path.read_bytes())
    mail_dir = home / "einvoice-mail"
    for message in catcher.messages:
        for part in message.iter_attachments():
            name = str(part.get_filename())
            data = bytes(part.get_content())
            mail_dir.mkdir(parents=True, exist_ok=True)
            (mail_dir / name).write_bytes(data)
            out[name] = (f"mail to {message['To']}", data)
    return out


def _show(console: Console, rules: Path, delivered: dict[str, tuple[str, bytes]]) -> None:
    from connectors.einvoice.validator import Validator

    validator = Validator(rules)
    table = Table("file", "delivered", "bytes", "official rules", title="E-invoices delivered")
    for name, (how, data) in delivered.items():
        report = validator.validate(data, name)
        verdict = "valid" if report.valid else f"[red]{len(report.errors)} error(s)"
        if report.warnings:
            verdict += f", {len(report.warnings)} warning(s)"
        table.add_row(name, how, str(len(data)), verdict)
    console.print(table)
