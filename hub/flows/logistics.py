"""Flows logistics_shipments and logistics_tracking: ERP shipments to the carrier, labels and
tracking numbers back, carrier status recorded for the DESADV flow.

Booking a parcel is not idempotent at the carrier, so every booking goes through
``ledger.once`` under ``BookingKey(<ERP shipment number>)`` (``hub.flows.logistics_booking``).
An answer lost after sending, or a worker killed during the call, is never booked again
blindly: where the carrier port can find a booking by our reference, the next attempt asks
it first; where it cannot, a dead letter tells a person to reconcile with the carrier. Those
entries are revisited by every run (and by a replay of their letter) through the same call
and policy, so neither a replay nor a backfill can book a second label. A circuit breaker
stops the run after ``shipments.max_consecutive_unknown`` unknown outcomes in a row (an
endpoint answering HTML or DTDs) instead of dead-lettering every ready shipment.

Ops conventions (``hub/ops/dryrun.py``, ``hub/ops/backfill.py``): ``dry_run=True`` reads
the ready shipments and reports the bookings and ERP write-backs it would make, claiming,
booking and moving nothing; ``since``/``until``/``cursor_stream`` re-read a window through
the same journal (a shipment already booked is never booked again; only a tracking number
missing in the ERP is written back), advancing ``cursor_stream`` instead of the live cursor.
Bookings, archived labels and changed carrier statuses record trace events under the order
numbers (else the shipment number), the shipment and the tracking number.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection

from hub.bootstrap import Hub
from hub.flows.logistics_booking import (
    BOOKED,
    BOOKED_NUMBER,
    FAILED,
    SETTLED,
    SHIPMENTS_FLOW,
    UNKNOWN,
    UNKNOWN_OUTCOME,
    DryShipper,
    Shipper,
    ShipRun,
    label_path,
    sha,
    trace_refs,
    write_atomically,
)
from hub.flows.logistics_config import LogisticsConfig
from hub.ledger import Cursor, Effect, Ledger, OnUnknown
from hub.ops.events import record_event
from schemas.errors import PermanentError, TransientError
from schemas.model import Shipment
from transforms.dhl_results import TrackingReport
from transforms.keys import BookingKey, KeyKind, TrackingKey

log = logging.getLogger(__name__)

__all__ = [
    "SHIPMENTS_FLOW",
    "SHIPMENTS_STREAM",
    "TRACKING_FLOW",
    "booking_key",
    "delivered_shipments",
    "label_path",
    "ship_ready_shipments",
    "track_open_shipments",
    "tracking_status",
    "write_atomically",
]

TRACKING_FLOW = "logistics_tracking"
SHIPMENTS_STREAM = "logistics.shipments"
STATUS = ("carrier.tracking", "shipment")  # binding: tracking number, hash "<status>:<digest>"
FINAL_STATUSES = frozenset({"delivered", "returned"})
MAX_READ = 10_000  # widest page read when more shipments than a batch share one timestamp


def booking_key(shipment_number: str) -> str:
    """The journal key text of an ERP shipment's one carrier booking (``BookingKey``)."""
    return str(BookingKey(shipment_number))


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _ready(shipment: Shipment, config: LogisticsConfig) -> bool:
    return shipment.state in config.shipments.ready_states and not shipment.tracking_number


# -- shipments flow -------------------------------------------------------------------------


class _Breaker:
    """Stops a run after too many transient failures, or unknown outcomes, in a row."""

    def __init__(self, config: LogisticsConfig, run: ShipRun, endpoint: str):
        self.config = config
        self.run = run
        self.endpoint = endpoint
        self.failures = 0
        self.unknown = 0
        self.stopped: str | None = None
        self.tripped = False  # by unknown outcomes: the run fails even with nothing to retry

    def halted(self) -> bool:
        """The run must stop now."""
        return self.stopped is not None

    def after(self, outcome: str) -> None:
        self.failures = self.failures + 1 if outcome == FAILED else 0
        self.unknown = self.unknown + 1 if outcome == UNKNOWN else 0
        limits = self.config.shipments
        if self.failures >= limits.max_consecutive_failures:
            self.stopped = (
                f"{self.failures} shipments in a row failed transiently: the carrier "
                "looks unavailable, stopping this run"
            )
        elif self.unknown >= limits.max_consecutive_unknown:
            self.tripped = True
            self.stopped = (
                f"circuit breaker: {self.unknown} bookings in a row at {self.endpoint} ended "
                f"with an unknown outcome (last: {self.run.last_unknown}); the endpoint looks "
                "broken or hostile (an HTML page, a DTD, answers lost after sending), so this "
                "run stopped instead of dead-lettering every ready shipment. Check the endpoint, "
                "settle the dead letters, then rerun"
            )


