"""``python -m chaos``: rounds of seeded work, flows killed at random, recovery, counting.

A round: seed new work (ORDERS files with some bad ones, CRM companies); chaos sweeps (every
flow, stage by stage, the planned runs SIGKILLed, the warehouse moving things on in between);
recovery sweeps until every flow settles (a whole sweep in which every run exits 0 with
nothing done, the warehouse idle, and nothing left in the target systems) or the round times
out; then a count in every target system. The plan (inputs, which run is killed, when)
comes from ``--seed``: the same seed replays the same round; only the processes' own timing
differs between runs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from chaos.count import KINDS, Census, Count
from chaos.runner import FLOWS, POLL, FlowRun, Kill, Runner
from chaos.seed import Seeder, Warehouse
from chaos.world import World, WorldError

# one sweep: the stages in pipeline order (orders -> parcels -> documents); the flows of a
# stage run at the same time, the warehouse moves things on after each stage
SWEEP: tuple[tuple[str, ...], ...] = (
    ("edi_orders_inbound", "crm_pull"),
    ("logistics_shipments", "crm_push"),
    ("logistics_tracking", "edi_documents_outbound"),
)


@dataclass
class Options:
    """What ``python -m chaos`` was asked to do."""

    rounds: int = 10
    seed: int = 1
    ledger: str = "sqlite"
    kills_per_round: int = 3
    faults: float = 0.3
    orders: int = 3
    round_timeout: float = 300.0
    chaos_passes: int = 2
    kill_window: tuple[float, float] = (2.0, 10.0)
    keep: bool = False
    as_json: bool = False


@dataclass
class RoundResult:
    """One round: what was seeded and killed, whether and when each flow settled, the count."""

    round_no: int
    seeded: dict[str, Any]
    kills: list[Kill]
    runs: list[FlowRun] = field(default_factory=list)
    settled: bool = False
    reasons: dict[str, str] = field(default_factory=dict)  # flow -> why it did not settle
    recovery: dict[str, float | None] = field(default_factory=dict)  # s from last kill
    # per killed flow: s from its kill to the end of its next successful run (worst kill)
    resumed: dict[str, float | None] = field(default_factory=dict)
    count: Count | None = None
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    load: float = 0.0  # the machine's 1-minute load average at the end (other work counts)

    @property
    def failed(self) -> bool:
        c = self.count
        return not self.settled or c is None or bool(c.errors) or any(c.total(k) for k in KINDS)

    def as_json(self) -> dict[str, Any]:
        return {
            "round": self.round_no,
            "seeded": self.seeded,
            "kills": [
                {"run": k.run_no, "flow": k.flow, "delay": k.delay, "hit": k.hit}
                for k in self.kills
            ],
            "settled": self.settled,
            "not_settled": self.reasons,
            "recovery_seconds": self.recovery,
            "resumed_seconds": self.resumed,
            "count": self.count.as_json() if self.count else None,
            "warnings": self.warnings,
            "seconds": round(self.seconds, 1),
            "load_average": round(self.load, 1),
            "runs": [r.as_json() for r in self.runs],
            "failed": self.failed,
        }


def plan_kills(
    rng: random.Random, kills: int, window: tuple[float, float], passes: int
) -> list[Kill]:
    """Distinct (sweep, flow) slots among the chaos sweeps, each killed after a seeded delay."""
    passes = max(passes, -(-kills // len(FLOWS)))
    slots = [(p, f) for p in range(passes) for f in FLOWS]
    chosen = rng.sample(slots, min(kills, len(slots)))
    return [Kill(p, f, round(rng.uniform(*window), 2)) for p, f in sorted(chosen)]


class Chaos:
    """Plays the rounds in one world."""

    def __init__(self, world: World, options: Options, log: Callable[[str], None]) -> None:
        self.world = world
        self.options = options
        self.log = log
        self.seeder = Seeder(world, orders_per_partner=options.orders)
        self.warehouse = Warehouse(world)
        self.census = Census(world, self.seeder.expected)
        self.runner = Runner(world, world.root / "logs")

    def play(self) -> list[RoundResult]:
        results = []
        for n in range(1, self.options.rounds + 1):
            result = self.play_round(n)
            self.log(_round_line(result))
            results.append(result)
        return results

    def play_round(self, round_no: int) -> RoundResult:
        """Sweeps of every flow, stage by stage (``SWEEP``), the warehouse moving things on
        after each stage; the first ``chaos_passes`` sweeps carry the planned kills. Settled:
        a whole sweep in which no run did anything or failed, the warehouse had nothing to
        move, and the target systems hold no work left for any flow."""
        opts = self.options
        started = time.monotonic()
        rng = random.Random(f"chaos:{opts.seed}:{round_no}")
        seeded = self.seeder.seed_round(round_no, rng)
        kills = plan_kills(rng, opts.kills_per_round, opts.kill_window, opts.chaos_passes)
        result = RoundResult(round_no, seeded, kills)
        self.log(
            f"round {round_no}: {seeded['orders']} orders in {len(seeded['files'])} files, "
            f"bad inputs: {', '.join(seeded['bad']) or 'none'}; kills planned: "
            + ", ".join(f"{k.flow} in sweep {k.run_no} at +{k.delay}s" for k in kills)
        )
        chaos_sweeps = max([opts.chaos_passes, *(k.run_no + 1 for k in kills)])
        planned = {(k.run_no, k.flow): k for k in kills}
        deadline = started + opts.round_timeout
        history: dict[str, list[FlowRun]] = {flow: [] for flow in FLOWS}
        chaos_end = started
        sweep = 0
        while time.monotonic() < deadline:
            phase = "chaos" if sweep < chaos_sweeps else "recovery"
            changed = False
            complete = True
            for stage in SWEEP:
                if time.monotonic() >= deadline:
                    complete = False
                    break
                runs = self._stage(round_no, sweep, stage, phase, planned, deadline)
                for run in runs:
                    history[run.flow].append(run)
                    result.runs.append(run)
                    changed |= not _quiet(run)
                    if phase == "chaos":
                        chaos_end = max(chaos_end, run.ended)
                moved = self._step()
                if moved:
                    changed = True
                    self.log(f"  warehouse: {', '.join(f'{k} {v}' for k, v in moved.items())}")
            if complete and not changed and sweep >= chaos_sweeps - 1:
                count = self.census.count()
                backlog = {f: n for f, n in count.backlog.items() if n}
                if not backlog and not count.errors:
                    result.settled = True
                    result.count = count
                    break
                self.log(
                    f"  sweep {sweep}: every flow quiet, but the targets still hold work: "
                    f"{backlog or count.errors}"
                )
            sweep += 1
        hits = [k.at for k in kills if k.hit and k.at is not None]
        last_kill = max(hits) if hits else chaos_end
        if result.count is None:
            result.count = self.census.count()
        for flow in FLOWS:
            streak = _final_streak(history[flow])
            if result.settled and streak is not None:
                result.recovery[flow] = round(max(0.0, streak.ended - last_kill), 1)
            else:
                result.recovery[flow] = None
                result.reasons[flow] = _why(flow, history[flow], result.count, opts)
        result.resumed = resumed_after_kills(kills, history)
        result.warnings.extend(self._status_warnings())
        result.seconds = time.monotonic() - started
        result.load = os.getloadavg()[0]
        return result

    def _stage(
        self,
        round_no: int,
        sweep: int,
        flows: tuple[str, ...],
        phase: str,
        planned: dict[tuple[int, str], Kill],
        deadline: float,
    ) -> list[FlowRun]:
        """The stage's flows at the same time; returns when each has ended (or was killed)."""
        live = [
            self.runner.start(flow, round_no, sweep, phase, planned.get((sweep, flow)))
            for flow in flows
        ]
        done: list[FlowRun] = []
        while live:
            for item in list(live):
                run = self.runner.poll(item, deadline)
                if run is not None:
                    live.remove(item)
                    done.append(run)
                    self._log_run(run)
            time.sleep(POLL)
        return done

    def _step(self) -> dict[str, int]:
        try:
            return {k: v for k, v in self.warehouse.step().items() if v}
        except Exception as exc:  # noqa: BLE001 - the ERP may be busy; the next step retries
            self.warehouse.reset()
            self.log(f"  warehouse step failed: {type(exc).__name__}: {exc}")
            return {}

    def _status_warnings(self) -> list[str]:
        """What ``hub status`` says about runs no process is doing any more."""
        proc = self.world.hub("status", "--json")
        try:
            data = json.loads(proc.stdout)
        except json.JSONDecodeError:
            return [f"hub status --json exited {proc.returncode} without JSON"]
        warnings = []
        for row in data.get("flows", []):
            if row.get("running"):
                warnings.append(
                    f"hub status shows {row['flow']}/{row.get('scope')} as running "
                    f"({len(row['running'])} run(s)) although no hub process is alive: a killed "
                    "run is not marked as crashed"
                )
        return warnings

    def _log_run(self, run: FlowRun) -> None:
        text = (
            f"  {run.flow} run {run.run_no} ({run.phase}): {run.outcome()} after {run.seconds:.1f}s"
        )
        if run.error:
            text += f": {run.error}"
        self.log(text)


