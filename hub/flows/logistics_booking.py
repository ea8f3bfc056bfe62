"""Booking one ERP shipment with the carrier, exactly once: the shipments flow's per-record step.

Every booking goes through ``ledger.once`` under ``BookingKey(<ERP shipment number>)``. The
policy for an unknown outcome (an answer lost after sending, a worker killed during the
call) depends on the carrier port: where it can find a booking by our reference, the next
attempt asks first (``OnUnknown.look_up``) and books only when the carrier provably holds
nothing; where it cannot (DHL's own APIs), nothing is booked again: the ledger files a dead
letter for a person (``OnUnknown.dead_letter``). Labels are archived before the result is
recorded; the tracking number is then written back to the ERP (safe to repeat).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

from connectors.carrier.port import CarrierPort
from hub.bootstrap import Hub
from hub.flows.logistics_config import LogisticsConfig
from hub.ledger import Effect, Ledger, OnUnknown, Outcome, Status
from hub.ops.events import record_event
from schemas.errors import PermanentError, TransientError
from schemas.model import Shipment
from transforms.dhl_results import CarrierLabel
from transforms.keys import BookingKey

log = logging.getLogger(__name__)

SHIPMENTS_FLOW = "logistics_shipments"
BOOKED = ("carrier", "shipment")  # binding: tracking number <-> ERP shipment id
BOOKED_NUMBER = ("carrier", "shipment_number")  # binding: ERP shipment number <-> ERP id
UNKNOWN_OUTCOME = "OutcomeUnknownError"
COUNTS = (
    "read", "not_ready", "booked", "written_back", "already_booked", "rejected",
    "outcome_unknown", "skipped_dead", "failed", "writeback_failed",
)  # fmt: skip

# what ``Shipper.ship`` says about one shipment
SETTLED, FAILED, UNKNOWN = "settled", "failed", "unknown"


def sha(*parts: str) -> str:
    """The content hash of a booking's identity (one ERP shipment, one booking)."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def booking_hash(shipment_number: str) -> str:
    """The journal payload hash of a booking: the key does not depend on address or carrier."""
    return sha("carrier.shipment", shipment_number)


def _now() -> datetime:
    return datetime.now(UTC)


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


# -- one run's counters ---------------------------------------------------------------------


@dataclass
class ShipRun:
    """Counters and details of one run of the shipments flow."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    booked: list[dict[str, str]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    dead_letters: list[str] = field(default_factory=list)
    last_unknown: str = ""


def trace_refs(orders: Sequence[str], shipment_number: str, tracking: str) -> tuple[str, ...]:
    """Order numbers first (else the shipment number), then shipment and tracking number."""
    return tuple(dict.fromkeys([*orders, shipment_number, tracking]))


def _trace_detail(shipment: Shipment, tracking: str) -> dict[str, Any]:
    return {
        "orders": list(shipment.order_numbers),
        "sales": list(shipment.sale_numbers),
        "shipments": [shipment.number],
        "tracking": [tracking],
    }


def shipment_payload(shipment: Shipment, carrier: str) -> dict[str, Any]:
    """What a booking's dead letter keeps: the references, and the shipment for a replay."""
    return {
        "shipment_number": shipment.number,
        "erp_id": shipment.erp_id,
        "reference": shipment.number,
        "carrier": carrier,
        "shipment": shipment.model_dump(mode="json"),
    }


@dataclass
class _Archived:
    """Label bytes and archive problems of one booking, kept beside the journal result."""

    pdf: bytes = b""
    error: str | None = None