def _revisit(hub: Hub, shipper: Shipper, breaker: _Breaker) -> set[str]:
    """Bookings left unknown (or reopened by a replay) whose letter keeps the shipment: the
    same call and policy again (look up first, or a person). Returns their numbers."""
    waiting = {
        row["key"]
        for state in ("unknown", "failed")
        for row in hub.ledger.journal_find(KeyKind.BOOKING, state=state, flow=SHIPMENTS_FLOW)
    }
    if not waiting:
        return set()
    done: set[str] = set()
    for letter in hub.ledger.dead_letters(flow=SHIPMENTS_FLOW, error_class=UNKNOWN_OUTCOME):
        payload = letter.payload if isinstance(letter.payload, dict) else {}
        if letter.record_key not in waiting or not payload.get("shipment"):
            continue
        shipment = Shipment.model_validate(payload["shipment"])
        if shipment.number in done:
            continue
        done.add(shipment.number)
        outcome = shipper.revisit(shipment)
        # a look-up that cannot tell yet is no hostile answer: only new bookings trip it
        breaker.after(SETTLED if outcome == UNKNOWN else outcome)
        if breaker.halted():
            break
    return done


def _shipper(
    hub: Hub, config: LogisticsConfig, run: ShipRun, dry: bool
) -> tuple[Shipper | DryShipper, str, str]:
    """The run's shipper, the carrier's name and the endpoint the breaker names."""
    if dry:  # the carrier port is never built for a dry run (no connections needed)
        name = config.profile.carrier
        return DryShipper(hub, run, name), name, ""
    port = hub.carrier
    return Shipper(hub, config, port, run), port.carrier, port.endpoint


def _read_window(hub: Hub, cursor: Cursor, limit: int) -> tuple[list[Shipment], bool, bool]:
    """(new rows, the window ended, the page was full) at the cursor."""
    while True:
        rows = hub.erp.shipments_changed_since(cursor.read_from, limit=limit)
        inside = [s for s in rows if cursor.in_window(s.updated_at)]
        fresh = [s for s in inside if cursor.is_new(s.updated_at, s.erp_id)]
        if fresh or len(rows) < limit or limit >= MAX_READ:
            return fresh, len(inside) < len(rows), len(rows) >= limit
        limit = min(limit * 2, MAX_READ)  # a full page at one instant: read wider


def _ship_pages(
    hub: Hub,
    shipper: Shipper | DryShipper,
    cursor: Cursor,
    breaker: _Breaker,
    *,
    limit: int,
    cap: int,
    skip: set[str],
) -> None:
    """Read pages at the cursor and ship them; the cursor follows the settled prefix."""
    run = shipper.run
    config = hub.logistics
    while run.counts["read"] < cap and not breaker.halted():
        fresh, ended, full = _read_window(hub, cursor, limit)
        if not fresh:
            return
        blocked = False
        for shipment in fresh:
            run.counts["read"] += 1
            if not _ready(shipment, config):
                run.counts["not_ready"] += 1
                outcome = SETTLED
            elif shipment.number in skip:  # revisited at the start of this run
                outcome = SETTLED
            else:
                outcome = shipper.ship(shipment)
            breaker.after(outcome)
            blocked = blocked or outcome == FAILED
            if not blocked:
                cursor.passed(shipment.updated_at, shipment.erp_id)
            if breaker.halted() or run.counts["read"] >= cap:
                break
        if not isinstance(shipper, DryShipper):
            cursor.commit(hub.ledger)
        if blocked or ended or not full:
            return


