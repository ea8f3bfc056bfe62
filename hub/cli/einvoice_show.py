"""The rich rendering of `hub einvoice show`: header, parties, lines (each with its own
allowances and charges under it), VAT breakdown, totals."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from transforms.einvoice.read import Summary


def line_charge(c: dict[str, str]) -> str:
    """A line's allowance or charge (BG-27, BG-28) as shown under it: kind, reason code and
    text, percentage of its base, amount (the line's price is before it, its net after)."""
    code = f" ({c['code']})" if c.get("code") else ""
    share = f", {c['percent']}% of {c['base']}" if c.get("percent") and c.get("base") else ""
    sign = "+" if c["kind"] == "charge" else "-"
    return f"  {c['kind']}{code}: {c['reason']}{share}: {sign}{c['amount']}"


def render(s: Summary, console: Console | None = None) -> None:
    """Print ``s`` for a support person."""
    out = console or Console()
    kind = {"380": "Invoice", "381": "Credit note"}.get(s.type_code, f"Document {s.type_code}")
    out.print(f"[bold]{kind} {s.number}[/bold]  {s.syntax}  {s.specification}")
    out.print(
        f"issued {s.issue_date}  due {s.due_date or '-'}  currency {s.currency}  "
        f"buyer reference {s.buyer_reference or '-'}"
    )
    parties = Table("", "seller", "buyer", show_header=True)
    for label, a, b in (
        ("name", s.seller.name, s.buyer.name),
        ("VAT id", s.seller.vat_id, s.buyer.vat_id),
        ("address", s.seller.address, s.buyer.address),
        ("electronic address", s.seller.electronic_address, s.buyer.electronic_address),
    ):
        parties.add_row(label, a or "-", b or "-")
    out.print(parties)
    lines = Table("#", "item", "quantity", "unit", "price", "VAT", "net", title="Lines")
    for ln in s.lines:
        lines.add_row(
            ln["id"], ln["name"], ln["quantity"], ln["unit"], ln["price"], ln["vat"], ln["net"]
        )
        for charge in (c for c in s.line_allowances if c["line"] == ln["id"]):
            lines.add_row("", escape(line_charge(charge)), "", "", "", "", "")
    for charge in s.allowances:
        sign = "" if charge["kind"] == "charge" else "-"
        reason = f"{charge['kind']}: {charge['reason']}"
        lines.add_row("", reason, "", "", "", charge["vat"], f"{sign}{charge['amount']}")
    out.print(lines)
    vat = Table("category", "rate %", "base", "VAT", title="VAT breakdown")
    for v in s.vat:
        vat.add_row(v["category"], v["rate"], v["base"], v["amount"])
    out.print(vat)
    totals = Table("lines", "net", "VAT", "gross", "payable", title="Totals")
    totals.add_row(*(s.totals.get(k, "") for k in ("lines", "net", "vat", "gross", "payable")))
    out.print(totals)
    p = s.payment
    out.print(
        f"payment: means {p.get('means') or '-'}, IBAN {p.get('iban') or '-'}, "
        f"terms {p.get('terms') or '-'}"
    )
