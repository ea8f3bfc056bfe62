"""Flow edi_documents_outbound: DESADV, INVOIC and INVRPT from ERP events, exactly once each.

Shipments and invoices are read incrementally from the ERP, one cursor per stream AND
partner (``edi.out:DESADV:<partner>``), read once from the oldest of them. A document goes
to the partner whose UNB id is the customer's GLN (or whose ``party_lookup`` names the
customer's ERP id). Per document, in this order:

1. check the data (GLN, GTIN, VAT...); what cannot make a valid document is a dead letter
   naming the document, the record and the missing field, and the run goes on;
2. allocate its references once in the ledger (UNB reference, SSCC per package);
3. render, validate with our own codec, archive the bytes and register the interchange
   ("prepared") BEFORE sending: a rerun after a crash resends these pinned bytes under the
   same name even if the ERP data changed meanwhile, so the mailbox's exactly-once ``send``
   is a no-op or completes the same file, never a second, different one;
4. send through ``ledger.once`` (the journal holds the lease; a refused channel releases it
   and fails the run);
5. commit: journal done + interchange "sent" + trace event + the partner's cursor (up to
   the record the document settles) in one transaction; records settled without a document
   (not routed, sent before, dead-lettered) move the cursor at the stream's end.

The preparation time in UNB comes from the data (the record's last change, the INVRPT
period), never from the clock, so a retry renders the same bytes.

One module per role: this one reads the streams and routes records; ``edi_outbound_desadv``,
``_invoic`` and ``_invrpt`` build each document type; ``edi_outbound_send`` is the send step
they share; ``edi_outbound_run`` holds the run's report, routing and dead letters.

Ops conventions (``hub/ops/dryrun.py``, ``hub/ops/backfill.py``): ``dry_run=True`` checks
every due document and reports what it would send or dead-letter, allocating no reference
and moving nothing; ``since``/``until``/``cursor_stream`` re-read a window through the same
journal (documents already sent are skipped), advancing ``<cursor_stream>|<live stream>``
instead of the live cursors. Every document sent records a ``<type>.sent`` trace event under
the partner's order numbers and the shipment/invoice/sale numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from hub.bootstrap import Hub
from hub.flows.edi_outbound_desadv import desadv
from hub.flows.edi_outbound_invoic import invoic, prefetch_parties
from hub.flows.edi_outbound_invrpt import DEFAULT_SCHEDULE, invrpt, invrpt_period
from hub.flows.edi_outbound_run import (
    FLOW,
    Record,
    Run,
    Settling,
    dead_letter,
    gtin_by_code,
    partner_gln,
)
from hub.ledger import Cursor, Ledger
from hub.ops import acks as ack_ops
from schemas.config import PartnerProfile
from schemas.errors import HubError, PermanentError, TransientError
from schemas.model import Invoice, Shipment
from transforms.keys import DocumentKey

__all__ = [
    "DEFAULT_SCHEDULE",
    "FLOW",
    "edi_documents_outbound",
    "gtin_by_code",
    "invrpt_period",
    "journal_key",
    "partner_gln",
    "stream_name",
]

log = logging.getLogger(__name__)

STREAM_TYPES = ("DESADV", "INVOIC")
DOCUMENT_TYPES = ("DESADV", "INVOIC", "INVRPT")


STREAM_PREFIX = "edi.out"  # cursor streams: <prefix>:<document type>:<partner>


def stream_name(doc_type: str, partner: str) -> str:
    """The cursor of one document stream for one partner (a cursor, not an idempotency key)."""
    return f"{STREAM_PREFIX}:{doc_type}:{partner}"


def journal_key(doc_key: str) -> str:
    """The journal entry of sending one document (``DocumentKey.doc_key`` text in)."""
    return str(DocumentKey.parse_doc_key(doc_key))


@dataclass(frozen=True)
class Window:
    """Which part of the streams a run reads: live, a replay from ``since``, or a backfill."""

    since: datetime | None = None
    until: datetime | None = None  # exclusive end (a backfill's window)
    backfill: str | None = None  # a backfill's own cursor stream (live cursors untouched)

    def inside(self, at: datetime | None) -> bool:
        """Before the window's end (as every cursor of the run says: they share the end)."""
        return Cursor("", end=self.until).in_window(at)

    def cursor(self, ledger: Ledger, stream: str) -> Cursor:
        """The partner stream's cursor for this window."""
        start = self.since - timedelta(microseconds=1) if self.since else None
        if self.backfill is not None:  # its own cursor, resumed where it stopped
            return ledger.load_cursor(f"{self.backfill}|{stream}", start=start, end=self.until)
        if start is not None:  # a replay from since: the stored position is ignored
            return Cursor(stream, start=start, end=self.until)
        return ledger.load_cursor(stream, end=self.until)