def ship_ready_shipments(
    hub: Hub,
    *,
    max_shipments: int | str = 10_000,
    batch_size: int | str | None = None,
    dry_run: bool | str = False,
    since: str | None = None,
    until: str | None = None,
    cursor_stream: str | None = None,
) -> dict[str, Any]:
    """Book every ready ERP shipment with the carrier, archive labels, write tracking back.

    Reads ``shipments_changed_since`` from the stream's cursor. Rejections and unknown
    outcomes are dead-lettered and the rest go on; shipments the carrier could not take now
    (TransientError after the connector's bounded retries) fail the run at the end with the
    cursor left before the first of them, so Airflow's retry picks them up again.
    A backfill (``since``, ``until``, ``cursor_stream``) reads that window and advances
    ``cursor_stream`` only; ``dry_run`` reports what it would book and write, doing nothing.
    """
    if (since is None) != (cursor_stream is None):
        raise PermanentError(
            "a backfill needs both since and cursor_stream (hub backfill passes them); "
            "since alone would move the live cursor",
            system="hub",
        )
    dry = dry_run is True or str(dry_run).lower() in ("true", "1", "yes")
    config = hub.logistics
    run = ShipRun()
    shipper, carrier, endpoint = _shipper(hub, config, run, dry)
    breaker = _Breaker(config, run, endpoint)
    cursor = hub.ledger.load_cursor(
        cursor_stream or SHIPMENTS_STREAM,
        start=_aware(since) if since else None,
        end=_aware(until) if until else None,
    )
    revisited: set[str] = set()
    if isinstance(shipper, Shipper) and cursor_stream is None:
        revisited = _revisit(hub, shipper, breaker)
    limit = int(batch_size or config.shipments.batch_size)
    if not breaker.halted():
        _ship_pages(
            hub, shipper, cursor, breaker, limit=limit, cap=int(max_shipments), skip=revisited
        )
    return _ship_report(run, shipper, carrier, breaker, cursor_stream)


def _ship_report(
    run: ShipRun,
    shipper: Shipper | DryShipper,
    carrier: str,
    breaker: _Breaker,
    cursor_stream: str | None,
) -> dict[str, Any]:
    report: dict[str, Any] = {
        "status": "ok" if not (run.failed or run.dead_letters) else "partial",
        "carrier": carrier,
        **run.counts,
        "dead_letters": run.dead_letters,
        "details": {"booked": run.booked},
    }
    if cursor_stream is not None:
        report["cursor_stream"] = cursor_stream
    if isinstance(shipper, DryShipper):
        report.update(status="dry_run", would=shipper.would)
        for key in ("booked", "already_booked"):
            report[f"would_{key}"] = report.pop(key)
        return report
    if run.failed or breaker.tripped:
        report["status"] = "failed"
        report["retry"] = run.failed
        log.warning("logistics_shipments: %s", {k: v for k, v in report.items() if k != "details"})
        stopped = breaker.stopped
        if not run.failed:
            raise TransientError(stopped or "stopped", system=f"carrier.{carrier}")
        raise TransientError(
            f"{len(run.failed)} shipment(s) not booked or written back yet "
            f"({', '.join(run.failed[:10])}{'...' if len(run.failed) > 10 else ''})"
            f"{': ' + stopped if stopped else ''}; the cursor stays before "
            f"{run.failed[0]}, a retry of this task resumes there",
            system=f"carrier.{carrier}",
        )
    return report


# -- tracking flow --------------------------------------------------------------------------


def _status_digest(report: TrackingReport) -> str:
    events = [(e.code, e.occurred_at.isoformat(), e.location or "") for e in report.events]
    return sha(report.status, json.dumps(events))[:40]


def tracking_status(ledger: Ledger, erp_id: str) -> dict[str, Any] | None:
    """The last carrier status recorded for an ERP shipment (for DESADV and status pages).

    ``{"status", "tracking_number", "erp_id", "events": [...], "recorded_at"}`` or None when
    the shipment was never tracked.
    """
    binding = ledger.lookup_erp(*STATUS, erp_id)
    if binding is None or not binding.content_hash:
        return None
    status, _, digest = binding.content_hash.partition(":")
    entry = ledger.journal_entry(TrackingKey(binding.external_id, digest))
    result = dict(entry["result"]) if entry and entry.get("result") else {}
    result.update(status=status, tracking_number=binding.external_id, erp_id=erp_id)
    return result


def delivered_shipments(ledger: Ledger) -> dict[str, str]:
    """ERP shipment id -> tracking number of every shipment the carrier reports delivered."""
    return {
        erp_id: b.external_id
        for erp_id, b in ledger.bindings_for(*STATUS).items()
        if (b.content_hash or "").startswith("delivered:")
    }


def _status_result(erp_id: str, report: TrackingReport) -> dict[str, Any]:
    last = report.events[-1] if report.events else None
    return {
        "status": report.status,
        "erp_id": erp_id,
        "tracking_number": report.tracking_number,
        "reference": report.reference,
        "last_event": last.code if last else None,
        "last_event_at": last.occurred_at.isoformat() if last else None,
        "events": [
            {"code": e.code, "at": e.occurred_at.isoformat(), "status": e.status,
             "location": e.location}
            for e in report.events
        ],
    }  # fmt: skip


