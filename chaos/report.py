"""The chaos suite's report: a JSON summary and rich tables (rounds, targets, findings)."""

from __future__ import annotations

import os
import sys
from collections import Counter
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from chaos.runner import FLOWS

if TYPE_CHECKING:
    from chaos.run import Options, RoundResult

SHORT = {
    "edi_orders_inbound": "inbound",
    "crm_pull": "crm pull",
    "crm_push": "crm push",
    "logistics_shipments": "shipments",
    "logistics_tracking": "tracking",
    "edi_documents_outbound": "outbound",
}


def summary(
    options: Options, world: dict[str, Any], results: list[RoundResult], seconds: float
) -> dict[str, Any]:
    """Everything as JSON: options, rounds, the final count, and the verdict."""
    final = results[-1].count if results else None
    findings = final.findings if final else []
    worst: dict[str, float | None] = {}
    for flow in FLOWS:
        times = [r.recovery.get(flow) for r in results]
        worst[flow] = None if any(t is None for t in times) else max(t or 0.0 for t in times)
    resumed: dict[str, float | None] = {}
    for r in results:
        for flow, took in r.resumed.items():
            prior = resumed.get(flow, 0.0)
            resumed[flow] = None if took is None or prior is None else max(prior, took)
    return {
        "options": {
            "rounds": options.rounds,
            "seed": options.seed,
            "ledger": options.ledger,
            "kills_per_round": options.kills_per_round,
            "faults": options.faults,
            "orders_per_partner": options.orders,
            "round_timeout": options.round_timeout,
        },
        "replay": (
            f"python -m chaos --seed {options.seed} --rounds {options.rounds} --ledger "
            f"{options.ledger} --kills-per-round {options.kills_per_round} --faults "
            f"{options.faults} --orders {options.orders}"
        ),
        "world": world,
        "rounds": [r.as_json() for r in results],
        "final": final.as_json() if final else None,
        "totals": {
            k: sum(1 for f in findings if f.kind == k)
            for k in ("lost", "duplicated", "stuck", "dead_letter", "mismatch")
        },  # fmt: skip
        "kills": sum(1 for r in results for k in r.kills if k.hit),
        "not_settled_rounds": [r.round_no for r in results if not r.settled],
        "worst_recovery_seconds": worst,
        "worst_resumed_seconds": resumed,
        "seconds": round(seconds, 1),
        "failed": any(r.failed for r in results),
    }


def _seconds(value: float | None, settled: bool) -> str:
    if value is None:
        return "[red]not settled[/red]" if not settled else "-"
    colour = "green" if value <= 60 else "yellow"
    return f"[{colour}]{value:.0f}s[/{colour}]"


def _n(value: int, bad: bool = True) -> str:
    return f"[red]{value}[/red]" if value and bad else str(value)


def print_report(data: dict[str, Any], results: list[RoundResult], console: Any = None) -> None:
    """Rounds, final counts per target system, findings, reasons and warnings."""
    console = console or Console(width=None if sys.stdout.isatty() else 200)
    opts = data["options"]
    rounds = Table(
        title=f"Chaos rounds (seed {opts['seed']}, ledger {opts['ledger']}, "
        f"faults {opts['faults']:.0%})"
    )
    for col in ("round", "kills", "settled", "lost", "dup", "stuck", "mismatch", "dead letters"):
        rounds.add_column(col, justify="right")
    for flow in FLOWS:
        rounds.add_column(f"{SHORT[flow]}\nrecovery", justify="right")
    rounds.add_column("time", justify="right")
    rounds.add_column("load", justify="right")
    for r in results:
        c = r.count
        hits = sum(1 for k in r.kills if k.hit)
        unexpected = c.total("dead_letter") if c else 0
        expected = c.expected_letters if c else 0
        rounds.add_row(
            str(r.round_no),
            f"{hits}/{len(r.kills)}",
            "[green]yes[/green]" if r.settled else "[red]no[/red]",
            _n(c.total("lost") if c else 0),
            _n(c.total("duplicated") if c else 0),
            _n(c.total("stuck") if c else 0),
            _n(c.total("mismatch") if c else 0),
            f"{_n(unexpected)} + {expected} expected",
            *(_seconds(r.recovery.get(f), r.settled) for f in FLOWS),
            f"{r.seconds:.0f}s",
            f"{r.load:.1f}",
        )
    console.print(rounds)
    final = results[-1].count if results else None
    if final is not None:
        targets = Table(title="Counted in the target systems (after the last round)")
        for col in ("system", "objects", "expected", "found", "lost", "duplicated"):
            targets.add_column(col, justify="left" if col in ("system", "objects") else "right")
        for t in final.tallies:
            targets.add_row(
                t.system, t.objects, str(t.expected), str(t.found), _n(t.lost), _n(t.duplicated)
            )
        console.print(targets)
    _print_findings(console, results)
    for r in results:
        for flow, why in r.reasons.items():
            console.print(f"[red]round {r.round_no}: {flow} {why}[/red]")
        for error in r.count.errors if r.count else []:
            console.print(f"[red]round {r.round_no}: {error}[/red]")
    warned = sorted({w for r in results for w in r.warnings})
    for warning in warned:
        console.print(f"[yellow]warning: {warning}[/yellow]")
    resumed = ", ".join(
        f"{SHORT.get(f, f)} {'never' if s is None else f'{s:.0f}s'}"
        for f, s in data["worst_resumed_seconds"].items()
    )
    if resumed:
        console.print(f"worst time from a kill to the killed flow's next successful run: {resumed}")
    console.print(
        f"recovery: seconds from the last kill of the round until the flow's last quiet streak "
        f"began (target 60 s); load: 1-minute load average on {os.cpu_count()} CPU(s)"
    )
    verdict = "[red]FAILED[/red]" if data["failed"] else "[green]passed[/green]"
    console.print(
        f"chaos {verdict}: {data['kills']} kills in {len(results)} round(s), "
        f"{data['seconds']:.0f}s; replay with: {data['replay']}"
    )


def _print_findings(console: Any, results: list[RoundResult]) -> None:
    """Each finding once, with the first round it was seen in, and a count by kind."""
    seen: set[tuple[str, str, str]] = set()
    rows = []
    for r in results:
        for f in r.count.findings if r.count else []:
            key = (f.kind, f.system, f.what)
            if key not in seen:
                seen.add(key)
                rows.append((r.round_no, f))
    if rows:
        table = Table(title=f"Findings ({len(rows)}; first round each was seen)")
        for col in ("round", "kind", "system", "flow", "what"):
            table.add_column(col, overflow="fold")
        for round_no, f in rows[:200]:
            table.add_row(str(round_no), f.kind, f.system, f.flow, f.what)
        console.print(table)
        kinds = Counter(f.kind for _, f in rows)
        console.print("findings by kind: " + ", ".join(f"{k} {v}" for k, v in kinds.items()))
