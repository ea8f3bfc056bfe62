"""Flows logistics_shipments and logistics_tracking: ERP shipments to the carrier, labels and
tracking numbers back, carrier status recorded for the DESADV flow.

Booking a parcel is not idempotent at the carrier, so every booking is journaled under
``carrier.shipment:<ERP shipment number>`` before the call and completed after it. An answer
lost after sending (OutcomeUnknownError, or a journal entry left pending by a crashed worker)
is never retried: the entry goes dead and a dead letter tells a person to reconcile with the
carrier, so no parcel gets two labels. The key does not depend on the carrier or the address:
one ERP shipment, one booking, whatever changes later.

Ops conventions (``hub/ops/dryrun.py``, ``hub/ops/backfill.py``): ``dry_run=True`` reads
the ready shipments and reports the bookings and ERP write-backs it would make, claiming,
booking and moving nothing; ``since``/``until``/``cursor_stream`` re-read a window through
the same journal (a shipment already booked is never booked again; only a tracking number
missing in the ERP is written back), advancing ``cursor_stream`` instead of the live cursor.
Bookings, archived labels and changed carrier statuses record trace events under the order
numbers (else the shipment number), the shipment and the tracking number.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub.bootstrap import Hub
from hub.flows.logistics_carrier import ShipmentBooker, ShipmentTracker, booker_for, tracker_for
from hub.flows.logistics_config import LogisticsConfig, load_logistics_config
from hub.ledger import Ledger
from hub.ops.events import record_event
from schemas.errors import OutcomeUnknownError, PermanentError, TransientError
from schemas.model import Shipment
from transforms.dhl_results import CarrierLabel, TrackingReport

log = logging.getLogger(__name__)

SHIPMENTS_FLOW = "logistics_shipments"
TRACKING_FLOW = "logistics_tracking"
SHIPMENTS_STREAM = "logistics.shipments"
BOOKED = ("carrier", "shipment")  # binding: tracking number <-> ERP shipment id
BOOKED_NUMBER = ("carrier", "shipment_number")  # binding: ERP shipment number <-> ERP id
STATUS = ("carrier.tracking", "shipment")  # binding: tracking number, hash "<status>:<digest>"
FINAL_STATUSES = frozenset({"delivered", "returned"})
UNKNOWN_OUTCOME = "OutcomeUnknownError"
MAX_READ = 10_000  # widest page read when more shipments than a batch share one timestamp


def booking_key(shipment_number: str) -> str:
    """The journal key of an ERP shipment's one carrier booking."""
    return f"carrier.shipment:{shipment_number}"