def _quiet(run: FlowRun) -> bool:
    return run.ok and run.work == 0


def resumed_after_kills(
    kills: list[Kill], history: dict[str, list[FlowRun]]
) -> dict[str, float | None]:
    """Per killed flow, the worst time from a kill to the end of that flow's next successful
    run (None: it never ran successfully again). The sharper measure of a crash's cost than
    ``recovery``, which also waits for the work other flows hand on."""
    worst: dict[str, float | None] = {}
    for kill in kills:
        if not kill.hit or kill.at is None:
            continue
        after = [r.ended for r in history[kill.flow] if r.ok and r.started >= kill.at]
        took = round(min(after) - kill.at, 1) if after else None
        prior = worst.get(kill.flow, 0.0)
        worst[kill.flow] = None if took is None or prior is None else max(prior, took)
    return worst


def _final_streak(runs: list[FlowRun]) -> FlowRun | None:
    """The first run of the unbroken series of quiet runs that ends the history."""
    first = None
    for run in reversed(runs):
        if not _quiet(run):
            break
        first = run
    return first


def _why(flow: str, runs: list[FlowRun], count: Count, opts: Options) -> str:
    done = [r for r in runs if not r.timed_out]
    head = f"not settled within {opts.round_timeout:.0f}s"
    if not done:
        return f"{head}: no run finished"
    last = done[-1]
    backlog = count.backlog.get(flow, 0)
    if _quiet(last) and not backlog:
        return (
            f"{head}: quiet (its last run found nothing to do), but no whole sweep of every "
            "flow was quiet"
        )
    parts = [f"{len(runs)} run(s), last {last.outcome()} after {last.seconds:.0f}s"]
    failures = Counter(r.error for r in done if r.error)
    if failures:
        error, n = failures.most_common(1)[0]
        parts.append(f"{n} failed with: {error}")
    if backlog:
        parts.append(f"{backlog} item(s) still to do in the target systems")
    return f"{head}: " + "; ".join(parts)