class Shipper:
    """Books one shipment through the journal, archives its label, writes tracking back."""

    def __init__(self, hub: Hub, config: LogisticsConfig, carrier: CarrierPort, run: ShipRun):
        self.hub = hub
        self.ledger: Ledger = hub.ledger
        self.config = config
        self.carrier = carrier
        self.run = run

    def _effect(self, shipment: Shipment) -> Effect:
        return Effect(
            flow=SHIPMENTS_FLOW,
            system=self.carrier.system,
            action="create_shipment",
            ref=shipment.number,
            what=f"shipment {shipment.number} (ERP id {shipment.erp_id})",
            payload=shipment_payload(shipment, self.carrier.carrier),
        )

    def policy(self, shipment: Shipment, archived: _Archived) -> OnUnknown[dict[str, Any]]:
        """Ask the carrier by our reference where it can tell; otherwise a person decides."""
        if not self.carrier.can_look_up:
            return OnUnknown.dead_letter()

        def find(_key: str) -> dict[str, Any] | None:
            label = self.carrier.find_by_reference(shipment.number)
            return None if label is None else self._archive(shipment, label, archived)

        return OnUnknown.look_up(find)

    def dead_letter(
        self, shipment: Shipment, reason: str, error_class: str, extra: dict[str, Any] | None = None
    ) -> None:
        """File (or re-file) the booking's dead letter, keeping the shipment for a replay."""
        self.ledger.dead_letter(
            SHIPMENTS_FLOW,
            str(BookingKey(shipment.number)),
            reason,
            error_class=error_class,
            system=self.carrier.system,
            payload={**shipment_payload(shipment, self.carrier.carrier), **(extra or {})},
        )
        self.run.dead_letters.append(shipment.number)

    def ship(self, shipment: Shipment) -> str:
        """SETTLED (booked, found, done before, dead), FAILED (retry the run) or UNKNOWN."""
        archived = _Archived()

        def book() -> dict[str, Any]:
            label = self.carrier.book(shipment, now=_now())
            return self._archive(shipment, label, archived)

        try:
            outcome = self.ledger.once(
                BookingKey(shipment.number),
                booking_hash(shipment.number),
                book,
                on_unknown=self.policy(shipment, archived),
                effect=self._effect(shipment),
                on_done=lambda conn, result: self._record(conn, shipment, result),
            )
        except TransientError as exc:  # the connector guarantees nothing was created
            self.run.counts["failed"] += 1
            self.run.failed.append(shipment.number)
            log.warning("shipment %s not booked (will retry): %s", shipment.number, exc)
            return FAILED
        except PermanentError as exc:
            reason = f"shipment {shipment.number} (ERP id {shipment.erp_id}) was not booked: {exc}"
            self.dead_letter(shipment, reason, type(exc).__name__)
            self.run.counts["rejected"] += 1
            return SETTLED
        return self._settle(shipment, outcome, archived)

    def revisit(self, shipment: Shipment) -> str:
        """Ship a booking left unknown; once it is settled (found, or booked because the
        carrier provably held nothing) the letter that kept it waiting is closed."""
        status = self.ship(shipment)
        entry = self.ledger.journal_entry(BookingKey(shipment.number))
        if entry is not None and entry["state"] == "done":
            self._close_letters(str(BookingKey(shipment.number)))
        return status

    def _settle(
        self, shipment: Shipment, outcome: Outcome[dict[str, Any]], archived: _Archived
    ) -> str:
        result = outcome.result
        if outcome.status is Status.RAN and result is not None:
            self._label_letter(shipment, result, archived)
            self.run.counts["booked"] += 1
            tracking = str(result["tracking_number"])
            self.run.booked.append({"shipment": shipment.number, "tracking_number": tracking})
            return self.write_back(shipment, result)
        if outcome.status in (Status.DONE_BEFORE, Status.FOUND) and result is not None:
            if outcome.status is Status.FOUND:
                log.info("shipment %s: found at the carrier by our reference", shipment.number)
                self._label_letter(shipment, result, archived)
                self._close_letters(str(BookingKey(shipment.number)))
            self.run.counts["already_booked"] += 1
            return self.write_back(shipment, result)
        if outcome.status is Status.DEAD and outcome.dead_letter_id is not None:
            # the ledger filed the letter: unknown outcome, and this carrier cannot be asked
            self.run.dead_letters.append(shipment.number)
            return self._counted_unknown(shipment, str(outcome.error))
        if outcome.status is Status.DEAD:
            self.run.counts["skipped_dead"] += 1
            return SETTLED
        return self._unknown(shipment, str(outcome.error or "outcome unknown"))

    def _counted_unknown(self, shipment: Shipment, why: str) -> str:
        self.run.counts["outcome_unknown"] += 1
        self.run.last_unknown = why
        log.warning("shipment %s: %s", shipment.number, why)
        return UNKNOWN

    def _unknown(self, shipment: Shipment, why: str) -> str:
        """Look-up policy, still unknown: the entry waits for a look-up; a person sees it."""
        reason = (
            f"shipment {shipment.number} (ERP id {shipment.erp_id}): the outcome of its booking "
            f"at {self.carrier.system} is unknown ({why}). It may be booked under our reference "
            f"{shipment.number}; it will NOT be booked again blindly: the next run (or a replay "
            "of this letter) asks the carrier by this reference first and books only when the "
            "carrier provably holds nothing. To settle it by hand: look the reference up at the "
            "carrier, enter the tracking number in the ERP and resolve this letter."
        )
        self.dead_letter(shipment, reason, UNKNOWN_OUTCOME)
        return self._counted_unknown(shipment, why)

    def _close_letters(self, key: str) -> None:
        # by its record key: an open-letter list is capped, and may hold thousands of others
        for letter in self.ledger.dead_letters(flow=SHIPMENTS_FLOW, record_key=key):
            self.ledger.close_dead_letter(
                letter.id, "resolved", by="hub", note="settled after a look-up by our reference"
            )

    def _archive(
        self, shipment: Shipment, label: CarrierLabel, archived: _Archived
    ) -> dict[str, Any]:
        """The journal result of a booking; the label PDF is archived first (if any)."""
        path = label_path(self.hub.home, self.config, shipment.number)
        archived.pdf = label.label_pdf
        if not label.label_pdf:
            archived.error = "the carrier's look-up returned no label"
        else:
            try:
                write_atomically(path, label.label_pdf)
            except OSError as exc:  # the parcel IS booked: record it, keep the PDF in a letter
                archived.error = f"{type(exc).__name__}: {exc}"
        result: dict[str, Any] = {
            "carrier": label.carrier,
            "tracking_number": label.shipment_number,
            "label_path": None if archived.error else str(path),
            "erp_id": shipment.erp_id,
            "shipment_number": shipment.number,
        }
        if shipment.order_numbers:
            result["order_numbers"] = list(shipment.order_numbers)
        return result

    def _record(self, conn: Connection, shipment: Shipment, result: dict[str, Any]) -> None:
        """Bindings and trace events, in the transaction that marks the booking done."""
        tracking = str(result["tracking_number"])
        refs = trace_refs(shipment.order_numbers, shipment.number, tracking)
        detail = _trace_detail(shipment, tracking)
        self.ledger.bind(*BOOKED, tracking, shipment.erp_id, conn=conn)
        self.ledger.bind(*BOOKED_NUMBER, shipment.number, shipment.erp_id, conn=conn)
        record_event(
            self.ledger, ref=refs[0], refs=refs[1:], kind="shipment.booked",
            flow=SHIPMENTS_FLOW, system="carrier", state="done", document=shipment.number,
            detail={**detail, "summary": f"shipment {shipment.number} booked with "
                    f"{result['carrier']}: {tracking}"},
            conn=conn,
        )  # fmt: skip
        path = result.get("label_path")
        if path:
            record_event(
                self.ledger, ref=refs[0], refs=refs[1:], kind="label.archived",
                flow=SHIPMENTS_FLOW, system="carrier", state="done", document=str(path),
                detail={**detail, "summary": f"label of {tracking} at {path}"},
                conn=conn,
            )  # fmt: skip

    def _label_letter(
        self, shipment: Shipment, result: dict[str, Any], archived: _Archived
    ) -> None:
        if archived.error is None:
            return
        path = label_path(self.hub.home, self.config, shipment.number)
        tracking = str(result["tracking_number"])
        self.dead_letter(
            shipment,
            f"shipment {shipment.number} is booked as {tracking} but its label could not be "
            f"archived at {path} ({archived.error}); the PDF (if the carrier gave one) is in "
            "this letter's payload: free the disk / fix permissions and save it there, or "
            "print the label from the carrier's portal",
            "LabelArchiveError",
            {
                "tracking_number": tracking,
                "label_pdf_base64": base64.b64encode(archived.pdf).decode(),
            },
        )

    def write_back(self, shipment: Shipment, result: dict[str, Any]) -> str:
        """The tracking number into the ERP (safe to repeat); FAILED when the ERP is away."""
        tracking = str(result["tracking_number"])
        try:
            self.hub.erp.set_shipment_tracking(shipment.erp_id, tracking)
        except TransientError as exc:
            self.run.counts["writeback_failed"] += 1
            self.run.failed.append(shipment.number)
            log.warning("shipment %s: tracking %s not written back yet: %s",
                        shipment.number, tracking, exc)  # fmt: skip
            return FAILED
        except PermanentError as exc:
            self.dead_letter(
                shipment,
                f"shipment {shipment.number} (ERP id {shipment.erp_id}) is booked at the carrier "
                f"as {tracking}, but the ERP refused the tracking number: {exc}; enter it in the "
                "ERP by hand (or cancel the carrier shipment) and resolve this letter",
                type(exc).__name__,
                {"tracking_number": tracking},
            )
            return SETTLED
        self.run.counts["written_back"] += 1
        return SETTLED