# -- the flow -----------------------------------------------------------------------------


def edi_documents_outbound(
    hub: Hub,
    *,
    partner: str | None = None,
    documents: str | Sequence[str] | None = None,
    as_of: str | datetime | None = None,
    since: str | None = None,
    limit: int | str = 200,
    dry_run: bool | str = False,
    until: str | None = None,
    cursor_stream: str | None = None,
) -> dict[str, Any]:
    """Send every partner the DESADV/INVOIC due since its cursors, and INVRPT on schedule.

    ``documents`` restricts the types (``"DESADV,INVOIC"``); ``as_of`` is the run's logical
    time, which picks the INVRPT period (default: now); ``since`` re-reads the ERP from an
    ISO timestamp (replay after fixing dead-lettered data; documents sent are skipped).
    With ``cursor_stream`` (a backfill) the window ``since``..``until`` is read without
    touching the live cursors, and no INVRPT is sent unless ``documents`` names it.
    ``dry_run`` sends, allocates and records nothing and reports ``would``.
    """
    if cursor_stream is not None and since is None:
        raise PermanentError("a backfill (cursor_stream) needs since", system="hub")
    wanted = _document_types(documents)
    profiles = [p for p in hub.partners.values() if p.active and partner in (None, p.id)]
    if partner and not profiles:
        raise PermanentError(f"unknown or inactive partner {partner!r}", system="edi")
    run = Run(hub, _new_report())
    if dry_run is True or str(dry_run).lower() in ("true", "1", "yes"):
        run.would = {}
        run.report["would_send"] = 0
    if cursor_stream is not None and documents is None:
        wanted.discard("INVRPT")  # stock reports follow their schedule, not a window
    window = Window(
        _aware(since) if since else None, _aware(until) if until else None, cursor_stream
    )
    for doc_type in STREAM_TYPES:
        targets = [p for p in profiles if doc_type in p.outbound.documents and doc_type in wanted]
        if targets:
            _run_stream(run, doc_type, targets, window, limit=int(limit))
    if "INVRPT" in wanted:
        moment = _aware(as_of) if as_of else datetime.now(UTC)  # picks the period, no more
        for profile in profiles:
            if "INVRPT" in profile.outbound.documents:
                _guard(run, profile, "INVRPT", partial(invrpt, run, profile, moment))
    if run.would is None:  # documents past their acknowledgement deadline: one alert each
        run.report["acks_overdue"] = len(ack_ops.sweep_overdue(hub.ledger))
        run.report["dead_letters"] += run.report["acks_overdue"]
    return _finish(run)


def _new_report() -> dict[str, Any]:
    return {
        "status": "ok",
        "documents_sent": 0,
        "already_sent": 0,
        "dead_letters": 0,
        "records_read": 0,
        "by_type": {},
        "files": [],
        "details": [],
    }


def _finish(run: Run) -> dict[str, Any]:
    """The report's status; a transient stop of any partner stream fails the run."""
    report = run.report
    if report["dead_letters"]:
        report["status"] = "partial"
    if run.would is not None:
        report["status"] = "dry_run"
        report["would"] = run.would
    if run.transient:
        report["status"] = "failed"
        first = run.transient[0]
        log.warning(
            "edi outbound stopped early: %s", {k: report[k] for k in report if k != "details"}
        )
        raise TransientError(
            f"{len(run.transient)} partner stream(s) stopped on a transient error, the rest "
            f"went on ({report['documents_sent']} sent); first: {first.message}",
            system=first.system,
            retry_after=first.retry_after,
        ) from first
    return report


