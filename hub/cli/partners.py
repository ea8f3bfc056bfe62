"""`hub partners list | check ID | sample ID`: onboard trading partners without reading code.

`list` shows every profile file, valid or not; `check` runs the profile, ERP and channel
checks of ``hub.partner_tools`` (exit 1 when one fails); `sample` writes an ORDERS
interchange for the partner from ERP data and proves it valid with the hub's own codec.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import typer

app = typer.Typer(help="Trading partners: list, check, sample order.", no_args_is_help=True)


def _folder() -> Path:
    from hub import settings

    return settings.config_dir() / "partners"


def _fail(message: str, code: int = 2) -> None:
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True).print(f"[red]error[/red]: {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


@app.command("list")
def list_cmd(as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """Every partner profile: id, channel, message versions, valid or the error."""
    from hub.config import load_partners

    partners = load_partners(_folder())
    rows: list[dict[str, Any]] = [
        {
            "id": p.id,
            "name": p.name,
            "active": p.active,
            "valid": True,
            "channel": p.channel.type,
            "orders": [m.label for m in p.messages if m.type == "ORDERS"],
            "outbound": list(p.outbound.documents),
            "error": None,
        }
        for p in partners.values()
    ]
    rows += [
        {"id": Path(path).stem, "name": None, "active": False, "valid": False, "channel": None,
         "orders": [], "outbound": [], "error": error, "file": path}
        for path, error in sorted(partners.invalid.items())
    ]  # fmt: skip
    if as_json:
        sys.stdout.write(json.dumps(rows) + "\n")
        return
    from hub.cli.render import console, show, table

    out = table("partner", "state", "channel", "ORDERS", "sends", title=f"partners in {_folder()}")
    for r in rows:
        state = ("active" if r["active"] else "inactive") if r["valid"] else "[red]INVALID[/red]"
        out.add_row(
            r["id"], state, r["channel"] or "-", " ".join(r["orders"]) or "-",
            " ".join(r["outbound"]) or "-",
        )  # fmt: skip
    show(out)
    for r in rows:
        if not r["valid"]:
            console.print(f"[red]invalid[/red] {r['error']}", soft_wrap=True)


@app.command("check")
def check_cmd(
    partner: str = typer.Argument(..., help="partner id (file name or id in the profile)"),
    channel: bool = typer.Option(True, "--channel/--no-channel", help="log in to the mailbox"),
    erp: bool = typer.Option(True, "--erp/--no-erp", help="look parties and products up"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Profile valid, ERP parties and products it needs exist, channel reachable
    (SFTP: login and host key); exit 1 when a check fails."""
    from hub.bootstrap import Hub
    from hub.partner_tools import Finding, check_channel, check_erp, check_profile
    from schemas.errors import HubError

    profile, first = check_profile(partner, _folder())
    findings: list[Finding] = [first]
    if profile is not None:
        try:
            hub = Hub.from_env()
        except HubError as exc:
            _fail(str(exc))
        try:
            if erp:
                try:
                    findings += check_erp(profile, hub.erp)
                except HubError as exc:
                    why = str(exc).strip()
                    findings.append(Finding("erp", False, f"ERP not configured: {why}"))
            if channel:
                findings.append(check_channel(profile, hub))
        finally:
            hub.close()
    ok = all(f.ok or f.skipped for f in findings)
    if as_json:
        checks = [f.as_dict() for f in findings]
        sys.stdout.write(json.dumps({"partner": partner, "ok": ok, "checks": checks}) + "\n")
    else:
        from hub.cli.render import console

        for f in findings:
            mark = "[green]ok[/green]  " if f.ok else "[red]FAIL[/red]"
            console.print(f"{mark} {f.check}: {f.detail}", soft_wrap=True, markup=True)
        console.print(f"partner {partner}: " + ("[green]ready[/]" if ok else "[red]not ready[/]"))
    if not ok:
        raise typer.Exit(1)


@app.command("sample")
def sample_cmd(
    partner: str = typer.Argument(..., help="partner id"),
    out: Path | None = typer.Option(None, "--out", "-o", help="file to write (default: stdout)"),
    orders: int = typer.Option(1, "--orders", help="orders in the interchange"),
    lines: int = typer.Option(3, "--lines", help="lines per order"),
    as_json: bool = typer.Option(False, "--json", help="print a JSON summary"),
) -> None:
    """Write a valid ORDERS interchange for the partner from ERP products (for testing
    the partner's setup: drop it into the partner's inbox, or send it to them)."""
    from hub.bootstrap import Hub
    from hub.partner_tools import check_profile, sample_orders, validate_sample
    from schemas.errors import HubError

    profile, first = check_profile(partner, _folder())
    if profile is None:
        _fail(first.detail)
        return
    try:
        hub = Hub.from_env()
        try:
            data = sample_orders(profile, hub.erp, orders=orders, lines=lines, now=datetime.now())
            result = validate_sample(data, profile, hub.erp)
        finally:
            hub.close()
    except (HubError, ValueError) as exc:
        _fail(f"partner {partner}: {exc}")
        return
    if result.verdict != "accepted":
        problems = "; ".join(i.message for i in result.all_errors()[:3])
        _fail(f"the sample for {partner} does not validate: {problems}", code=1)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    elif not as_json:
        sys.stdout.buffer.write(data)
    if as_json:
        summary = {
            "partner": partner,
            "file": None if out is None else str(out),
            "bytes": len(data),
            "messages": result.message_count,
            "verdict": result.verdict,
        }
        sys.stdout.write(json.dumps(summary) + "\n")
    elif out is not None:
        typer.echo(f"{out}: {result.message_count} ORDERS message(s), {len(data)} bytes, "
                   f"accepted by the hub's validator for {partner}")  # fmt: skip