class DryShipper:
    """A dry run's shipper: says what ``Shipper.ship`` would do, claims and books nothing."""

    def __init__(self, hub: Hub, run: ShipRun, carrier: str):
        self.hub = hub
        self.run = run
        self.carrier = carrier
        self.would: dict[str, dict[str, list[Any]]] = {}

    def _add(self, system: str, action: str, item: str) -> None:
        self.would.setdefault(system, {}).setdefault(action, []).append(item)

    def ship(self, shipment: Shipment) -> str:
        key = str(BookingKey(shipment.number))
        entry = self.hub.ledger.journal_entry(key)
        state = entry["state"] if entry else None
        if state == "done":
            self.run.counts["already_booked"] += 1
            tracking = (entry or {}).get("result", {}).get("tracking_number")
            self._add("erp", "set_shipment_tracking", f"shipment {shipment.number}: {tracking}")
        elif state == "dead":
            self.run.counts["skipped_dead"] += 1
        elif state in ("pending", "unknown"):
            # the real run asks the carrier by our reference where it can, else a person does
            self._add("ledger", "dead_letters", f"{key}: outcome unknown")
        else:
            self.run.counts["booked"] += 1
            self._add(f"carrier.{self.carrier}", "create_shipment", shipment.number)
            self._add("erp", "set_shipment_tracking", f"shipment {shipment.number}: (new)")
        return SETTLED