def _document_types(documents: str | Sequence[str] | None) -> set[str]:
    if documents is None:
        return set(DOCUMENT_TYPES)
    items = documents.split(",") if isinstance(documents, str) else list(documents)
    wanted = {d.strip().upper() for d in items if d.strip()}
    unknown = wanted - set(DOCUMENT_TYPES)
    if unknown:
        raise PermanentError(
            f"documents: unknown type(s) {sorted(unknown)}; use DESADV, INVOIC, INVRPT",
            system="edi",
        )
    return wanted


def _aware(value: str | datetime) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _guard(run: Run, profile: PartnerProfile, doc_type: str, work: Callable[[], None]) -> bool:
    """Run one partner's work; a transient error stops only that partner. False if stopped."""
    try:
        work()
    except TransientError as exc:
        log.warning("%s %s for %s: %s", FLOW, doc_type, profile.id, exc)
        run.transient.append(exc)
        run.detail(profile, doc_type, "retry", error=str(exc))
        return False
    return True


# -- the streams --------------------------------------------------------------------------


def _run_stream(
    run: Run, doc_type: str, targets: list[PartnerProfile], window: Window, *, limit: int
) -> None:
    """Every partner's records of one stream, read once from the oldest partner cursor."""
    ledger = run.hub.ledger
    # the partners still going, each with its cursor of this stream
    going = {p.id: (p, window.cursor(ledger, stream_name(doc_type, p.id))) for p in targets}
    starts = [cursor.read_from for _, cursor in going.values()]
    start = None if any(s is None for s in starts) else min(s for s in starts if s)
    read: Callable[..., Sequence[Record]] = (
        run.hub.erp.shipments_changed_since
        if doc_type == "DESADV"
        else run.hub.erp.invoices_posted_since
    )
    while going:
        batch = read(start, limit=limit)
        full = len(batch) >= limit
        if window.until is not None:  # a backfill ends at its window's end
            inside = [r for r in batch if window.inside(r.updated_at)]
            full, batch = full and len(inside) == len(batch), inside
        run.report["records_read"] += len(batch)
        if doc_type == "INVOIC":
            prefetch_parties(run, batch, [profile for profile, _ in going.values()])
        for record in batch:
            _settle(run, doc_type, record, going)
        stamps = [r.updated_at for r in batch if r.updated_at is not None]
        if not full or not stamps:
            break
        if max(stamps) == start:
            log.warning(
                "%s: more than %d %s records changed at %s; raise limit to read past them",
                FLOW,
                limit,
                doc_type,
                start,
            )
            break
        start = max(stamps)
    for _, cursor in going.values():
        if run.would is None:
            cursor.commit(ledger)


def _settle(
    run: Run, doc_type: str, record: Record, going: dict[str, tuple[PartnerProfile, Cursor]]
) -> None:
    """One record for every partner still going; a partner stopped by a transient error
    keeps what it did before (its cursor is committed) and leaves ``going``."""
    for pid, (profile, cursor) in list(going.items()):
        if not cursor.is_new(record.updated_at, record.erp_id):
            continue
        run.settling = Settling(cursor, record.updated_at, record.erp_id)
        try:
            ok = _guard(run, profile, doc_type, partial(_one, run, doc_type, profile, record))
        finally:
            run.settling = None
        if not ok:
            if run.would is None:
                cursor.commit(run.hub.ledger)  # keep what was done before the failure
            del going[pid]
            continue
        cursor.passed(record.updated_at, record.erp_id)


def _one(run: Run, doc_type: str, profile: PartnerProfile, record: Record) -> None:
    """One record for one partner: route, build, deliver; bad data becomes a dead letter."""
    buyer = partner_gln(profile, record.customer)
    if buyer is None:
        return
    try:
        if doc_type == "DESADV":
            assert isinstance(record, Shipment)
            desadv(run, profile, record, buyer)
        else:
            assert isinstance(record, Invoice)
            invoic(run, profile, record, buyer)
    except TransientError:
        raise
    except HubError as exc:
        dead_letter(run, profile, doc_type, record, exc)