def _record_status(ledger: Ledger, erp_id: str, report: TrackingReport, digest: str) -> None:
    """Record a changed status once (recording is a ledger write: safe to repeat)."""
    number = report.tracking_number
    key = TrackingKey(number, digest)
    booked = ledger.lookup_erp(*BOOKED_NUMBER, erp_id)
    shipment_number = booked.external_id if booked else None
    entry = ledger.journal_entry(BookingKey(shipment_number)) if shipment_number else None
    orders = [str(o) for o in ((entry or {}).get("result") or {}).get("order_numbers", [])]
    refs = trace_refs(orders, shipment_number or number, number)
    last = report.events[-1] if report.events else None

    def on_done(conn: Connection, result: dict[str, Any]) -> None:
        ledger.bind(*STATUS, number, erp_id, f"{report.status}:{digest}", conn=conn)
        record_event(
            ledger, ref=refs[0], refs=refs[1:], kind="tracking.status", flow=TRACKING_FLOW,
            system="carrier", state=report.status, document=str(key),
            detail={
                "orders": orders, "shipments": [shipment_number] if shipment_number else [],
                "tracking": [number],
                "summary": f"{number}: {report.status}"
                + (f" (last event {last.code} at {last.occurred_at.isoformat()})" if last else ""),
            },
            conn=conn,
        )  # fmt: skip

    ledger.once(
        key,
        digest,
        lambda: _status_result(erp_id, report),
        on_unknown=OnUnknown.repeat(),
        effect=Effect(flow=TRACKING_FLOW, system="carrier", action="record_status", ref=number),
        on_done=on_done,
    )


def _batches(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _open_shipments(ledger: Ledger) -> dict[str, str]:
    """Tracking number -> ERP id of every booked shipment not yet delivered/returned."""
    known = ledger.bindings_for(*STATUS)  # erp_id -> binding(status:digest)
    open_: dict[str, str] = {}
    for erp_id, binding in ledger.bindings_for(*BOOKED).items():
        status = (known[erp_id].content_hash or "").partition(":")[0] if erp_id in known else None
        if status not in FINAL_STATUSES:
            open_[binding.external_id] = erp_id
    return open_


def track_open_shipments(
    hub: Hub, *, batch_size: int | str | None = None, max_shipments: int | str = 100_000
) -> dict[str, Any]:
    """Track every booked shipment not yet delivered/returned; record changed statuses only.

    The ERP is not written: Tryton's ``done`` means "left the warehouse", which the warehouse
    sets; the carrier's delivery status is kept in the ledger (``tracking_status``,
    ``delivered_shipments``) for the DESADV flow. A batch the carrier cannot answer now is
    retried by the task (TransientError at the end); the other batches go on.
    """
    ledger = hub.ledger
    open_ = _open_shipments(ledger)
    known = ledger.bindings_for(*STATUS)
    numbers = sorted(open_)[: int(max_shipments)]
    counts = dict.fromkeys(("open", "tracked", "changed", "unchanged", "not_found"), 0)
    counts["open"] = len(numbers)
    statuses: dict[str, int] = {}
    changes: list[dict[str, str]] = []
    failed: list[str] = []
    for batch in _batches(numbers, int(batch_size or hub.logistics.tracking.batch_size)):
        try:
            reports = hub.carrier.track(batch, now=_now())
        except TransientError as exc:
            failed.extend(batch)
            log.warning("tracking batch of %d failed (will retry): %s", len(batch), exc)
            continue
        for number in batch:
            report = reports.get(number)
            counts["tracked"] += 1
            if report is None or not report.found:
                counts["not_found"] += 1
                continue
            statuses[report.status] = statuses.get(report.status, 0) + 1
            digest = _status_digest(report)
            current = known.get(open_[number])
            if current is not None and current.content_hash == f"{report.status}:{digest}":
                counts["unchanged"] += 1
                continue
            _record_status(ledger, open_[number], report, digest)
            counts["changed"] += 1
            changes.append({"tracking_number": number, "erp_id": open_[number],
                            "status": report.status})  # fmt: skip
    report_out: dict[str, Any] = {
        "status": "ok",
        **counts,
        "statuses": statuses,
        "delivered_total": len(delivered_shipments(ledger)),
        "details": {"changes": changes},
    }
    if failed:
        report_out["status"] = "failed"
        log.warning("logistics_tracking: %s",
                    {k: v for k, v in report_out.items() if k != "details"})  # fmt: skip
        raise TransientError(
            f"tracking of {len(failed)} shipment(s) failed ({', '.join(failed[:10])}); "
            "the other batches were recorded, a retry of this task tracks them again",
            system="carrier.dhl_express",
        )
    return report_out