def _round_line(r: RoundResult) -> str:
    c = r.count
    totals = ", ".join(f"{k} {c.total(k)}" for k in KINDS) if c else "not counted"
    recovery = ", ".join(f"{f} {v if v is not None else '-'}" for f, v in r.recovery.items())
    return (
        f"round {r.round_no}: {'settled' if r.settled else 'NOT settled'} in {r.seconds:.0f}s; "
        f"{totals}; recovery s: {recovery}"
    )


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m chaos",
        description="Run every hub flow against faulty sandboxes, kill -9 them at random, "
        "and count what reached each target system.",
    )
    parser.add_argument("--rounds", type=int, default=10, help="rounds to play (default 10)")
    parser.add_argument("--seed", type=int, default=1, help="seed of every random choice")
    parser.add_argument("--ledger", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--kills-per-round", type=int, default=3)
    parser.add_argument("--faults", type=float, default=0.3, help="CRM and carrier fault rate")
    parser.add_argument("--orders", type=int, default=3, help="orders per partner and round")
    parser.add_argument(
        "--round-timeout",
        type=float,
        default=300.0,
        help="seconds a round may take to settle before it is reported as not settled",
    )
    parser.add_argument(
        "--chaos-passes",
        type=int,
        default=2,
        help="sweeps of every flow that carry the kills, before the recovery sweeps",
    )
    parser.add_argument(
        "--kill-window",
        default="2,10",
        help="a kill lands this many seconds after its run started (seeded, uniform): LO,HI",
    )
    parser.add_argument("--keep", action="store_true", help="keep the world's folder and logs")
    parser.add_argument("--json", dest="as_json", action="store_true", help="print JSON")
    ns = parser.parse_args(argv)
    lo, _, hi = ns.kill_window.partition(",")
    if ns.rounds < 1 or ns.kills_per_round < 0 or not 0 <= ns.faults <= 1:
        parser.error("--rounds >= 1, --kills-per-round >= 0, --faults within [0, 1]")
    given = {f.name: getattr(ns, f.name) for f in fields(Options)}  # every option has a flag
    given.update(chaos_passes=max(1, ns.chaos_passes), kill_window=(float(lo), float(hi or lo)))
    return Options(**given)


def execute(
    options: Options, log: Callable[[str], None] | None = None
) -> tuple[dict[str, Any], list[RoundResult]]:
    """Play the rounds; return the JSON summary and the round results."""
    from chaos.report import summary

    log = log or _stderr
    started = time.monotonic()
    with World(
        seed=options.seed, faults=options.faults, ledger=options.ledger, keep=options.keep
    ) as world:
        log(f"chaos: world ready in {time.monotonic() - started:.0f}s: {world.describe()}")
        results = Chaos(world, options, log).play()
        data = summary(options, world.describe(), results, time.monotonic() - started)
    return data, results


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> None:
    from chaos.report import print_report

    options = parse_args(argv)
    try:
        data, results = execute(options)
    except WorldError as exc:
        print(f"chaos: {exc}", file=sys.stderr)
        sys.exit(2)
    if options.as_json:
        sys.stdout.write(json.dumps(data, default=str) + "\n")
    else:
        print_report(data, results)
    sys.exit(1 if data["failed"] else 0)