def _sha(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


# -- wiring ---------------------------------------------------------------------------------


def _config(hub: Hub) -> LogisticsConfig:
    config = hub.overrides.get("logistics_config")
    return config if isinstance(config, LogisticsConfig) else load_logistics_config()


def _booker(hub: Hub, config: LogisticsConfig) -> tuple[ShipmentBooker, bool]:
    booker = hub.overrides.get("carrier_booker")
    if isinstance(booker, ShipmentBooker):
        return booker, False
    return booker_for(config), True


def _tracker(hub: Hub, config: LogisticsConfig) -> tuple[ShipmentTracker, bool]:
    tracker = hub.overrides.get("carrier_tracker")
    if isinstance(tracker, ShipmentTracker):
        return tracker, False
    return tracker_for(config), True


# -- labels ---------------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def label_path(hub_home: Path, config: LogisticsConfig, shipment_number: str) -> Path:
    """``<hub home>/<label_dir>/<shipment number>.pdf`` (unsafe characters replaced by ``_``)."""
    name = _UNSAFE.sub("_", shipment_number).lstrip(".") or "_"
    return hub_home / config.shipments.label_dir / f"{name}.pdf"


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync, then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- shipments flow -------------------------------------------------------------------------


@dataclass
class _ShipRun:
    """Counters and details of one run of the shipments flow."""

    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("read", "not_ready", "booked", "written_back", "already_booked", "rejected",
             "outcome_unknown", "skipped_dead", "failed", "writeback_failed"),
            0,
        )
    )  # fmt: skip
    booked: list[dict[str, str]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    dead_letters: list[str] = field(default_factory=list)


class _Shipper:
    """Books one shipment through the journal, archives its label, writes tracking back."""

    def __init__(self, hub: Hub, config: LogisticsConfig, booker: ShipmentBooker, run: _ShipRun):
        self.hub = hub
        self.ledger: Ledger = hub.ledger
        self.config = config
        self.booker = booker
        self.run = run

    def _dead_letter(
        self, shipment: Shipment, reason: str, error_class: str, extra: dict[str, Any] | None = None
    ) -> None:
        self.ledger.dead_letter(
            SHIPMENTS_FLOW,
            booking_key(shipment.number),
            reason,
            error_class=error_class,
            system=f"carrier.{self.booker.carrier}",
            payload={
                "shipment_number": shipment.number,
                "erp_id": shipment.erp_id,
                "reference": shipment.number,
                "carrier": self.booker.carrier,
                **(extra or {}),
            },  # fmt: skip
        )
        self.run.dead_letters.append(shipment.number)

    def _unknown(self, shipment: Shipment, key: str, why: str) -> str:
        reason = (
            f"shipment {shipment.number} (ERP id {shipment.erp_id}): outcome of the carrier "
            f"booking is unknown ({why}). The parcel may already be booked at "
            f"{self.booker.carrier} under reference {shipment.number}; it will NOT be booked "
            "again automatically. Reconcile: look the reference up at the carrier; if a shipment "
            "exists, enter its tracking number in the ERP and resolve this letter, otherwise "
            "replay this letter to book it."
        )
        self.ledger.fail(key, reason, dead=True)
        self._dead_letter(shipment, reason, UNKNOWN_OUTCOME)
        log.warning("%s", reason)
        self.run.counts["outcome_unknown"] += 1
        return "settled"

    def ship(self, shipment: Shipment) -> str:
        """'settled' (booked, already done, dead-lettered) or 'failed' (retry the run)."""
        key = booking_key(shipment.number)
        prior = self.ledger.journal_entry(key)
        claim = self.ledger.claim(
            key,
            _sha("carrier.shipment", shipment.number),
            flow=SHIPMENTS_FLOW,
            system="carrier",
            action="create_shipment",
            ref=shipment.number,
        )
        if claim.done:
            self.run.counts["already_booked"] += 1
            return self._write_back(shipment, claim.result)
        if claim.state == "dead":
            self.run.counts["skipped_dead"] += 1
            return "settled"
        if prior is not None and prior["state"] == "pending":
            # a worker died between claiming and completing: its call may have reached the carrier
            return self._unknown(shipment, key, "an earlier run stopped during the carrier call")
        try:
            label = self.booker.book(shipment, now=_now())
        except OutcomeUnknownError as exc:
            return self._unknown(shipment, key, str(exc))
        except TransientError as exc:
            # the connector guarantees nothing was created: release the claim for a later run
            self.ledger.fail(key, str(exc), dead=False)
            self.run.counts["failed"] += 1
            self.run.failed.append(shipment.number)
            log.warning("shipment %s not booked (will retry): %s", shipment.number, exc)
            return "failed"
        except PermanentError as exc:
            reason = f"shipment {shipment.number} (ERP id {shipment.erp_id}) was not booked: {exc}"
            self.ledger.fail(key, reason, dead=True)
            self._dead_letter(shipment, reason, type(exc).__name__)
            self.run.counts["rejected"] += 1
            return "settled"
        except Exception as exc:  # a bug after the claim: the call may have gone out
            return self._unknown(shipment, key, f"unexpected {type(exc).__name__}: {exc}")
        return self._complete(shipment, key, label)

    def _complete(self, shipment: Shipment, key: str, label: CarrierLabel) -> str:
        path = label_path(self.hub.home, self.config, shipment.number)
        label_error = None
        try:
            write_atomically(path, label.label_pdf)
        except OSError as exc:  # the parcel IS booked: record it, keep the PDF in a dead letter
            label_error = f"{type(exc).__name__}: {exc}"
        result: dict[str, str | list[str] | None] = {
            "carrier": label.carrier,
            "tracking_number": label.shipment_number,
            "label_path": None if label_error else str(path),
            "erp_id": shipment.erp_id,
            "shipment_number": shipment.number,
        }
        if shipment.order_numbers:
            result["order_numbers"] = list(shipment.order_numbers)
        refs = _trace_refs(shipment.order_numbers, shipment.number, label.shipment_number)
        detail = _trace_detail(shipment.order_numbers, shipment, label.shipment_number)
        with self.ledger.transaction() as conn:
            self.ledger.complete(key, result, conn=conn)
            self.ledger.bind(*BOOKED, label.shipment_number, shipment.erp_id, conn=conn)
            self.ledger.bind(*BOOKED_NUMBER, shipment.number, shipment.erp_id, conn=conn)
            record_event(
                self.ledger, ref=refs[0], refs=refs[1:], kind="shipment.booked",
                flow=SHIPMENTS_FLOW, system="carrier", state="done",
                document=shipment.number,
                detail={**detail, "summary": f"shipment {shipment.number} booked with "
                        f"{label.carrier}: {label.shipment_number}"},
                conn=conn,
            )  # fmt: skip
            if label_error is None:
                record_event(
                    self.ledger, ref=refs[0], refs=refs[1:], kind="label.archived",
                    flow=SHIPMENTS_FLOW, system="carrier", state="done", document=str(path),
                    detail={**detail, "summary": f"label of {label.shipment_number} at {path}"},
                    conn=conn,
                )  # fmt: skip
        if label_error:
            self._dead_letter(
                shipment,
                f"shipment {shipment.number} is booked as {label.shipment_number} but its label "
                f"could not be archived at {path} ({label_error}); the PDF is in this letter's "
                "payload: free the disk / fix permissions and save it there",
                "LabelArchiveError",
                {
                    "tracking_number": label.shipment_number,
                    "label_pdf_base64": base64.b64encode(label.label_pdf).decode(),
                },  # fmt: skip
            )
        self.run.counts["booked"] += 1
        self.run.booked.append(
            {"shipment": shipment.number, "tracking_number": label.shipment_number}
        )
        return self._write_back(shipment, result)

    def _write_back(self, shipment: Shipment, result: dict[str, Any]) -> str:
        tracking = str(result["tracking_number"])
        try:
            self.hub.erp.set_shipment_tracking(shipment.erp_id, tracking)
        except TransientError as exc:
            self.run.counts["writeback_failed"] += 1
            self.run.failed.append(shipment.number)
            log.warning("shipment %s: tracking %s not written back yet: %s",
                        shipment.number, tracking, exc)  # fmt: skip
            return "failed"
        except PermanentError as exc:
            self._dead_letter(
                shipment,
                f"shipment {shipment.number} (ERP id {shipment.erp_id}) is booked at the carrier "
                f"as {tracking}, but the ERP refused the tracking number: {exc}; enter it in the "
                "ERP by hand (or cancel the carrier shipment) and resolve this letter",
                type(exc).__name__,
                {"tracking_number": tracking},
            )
            return "settled"
        self.run.counts["written_back"] += 1
        return "settled"


def _trace_refs(orders: Sequence[str], shipment_number: str, tracking: str) -> tuple[str, ...]:
    """Order numbers first (else the shipment number), then shipment and tracking number."""
    return tuple(dict.fromkeys([*orders, shipment_number, tracking]))


def _trace_detail(
    orders: Sequence[str], shipment: Shipment | None, tracking: str
) -> dict[str, Any]:
    return {
        "orders": list(orders),
        "sales": list(shipment.sale_numbers) if shipment else [],
        "shipments": [shipment.number] if shipment else [],
        "tracking": [tracking],
    }


class _DryShipper:
    """A dry run's shipper: says what ``_Shipper.ship`` would do, claims and books nothing."""

    def __init__(self, hub: Hub, run: _ShipRun, carrier: str):
        self.hub = hub
        self.run = run
        self.carrier = carrier
        self.would: dict[str, dict[str, list[Any]]] = {}
        self.position: tuple[str | None, list[str]] | None = None  # the cursor it would move

    def _add(self, system: str, action: str, item: str) -> None:
        self.would.setdefault(system, {}).setdefault(action, []).append(item)

    def ship(self, shipment: Shipment) -> str:
        entry = self.hub.ledger.journal_entry(booking_key(shipment.number))
        state = entry["state"] if entry else None
        if state == "done":
            self.run.counts["already_booked"] += 1
            tracking = (entry or {}).get("result", {}).get("tracking_number")
            self._add("erp", "set_shipment_tracking", f"shipment {shipment.number}: {tracking}")
        elif state == "dead":
            self.run.counts["skipped_dead"] += 1
        elif state == "pending":
            self._add("ledger", "dead_letters", f"{booking_key(shipment.number)}: outcome unknown")
        else:
            self.run.counts["booked"] += 1
            self._add(f"carrier.{self.carrier}", "create_shipment", shipment.number)
            self._add("erp", "set_shipment_tracking", f"shipment {shipment.number}: (new)")
        return "settled"


def _ready(shipment: Shipment, config: LogisticsConfig) -> bool:
    return shipment.state in config.shipments.ready_states and not shipment.tracking_number


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
    stream = cursor_stream or SHIPMENTS_STREAM
    start_at = _aware(since) if since else None
    end_at = _aware(until) if until else None
    config = _config(hub)
    booker, owned = (None, False) if dry else _booker(hub, config)
    carrier = booker.carrier if booker else config.profile.carrier
    run = _ShipRun()
    shipper: _Shipper | _DryShipper = (
        _DryShipper(hub, run, carrier) if booker is None else _Shipper(hub, config, booker, run)
    )
    limit = int(batch_size or config.shipments.batch_size)
    cap = int(max_shipments)
    stopped = None
    value: str | None
    try:
        while run.counts["read"] < cap and stopped is None:
            value, ties = hub.ledger.cursor(stream)
            if dry and isinstance(shipper, _DryShipper) and shipper.position is not None:
                value, ties = shipper.position
            read_from = datetime.fromisoformat(value) if value else start_at
            rows = hub.erp.shipments_changed_since(read_from, limit=limit)
            ended = False
            if end_at is not None:
                inside = [s for s in rows if s.updated_at is None or s.updated_at < end_at]
                ended, rows = len(inside) < len(rows), inside
            tie_set = set(ties)
            fresh = [s for s in rows if not (value and _at(s) == value and s.erp_id in tie_set)]
            if not fresh:
                if len(rows) >= limit and limit < MAX_READ:
                    limit = min(limit * 2, MAX_READ)  # a full page at one instant: read wider
                    continue
                break
            settled_upto: list[Shipment] = []
            blocked = False
            consecutive = 0
            for shipment in fresh:
                run.counts["read"] += 1
                if not _ready(shipment, config):
                    run.counts["not_ready"] += 1
                    outcome = "settled"
                else:
                    outcome = shipper.ship(shipment)
                if outcome == "failed":
                    blocked = True
                    consecutive += 1
                    if consecutive >= config.shipments.max_consecutive_failures:
                        stopped = (
                            f"{consecutive} shipments in a row failed transiently: the carrier "
                            "looks unavailable, stopping this run"
                        )
                        break
                else:
                    consecutive = 0
                    if not blocked:
                        settled_upto.append(shipment)
                if run.counts["read"] >= cap:
                    break
            if isinstance(shipper, _DryShipper):
                shipper.position = _position(value, ties, settled_upto) or (value, ties)
            else:
                _advance(hub.ledger, value, ties, settled_upto, stream)
            if blocked or ended or len(rows) < limit:
                break
    finally:
        if owned and booker is not None:
            booker.close()
    report: dict[str, Any] = {
        "status": "ok" if not (run.failed or run.dead_letters) else "partial",
        "carrier": carrier,
        **run.counts,
        "dead_letters": run.dead_letters,
        "details": {"booked": run.booked},
    }
    if cursor_stream is not None:
        report["cursor_stream"] = cursor_stream
    if isinstance(shipper, _DryShipper):
        report.update(status="dry_run", would=shipper.would)
        for key in ("booked", "already_booked"):
            report[f"would_{key}"] = report.pop(key)
        return report
    if run.failed:
        report["status"] = "failed"
        report["retry"] = run.failed
        log.warning("logistics_shipments: %s", {k: v for k, v in report.items() if k != "details"})
        raise TransientError(
            f"{len(run.failed)} shipment(s) not booked or written back yet "
            f"({', '.join(run.failed[:10])}{'...' if len(run.failed) > 10 else ''})"
            f"{': ' + stopped if stopped else ''}; the cursor stays before "
            f"{run.failed[0]}, a retry of this task resumes there",
            system=f"carrier.{carrier}",
        )
    return report


def _at(shipment: Shipment) -> str | None:
    return shipment.updated_at.isoformat() if shipment.updated_at else None


def _aware(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _position(
    value: str | None, ties: list[str], settled: list[Shipment]
) -> tuple[str, list[str]] | None:
    """The watermark after the settled shipments (rows at that instant become ties)."""
    stamped = [s for s in settled if s.updated_at is not None]
    if not stamped:
        return None
    new = max(stamped, key=lambda s: s.updated_at or datetime.min.replace(tzinfo=UTC))
    new_value = _at(new) or ""
    at_new = [s.erp_id for s in stamped if _at(s) == new_value]
    return new_value, sorted(set(at_new) | (set(ties) if new_value == value else set()))


def _advance(
    ledger: Ledger,
    value: str | None,
    ties: list[str],
    settled: list[Shipment],
    stream: str = SHIPMENTS_STREAM,
) -> None:
    """Move the watermark to the last settled shipment (rows at that instant become ties)."""
    position = _position(value, ties, settled)
    if position is None:
        return
    with ledger.transaction() as conn:
        ledger.advance_cursor(stream, position[0], position[1], conn=conn)


# -- tracking flow --------------------------------------------------------------------------


def _status_digest(report: TrackingReport) -> str:
    events = [(e.code, e.occurred_at.isoformat(), e.location or "") for e in report.events]
    return _sha(report.status, json.dumps(events))[:40]


def tracking_status(ledger: Ledger, erp_id: str) -> dict[str, Any] | None:
    """The last carrier status recorded for an ERP shipment (for DESADV and status pages).

    ``{"status", "tracking_number", "erp_id", "events": [...], "recorded_at"}`` or None when
    the shipment was never tracked.
    """
    binding = ledger.lookup_erp(*STATUS, erp_id)
    if binding is None or not binding.content_hash:
        return None
    status, _, digest = binding.content_hash.partition(":")
    entry = ledger.journal_entry(f"carrier.tracking:{binding.external_id}:{digest}")
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


def _record_status(ledger: Ledger, erp_id: str, report: TrackingReport, digest: str) -> None:
    number = report.tracking_number
    key = f"carrier.tracking:{number}:{digest}"
    claim = ledger.claim(
        key, digest, flow=TRACKING_FLOW, system="carrier", action="record_status", ref=number
    )
    if claim.done:
        return
    last = report.events[-1] if report.events else None
    result = {
        "status": report.status,
        "erp_id": erp_id,
        "tracking_number": number,
        "reference": report.reference,
        "last_event": last.code if last else None,
        "last_event_at": last.occurred_at.isoformat() if last else None,
        "events": [
            {
                "code": e.code,
                "at": e.occurred_at.isoformat(),
                "status": e.status,
                "location": e.location,
            }
            for e in report.events
        ],  # fmt: skip
    }
    booked = ledger.lookup_erp(*BOOKED_NUMBER, erp_id)
    shipment_number = booked.external_id if booked else None
    entry = ledger.journal_entry(booking_key(shipment_number)) if shipment_number else None
    orders = [str(o) for o in ((entry or {}).get("result") or {}).get("order_numbers", [])]
    refs = tuple(dict.fromkeys([*orders, *([shipment_number] if shipment_number else []), number]))
    with ledger.transaction() as conn:
        ledger.complete(key, result, conn=conn)
        ledger.bind(*STATUS, number, erp_id, f"{report.status}:{digest}", conn=conn)
        record_event(
            ledger, ref=refs[0], refs=refs[1:], kind="tracking.status", flow=TRACKING_FLOW,
            system="carrier", state=report.status, document=key,
            detail={
                "orders": orders, "shipments": [shipment_number] if shipment_number else [],
                "tracking": [number],
                "summary": f"{number}: {report.status}"
                + (f" (last event {last.code} at {last.occurred_at.isoformat()})" if last else ""),
            },
            conn=conn,
        )  # fmt: skip


def _batches(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def track_open_shipments(
    hub: Hub, *, batch_size: int | str | None = None, max_shipments: int | str = 100_000
) -> dict[str, Any]:
    """Track every booked shipment not yet delivered/returned; record changed statuses only.

    The ERP is not written: Tryton's ``done`` means "left the warehouse", which the warehouse
    sets; the carrier's delivery status is kept in the ledger (``tracking_status``,
    ``delivered_shipments``) for the DESADV flow. A batch the carrier cannot answer now is
    retried by the task (TransientError at the end); the other batches go on.
    """
    config = _config(hub)
    tracker, owned = _tracker(hub, config)
    ledger = hub.ledger
    booked = ledger.bindings_for(*BOOKED)  # erp_id -> binding(tracking number)
    known = ledger.bindings_for(*STATUS)  # erp_id -> binding(status:digest)
    open_: dict[str, str] = {}
    for erp_id, binding in booked.items():
        status = (known[erp_id].content_hash or "").partition(":")[0] if erp_id in known else None
        if status not in FINAL_STATUSES:
            open_[binding.external_id] = erp_id
    numbers = sorted(open_)[: int(max_shipments)]
    counts = dict.fromkeys(("open", "tracked", "changed", "unchanged", "not_found"), 0)
    counts["open"] = len(numbers)
    statuses: dict[str, int] = {}
    changes: list[dict[str, str]] = []
    failed: list[str] = []
    size = int(batch_size or config.tracking.batch_size)
    try:
        for batch in _batches(numbers, size):
            try:
                reports = tracker.track(batch, now=_now())
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
                erp_id = open_[number]
                current = known.get(erp_id)
                if current is not None and current.content_hash == f"{report.status}:{digest}":
                    counts["unchanged"] += 1
                    continue
                _record_status(ledger, erp_id, report, digest)
                counts["changed"] += 1
                changes.append({"tracking_number": number, "erp_id": erp_id,
                                "status": report.status})  # fmt: skip
    finally:
        if owned:
            tracker.close()
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
