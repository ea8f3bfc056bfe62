"""Runs flows as ``hub run FLOW --json`` subprocesses and SIGKILLs the planned ones at their
planned moment; reads each report to tell a run that did work from an idle one.

Only processes started here are ever signalled, by their own pid.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaos.world import World, hub_command

FLOWS = (
    "edi_orders_inbound",
    "crm_pull",
    "crm_push",
    "logistics_shipments",
    "logistics_tracking",
    "edi_documents_outbound",
)
# counters that mean "this run wrote something / had something to do"
WORK_KEYS: dict[str, tuple[str, ...]] = {
    "edi_orders_inbound": ("files",),
    "logistics_shipments": (
        "booked",
        "written_back",
        "rejected",
        "outcome_unknown",
        "failed",
        "writeback_failed",
        "dead_letters",
    ),  # fmt: skip
    "logistics_tracking": ("changed",),
    "edi_documents_outbound": ("documents_sent", "dead_letters"),
}
_CRM_WORK = re.compile(r"(_sent|_linked|_created|_updated|_overridden|_waiting\w*|^dead_letters)$")
POLL = 0.05


def work_of(flow: str, report: dict[str, Any] | None) -> int:
    """How much a run did according to its report (0: nothing to do)."""
    if not report:
        return 0
    total = 0
    for key, value in report.items():
        keys = WORK_KEYS.get(flow)
        if not (key in keys if keys is not None else _CRM_WORK.search(key)):
            continue
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            total += value
        elif isinstance(value, list):
            total += len(value)
    return total


@dataclass
class Kill:
    """A planned SIGKILL: which run of which flow, how many seconds after it started."""

    run_no: int
    flow: str
    delay: float
    hit: bool = False  # the process was still running and got the signal
    at: float | None = None  # monotonic time of the signal


@dataclass
class FlowRun:
    """One ``hub run`` process and how it ended."""

    flow: str
    round_no: int
    run_no: int
    phase: str  # "chaos" or "recovery"
    started: float
    ended: float = 0.0
    returncode: int | None = None
    killed: bool = False
    timed_out: bool = False  # stopped by the harness at the round's deadline
    report: dict[str, Any] | None = None
    error: str = ""
    work: int = 0
    log: str = ""

    @property
    def seconds(self) -> float:
        return round(self.ended - self.started, 2)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.killed and not self.timed_out

    def outcome(self) -> str:
        if self.killed:
            return "killed"
        if self.timed_out:
            return "stopped at the round timeout"
        if self.returncode == 0:
            return "ok" if self.work == 0 else f"ok, work {self.work}"
        return f"exit {self.returncode}"

    def as_json(self) -> dict[str, Any]:
        """The run as the report keeps it: numbered by round and run, with the flow's status."""
        data: dict[str, Any] = {"flow": self.flow, "round": self.round_no, "run": self.run_no}
        for name in ("phase", "seconds", "returncode", "killed", "timed_out", "work"):
            data[name] = getattr(self, name)
        return data | {"status": (self.report or {}).get("status"), "error": self.error}


@dataclass
class Live:
    """A ``hub run`` process still running, with its planned kill if any."""

    run: FlowRun
    proc: subprocess.Popen[bytes]
    out: Path
    err: Path
    kill: Kill | None = None


@dataclass
class Runner:
    """Starts ``hub run`` processes and watches them, killing what the plan says."""

    world: World
    log_dir: Path
    run_timeout: float = 300.0

    def start(self, flow: str, round_no: int, run_no: int, phase: str, kill: Kill | None) -> Live:
        """``hub run FLOW --json`` in its own session, output to the round's log folder."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        stem = f"r{round_no:02d}-{flow}-{run_no:03d}-{phase}"
        out, err = self.log_dir / f"{stem}.out", self.log_dir / f"{stem}.err"
        with out.open("wb") as fout, err.open("wb") as ferr:
            proc = subprocess.Popen(
                [*hub_command(), "run", flow, "--json"],
                env=self.world.env,
                cwd=self.world.root,
                stdin=subprocess.DEVNULL,
                stdout=fout,
                stderr=ferr,
                start_new_session=True,
            )
        run = FlowRun(flow, round_no, run_no, phase, time.monotonic(), log=str(err))
        return Live(run, proc, out, err, kill)

    def poll(self, item: Live, deadline: float) -> FlowRun | None:
        """The finished run, or None while it runs; SIGKILLs it when its kill is due."""
        code = item.proc.poll()
        if code is not None:
            self._finish(item, code)
            return item.run
        now = time.monotonic()
        kill = item.kill
        if kill is not None and not kill.hit and now - item.run.started >= kill.delay:
            os.kill(item.proc.pid, signal.SIGKILL)  # our own child, by its pid
            kill.hit, kill.at = True, now
            item.run.killed = True
        elif now >= min(deadline, item.run.started + self.run_timeout) and not item.run.killed:
            os.kill(item.proc.pid, signal.SIGKILL)  # the deadline, not a chaos kill
            item.run.timed_out = True
        return None

    def stop(self, item: Live) -> FlowRun:
        """Kill a run that is still going (the harness is giving up) and reap it."""
        if item.proc.poll() is None:
            os.kill(item.proc.pid, signal.SIGKILL)
            item.run.timed_out = True
        code = item.proc.wait(timeout=30)
        self._finish(item, code)
        return item.run

    def _finish(self, item: Live, code: int) -> None:
        run = item.run
        run.ended = time.monotonic()
        run.returncode = code
        if code == -signal.SIGKILL and not run.timed_out:
            run.killed = True
        text = item.out.read_text(errors="replace").strip()
        if text:
            try:
                data = json.loads(text.splitlines()[-1])
                run.report = data if isinstance(data, dict) else None
            except json.JSONDecodeError:
                run.report = None
        run.work = work_of(run.flow, run.report)
        if code != 0 and not run.killed:
            run.error = _last_error(item.err.read_text(errors="replace"))


def _last_error(stderr: str) -> str:
    """The line of stderr that says what went wrong (the exception, or the CLI's error)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        if re.match(r"^[\w.]+(Error|Exception|Exit)\b", line) or line.lower().startswith("error"):
            return line[:300]
    return (lines[-1] if lines else "no output")[:300]
