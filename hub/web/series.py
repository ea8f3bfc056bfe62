"""Per-flow hourly volume and lag over the last 24 h, computed from the ledger's journal."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hub.ledger import Ledger, utcnow

HOURS = 24


@dataclass
class FlowSeries:
    """One flow's hourly buckets, oldest first: items done, items failed, lag at bucket end."""

    flow: str
    done: list[int] = field(default_factory=lambda: [0] * HOURS)
    failed: list[int] = field(default_factory=lambda: [0] * HOURS)
    lag_seconds: list[float] = field(default_factory=lambda: [0.0] * HOURS)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def bucket_ends(now: datetime, hours: int = HOURS) -> list[datetime]:
    """The end of each hourly bucket, oldest first; the last one is ``now``."""
    return [now - timedelta(hours=hours - 1 - i) for i in range(hours)]


def flow_series(
    ledger: Ledger, now: datetime | None = None, flows: Sequence[str] = ()
) -> list[FlowSeries]:
    """Hourly volume (journal entries finished per hour) and lag (age of the oldest entry
    still unfinished at the end of each hour) per flow, for the 24 h up to ``now``.

    Every flow in ``flows`` gets a series: one that writes no journal (a check, a reader)
    shows the items its runs reported per hour, and its failed runs."""
    now = now or utcnow()
    start = now - timedelta(hours=HOURS)
    ends = bucket_ends(now)
    rows = ledger.journal_activity(start)
    series: dict[str, FlowSeries] = {}
    for flow, state, created, updated in rows:
        s = series.setdefault(flow, FlowSeries(flow))
        finished = updated if state in ("done", "dead") else None
        if finished is not None and finished >= start:
            index = min(HOURS - 1, max(0, int((finished - start).total_seconds() // 3600)))
            (s.done if state == "done" else s.failed)[index] += 1
        elif state in ("failed", "unknown") and updated >= start:  # failed, waiting for a retry
            s.failed[min(HOURS - 1, int((updated - start).total_seconds() // 3600))] += 1
        for i, end in enumerate(ends):
            if created <= end and (finished is None or finished > end):
                s.lag_seconds[i] = max(s.lag_seconds[i], (end - created).total_seconds())
    quiet = [f for f in flows if f not in series]
    for flow in quiet:
        series[flow] = FlowSeries(flow)
    if quiet:
        for run in ledger.runs(since=start, limit=100_000):
            if run.flow not in quiet:
                continue
            bars = series[run.flow]
            at = run.finished_at or run.started_at
            index = min(HOURS - 1, max(0, int((at - start).total_seconds() // 3600)))
            if run.status in ("failed", "crashed"):
                bars.failed[index] += 1
            else:
                bars.done[index] += run.items
    return [series[name] for name in sorted(series)]
