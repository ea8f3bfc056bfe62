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
4. send (the journal holds the lease; a refused channel releases it and fails the run);
5. commit: journal done + interchange "sent" in one transaction; then move the cursor.

The preparation time in UNB comes from the data (the record's last change, the INVRPT
period), never from the clock, so a retry renders the same bytes.

Ops conventions (``hub/ops/dryrun.py``, ``hub/ops/backfill.py``): ``dry_run=True`` checks
every due document and reports what it would send or dead-letter, allocating no reference
and moving nothing; ``since``/``until``/``cursor_stream`` re-read a window through the same
journal (documents already sent are skipped), advancing ``<cursor_stream>|<live stream>``
instead of the live cursors. Every document sent records a ``<type>.sent`` trace event under
the partner's order numbers and the shipment/invoice/sale numbers.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from connectors.edi import validate
from connectors.edi.channels import sha256
from hub import edi_out
from hub.bootstrap import Hub
from hub.ops.events import record_event
from schemas.config import PartnerProfile
from schemas.errors import ConflictError, HubError, PermanentError, TransientError
from schemas.model import Invoice, Party, PartyRef, Shipment
from transforms import edifact_desadv as desadv_t
from transforms import edifact_invoic as invoic_t
from transforms import edifact_invrpt as invrpt_t
from transforms.edifact_outbound import MissingField, SegmentTuple
from transforms.sscc import sscc

log = logging.getLogger(__name__)

FLOW = "edi_documents_outbound"
STREAM_TYPES = ("DESADV", "INVOIC")
DEFAULT_SCHEDULE = "@daily"

Record = Shipment | Invoice


def stream_name(doc_type: str, partner: str) -> str:
    """The cursor of one document stream for one partner."""
    return f"edi.out:{doc_type}:{partner}"


def journal_key(doc_key: str) -> str:
    """The journal entry of sending one document."""
    return f"edi.out:{doc_key}"


@dataclass
class CursorState:
    """A partner's position in a stream: watermark and the ids already done at it."""

    stream: str
    value: datetime | None
    ties: set[str] = field(default_factory=set)
    dirty: bool = False

    def is_new(self, record: Record) -> bool:
        """Not yet behind this partner's watermark."""
        stamp = record.updated_at
        if self.value is None or stamp is None or stamp > self.value:
            return True
        return stamp == self.value and record.erp_id not in self.ties

    def passed(self, record: Record) -> None:
        """The record is done for this partner (sent, skipped or dead-lettered)."""
        stamp = record.updated_at
        if stamp is None:
            return
        if self.value is None or stamp > self.value:
            self.value, self.ties = stamp, {record.erp_id}
        elif stamp == self.value:
            self.ties.add(record.erp_id)
        self.dirty = True

    def commit(self, hub: Hub) -> None:
        """Persist the watermark (always after the documents' own ledger commit)."""
        if self.dirty and self.value is not None:
            with hub.ledger.transaction() as conn:
                hub.ledger.advance_cursor(
                    self.stream, self.value.isoformat(), sorted(self.ties), conn=conn
                )
            self.dirty = False


def _load_cursor(hub: Hub, stream: str) -> CursorState:
    value, ties = hub.ledger.cursor(stream)
    stamp = datetime.fromisoformat(value) if value else None
    return CursorState(stream, stamp, set(ties))


@dataclass
class Run:
    """What one flow run has done so far (the report) and what it learnt (caches)."""

    hub: Hub
    report: dict[str, Any]
    transient: list[TransientError] = field(default_factory=list)
    parties: dict[str, Party] = field(default_factory=dict)
    would: dict[str, dict[str, list[Any]]] | None = None  # set: a dry run, nothing is written
    until: datetime | None = None  # a backfill's end (exclusive)

    def would_do(self, system: str, action: str, item: Any) -> None:
        """Record what a dry run would have done."""
        assert self.would is not None
        self.would.setdefault(system, {}).setdefault(action, []).append(item)

    def count(self, key: str, doc_type: str | None = None) -> None:
        self.report[key] += 1
        if doc_type:
            per = self.report["by_type"].setdefault(doc_type, {})
            per[key] = per.get(key, 0) + 1


# -- routing ------------------------------------------------------------------------------


def partner_gln(profile: PartnerProfile, customer: PartyRef) -> str | None:
    """The customer's GLN if the customer is this partner's, else None (not this partner's)."""
    if customer.gln and customer.gln == profile.unb.partner_id:
        return customer.gln
    if customer.gln and customer.gln in profile.party_lookup:
        return customer.gln
    for gln, erp_id in profile.party_lookup.items():
        if customer.erp_id and customer.erp_id == erp_id:
            return customer.gln or gln
    return None


def gtin_by_code(profile: PartnerProfile) -> dict[str, str]:
    """Product code -> GTIN from the partner's ``product_lookup`` (where the ERP has none)."""
    return {code: gtin for gtin, code in profile.product_lookup.items()}


def _our_gln(profile: PartnerProfile) -> str | None:
    return profile.unb.our_id if profile.unb.our_qualifier == "14" else None


def _stamp(record: Record, fallback: date | None) -> datetime:
    """The document's preparation time: the record's last change (data, not the clock)."""
    if record.updated_at is not None:
        return record.updated_at.astimezone(UTC)
    return datetime.combine(fallback or date(2000, 1, 1), time(0, 0), tzinfo=UTC)


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
    report: dict[str, Any] = {
        "status": "ok",
        "documents_sent": 0,
        "already_sent": 0,
        "dead_letters": 0,
        "records_read": 0,
        "by_type": {},
        "files": [],
        "details": [],
    }
    wanted = _document_types(documents)
    profiles = [p for p in hub.partners.values() if p.active and partner in (None, p.id)]
    if partner and not profiles:
        raise PermanentError(f"unknown or inactive partner {partner!r}", system="edi")
    run = Run(hub, report, until=_aware(until) if until else None)
    if dry_run is True or str(dry_run).lower() in ("true", "1", "yes"):
        run.would = {}
        report["would_send"] = 0
    if cursor_stream is not None and documents is None:
        wanted.discard("INVRPT")  # stock reports follow their schedule, not a window
    for doc_type in STREAM_TYPES:
        targets = [p for p in profiles if doc_type in p.outbound.documents and doc_type in wanted]
        if targets:
            _run_stream(
                run, doc_type, targets, since=since, limit=int(limit), cursor_stream=cursor_stream
            )
    if "INVRPT" in wanted:
        moment = _as_datetime(as_of)
        for profile in profiles:
            if "INVRPT" in profile.outbound.documents:
                _guard(run, profile, "INVRPT", partial(_invrpt, run, profile, moment))
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
        return {"DESADV", "INVOIC", "INVRPT"}
    items = documents.split(",") if isinstance(documents, str) else list(documents)
    wanted = {d.strip().upper() for d in items if d.strip()}
    unknown = wanted - {"DESADV", "INVOIC", "INVRPT"}
    if unknown:
        raise PermanentError(
            f"documents: unknown type(s) {sorted(unknown)}; use DESADV, INVOIC, INVRPT",
            system="edi",
        )
    return wanted


def _aware(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _as_datetime(value: str | datetime | None) -> datetime:
    if value is None:
        return datetime.now(UTC)  # only picks the INVRPT period; never written into a file
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _guard(run: Run, profile: PartnerProfile, doc_type: str, work: Callable[[], None]) -> bool:
    """Run one partner's work; a transient error stops only that partner. False if stopped."""
    try:
        work()
    except TransientError as exc:
        log.warning("%s %s for %s: %s", FLOW, doc_type, profile.id, exc)
        run.transient.append(exc)
        run.report["details"].append(
            {"partner": profile.id, "type": doc_type, "outcome": "retry", "error": str(exc)}
        )
        return False
    return True


def _run_stream(
    run: Run,
    doc_type: str,
    targets: list[PartnerProfile],
    *,
    since: str | None,
    limit: int,
    cursor_stream: str | None = None,
) -> None:
    hub = run.hub
    if cursor_stream is not None:  # a backfill: its own cursors, resumed where it stopped
        cursors = {
            p.id: _load_cursor(hub, f"{cursor_stream}|{stream_name(doc_type, p.id)}")
            for p in targets
        }
        for state in cursors.values():
            if state.value is None and since is not None:
                state.value = _aware(since) - timedelta(microseconds=1)
    else:
        cursors = {p.id: _load_cursor(hub, stream_name(doc_type, p.id)) for p in targets}
        if since is not None:
            replay = _aware(since)
            for state in cursors.values():
                state.value, state.ties = replay - timedelta(microseconds=1), set()
    values = [c.value for c in cursors.values()]
    start = None if any(v is None for v in values) else min(v for v in values if v)
    read: Callable[..., Sequence[Record]] = (
        hub.erp.shipments_changed_since if doc_type == "DESADV" else hub.erp.invoices_posted_since
    )
    active = {p.id: p for p in targets}
    while active:
        batch = read(start, limit=limit)
        full = len(batch) >= limit
        if run.until is not None:  # a backfill ends at its window's end
            inside = [r for r in batch if r.updated_at is None or r.updated_at < run.until]
            full, batch = full and len(inside) == len(batch), inside
        run.report["records_read"] += len(batch)
        if doc_type == "INVOIC":
            _prefetch_parties(run, batch, list(active.values()))
        for record in batch:
            for pid, profile in list(active.items()):
                state = cursors[pid]
                if not state.is_new(record):
                    continue
                ok = _guard(run, profile, doc_type, partial(_one, run, doc_type, profile, record))
                if not ok:
                    if run.would is None:
                        state.commit(hub)  # keep what was done before the failure
                    del active[pid]
                    continue
                state.passed(record)
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
    for pid in active:
        if run.would is None:
            cursors[pid].commit(hub)


def _one(run: Run, doc_type: str, profile: PartnerProfile, record: Record) -> None:
    """One record for one partner: route, build, deliver; bad data becomes a dead letter."""
    buyer = partner_gln(profile, record.customer)
    if buyer is None:
        return
    try:
        if doc_type == "DESADV":
            assert isinstance(record, Shipment)
            _desadv(run, profile, record, buyer)
        else:
            assert isinstance(record, Invoice)
            _invoic(run, profile, record, buyer)
    except TransientError:
        raise
    except HubError as exc:
        _dead_letter(run, profile, doc_type, record, exc)


def _dead_letter(
    run: Run, profile: PartnerProfile, doc_type: str, record: Record, exc: HubError
) -> None:
    problems = exc.problems if isinstance(exc, _Problems) else [exc]
    reason = "; ".join(str(p.message) for p in problems)
    key = f"{doc_type}:{profile.id}:{record.erp_id}"
    if run.would is not None:
        run.would_do("ledger", "dead_letters", f"{key} ({record.number}): {reason}")
        run.count("dead_letters", doc_type)
        return
    run.hub.ledger.dead_letter(
        FLOW,
        key,
        reason,
        error_class=type(problems[0]).__name__,
        payload={
            "document": doc_type,
            "partner": profile.id,
            "record": record.number,
            "erp_id": record.erp_id,
            "updated_at": record.updated_at.isoformat() if record.updated_at else None,
            "missing": [p.field for p in problems if isinstance(p, MissingField)],
            "replay": "fix the data, then run the flow with since=<updated_at>",
        },
        system="edi",
        partner=profile.id,
    )
    run.count("dead_letters", doc_type)
    run.report["details"].append(
        {"partner": profile.id, "type": doc_type, "record": record.number, "outcome": "dead",
         "reason": reason}
    )  # fmt: skip
    log.warning("%s: dead letter %s: %s", FLOW, key, reason)


class _Problems(PermanentError):
    """Several missing fields of one document, reported together."""

    def __init__(self, problems: list[MissingField]) -> None:
        super().__init__("; ".join(p.message for p in problems), system="edi")
        self.problems = problems


# -- DESADV -------------------------------------------------------------------------------


def _desadv(run: Run, profile: PartnerProfile, shipment: Shipment, buyer: str) -> None:
    """The DESADV of a shipped shipment; a replacement (BGM 5) once a tracking number follows."""
    if shipment.state not in desadv_t.SHIPPED_STATES:
        return
    ledger = run.hub.ledger
    base = f"DESADV:{profile.id}:{shipment.erp_id}"
    original = ledger.journal_entry(journal_key(base))
    original_done = original is not None and original["state"] == "done"
    tracking = shipment.tracking_number
    sent = (original or {}).get("result") or {}
    if original_done and (not tracking or sent.get("tracking") == tracking):
        run.count("already_sent", "DESADV")
        return
    gtins = gtin_by_code(profile)
    delivery = shipment.delivery_address.gln or buyer  # no location GLN: the buyer's own site
    problems = desadv_t.check(
        shipment,
        buyer_gln=buyer,
        supplier_gln=_our_gln(profile),
        delivery_gln=delivery,
        gtin_by_code=gtins,
    )
    if problems:
        raise _Problems(problems)
    plans = desadv_t.plan_packages(shipment)
    prefix = profile.outbound.gs1_company_prefix
    if run.would is not None:  # checked; SSCCs and references are allocated only for real
        if prefix is None and any(plan.sscc is None for plan in plans):
            raise MissingField("DESADV", f"partner {profile.id}", "outbound.gs1_company_prefix")
        what = "replacement DESADV" if original_done else "DESADV"
        run.would_do("edi", "send", f"{what} for shipment {shipment.number} to {profile.id}")
        run.count("would_send", "DESADV")
        return
    if prefix is None and any(plan.sscc is None for plan in plans):
        raise MissingField(
            "DESADV",
            f"partner {profile.id}",
            "outbound.gs1_company_prefix",
            "SSCCs are made from our GS1 company prefix: set it in the partner profile",
        )
    # one SSCC per package, allocated once and kept by the ledger (a replacement reuses it)
    packages = [
        (plan, plan.sscc or sscc(prefix or "", ledger.control_number(f"sscc:{prefix}",
                                                                     f"{base}:{plan.index}")))
        for plan in plans
    ]  # fmt: skip
    despatched = shipment.effective_date or shipment.planned_date

    def deliver(doc_key: str, replaces: bool) -> dict[str, Any]:
        body = desadv_t.desadv(
            shipment,
            document_number=shipment.number,
            issued=_stamp(shipment, shipment.effective_date).date(),
            buyer_gln=buyer,
            supplier_gln=_our_gln(profile) or "",
            delivery_gln=delivery,
            packages=packages,
            gtin_by_code=gtins,
            replaces=replaces,
            decimal_mark=profile.outbound.decimal_mark,
        )
        _deliver(
            run,
            profile,
            doc_type="DESADV",
            doc_key=doc_key,
            message_type=":".join(desadv_t.DESADV_TYPE),
            body=body,
            prepared=_stamp(shipment, shipment.effective_date),
            result={
                "number": shipment.number,
                "tracking": tracking,
                "despatched": despatched.isoformat() if despatched else None,
                "ssccs": [code for _, code in packages],
                "replaces": replaces,
            },
            record=desadv_t.record_name(shipment),
            trace=_trace_refs(
                shipment.order_numbers,
                sales=shipment.sale_numbers,
                shipments=(shipment.number,),
                tracking=(tracking,) if tracking else (),
            ),
        )
        return _result_of(ledger, doc_key)

    if not original_done:
        sent = deliver(base, False)  # may be bytes pinned by a crashed run, without tracking
    if tracking and sent.get("tracking") != tracking:
        deliver(f"{base}:CN:{tracking}", True)
    entity = f"desadv:{profile.id}"
    for order in shipment.order_numbers:  # for RFF+DQ in the invoices of these orders
        if ledger.lookup("edi.out", entity, order) is None:
            # a second shipment of the same order conflicts: the first one stays quoted
            with contextlib.suppress(ConflictError):
                ledger.bind("edi.out", entity, order, shipment.erp_id)


def _result_of(ledger: Any, doc_key: str) -> dict[str, Any]:
    entry = ledger.journal_entry(journal_key(doc_key))
    return (entry or {}).get("result") or {}


# -- INVOIC -------------------------------------------------------------------------------


def _prefetch_parties(run: Run, batch: Sequence[Record], profiles: list[PartnerProfile]) -> None:
    """One ERP call for the VAT ids of every routed customer of the batch not seen yet."""
    ids = sorted(
        {
            r.customer.erp_id
            for r in batch
            if r.customer.erp_id
            and r.customer.erp_id not in run.parties
            and any(partner_gln(p, r.customer) for p in profiles)
        }
    )
    if ids:
        for party in run.hub.erp.get_parties(ids):
            if party.erp_id:
                run.parties[party.erp_id] = party


def _invoic(run: Run, profile: PartnerProfile, invoice: Invoice, buyer: str) -> None:
    ledger = run.hub.ledger
    doc_key = f"INVOIC:{profile.id}:{invoice.erp_id}"
    entry = ledger.journal_entry(journal_key(doc_key))
    if entry is not None and entry["state"] == "done":
        run.count("already_sent", "INVOIC")
        return
    party = run.parties.get(invoice.customer.erp_id or "")
    buyer_vat = party.vat if party else None
    out = profile.outbound
    gtins = gtin_by_code(profile)
    problems = invoic_t.check(
        invoice,
        buyer_gln=buyer,
        supplier_gln=_our_gln(profile),
        buyer_vat=buyer_vat,
        supplier_vat=out.supplier_vat,
        require_vat=out.require_vat,
        gtin_by_code=gtins,
    )
    if problems:
        raise _Problems(problems)
    if run.would is not None:
        run.would_do("edi", "send", f"INVOIC for invoice {invoice.number} to {profile.id}")
        run.count("would_send", "INVOIC")
        return
    despatch: list[str] = []
    delivered: date | None = None
    for order in invoice.order_numbers:
        bound = ledger.lookup("edi.out", f"desadv:{profile.id}", order)
        if bound is None:
            continue
        sent = _result_of(ledger, f"DESADV:{profile.id}:{bound.erp_id}")
        if sent.get("number"):
            despatch.append(sent["number"])
        if sent.get("despatched") and delivered is None:
            delivered = date.fromisoformat(sent["despatched"])
    body = invoic_t.invoic(
        invoice,
        buyer_gln=buyer,
        supplier_gln=_our_gln(profile) or "",
        buyer_vat=buyer_vat,
        supplier_vat=out.supplier_vat,
        require_vat=out.require_vat,
        gtin_by_code=gtins,
        despatch_numbers=despatch,
        delivery_date=delivered,
        decimal_mark=out.decimal_mark,
    )
    _deliver(
        run,
        profile,
        doc_type="INVOIC",
        doc_key=doc_key,
        message_type=":".join(invoic_t.INVOIC_TYPE),
        body=body,
        prepared=_stamp(invoice, invoice.invoice_date),
        result={"number": invoice.number, "total": str(invoice.total_amount)},
        record=invoic_t.record_name(invoice),
        trace=_trace_refs(invoice.order_numbers, invoices=(invoice.number,)),
    )


# -- INVRPT -------------------------------------------------------------------------------


def invrpt_period(schedule: str, moment: datetime) -> datetime:
    """The start of the schedule's period holding ``moment`` (its latest tick at or before)."""
    from croniter import croniter

    try:
        tick = croniter(schedule, moment + timedelta(microseconds=1)).get_prev(datetime)
    except (ValueError, KeyError) as exc:
        raise PermanentError(
            f"invrpt_schedule {schedule!r} is not a cron expression or preset (@daily...)",
            system="config",
        ) from exc
    return tick if tick.tzinfo else tick.replace(tzinfo=UTC)


def _invrpt(run: Run, profile: PartnerProfile, moment: datetime) -> None:
    ledger = run.hub.ledger
    period = invrpt_period(profile.outbound.invrpt_schedule or DEFAULT_SCHEDULE, moment)
    doc_key = f"INVRPT:{profile.id}:{period:%Y%m%dT%H%M}"
    entry = ledger.journal_entry(journal_key(doc_key))
    if entry is not None and entry["state"] == "done":
        run.count("already_sent", "INVRPT")
        return
    levels = run.hub.erp.stock_levels()
    stock, without = invrpt_t.stock_by_gtin(levels, gtin_by_code(profile))
    if run.would is not None:
        if _our_gln(profile):
            run.would_do("edi", "send", f"INVRPT {period:%Y-%m-%d %H:%M} to {profile.id}")
            run.count("would_send", "INVRPT")
        else:
            run.would_do("ledger", "dead_letters", f"{doc_key}: supplier.gln missing")
            run.count("dead_letters", "INVRPT")
        return
    if without:
        run.report.setdefault("invrpt_products_without_gtin", {})[profile.id] = without
        log.warning("INVRPT %s: products without GTIN not reported: %s", doc_key, without)
    supplier = _our_gln(profile)
    try:
        if not supplier:
            raise MissingField("INVRPT", f"partner {profile.id}", "supplier.gln")
        number = f"IR{ledger.control_number(f'invrpt:{profile.id}', doc_key):08d}"
        body = invrpt_t.invrpt(
            stock,
            document_number=number,
            issued=period.date(),
            as_of=period.date(),
            supplier_gln=supplier,
            partner_gln=profile.unb.partner_id,
            decimal_mark=profile.outbound.decimal_mark,
        )
        _deliver(
            run,
            profile,
            doc_type="INVRPT",
            doc_key=doc_key,
            message_type=":".join(invrpt_t.INVRPT_TYPE),
            body=body,
            prepared=period,
            result={"number": number, "period": period.isoformat(), "gtins": len(stock)},
            record=number,
            trace=_trace_refs((number,)),
        )
    except TransientError:
        raise
    except HubError as exc:
        ledger.dead_letter(
            FLOW,
            doc_key,
            str(exc.message),
            error_class=type(exc).__name__,
            payload={"document": "INVRPT", "partner": profile.id, "period": period.isoformat()},
            system="edi",
            partner=profile.id,
        )
        run.count("dead_letters", "INVRPT")


# -- delivery -----------------------------------------------------------------------------


def _deliver(
    run: Run,
    profile: PartnerProfile,
    *,
    doc_type: str,
    doc_key: str,
    message_type: str,
    body: list[SegmentTuple],
    prepared: datetime,
    result: dict[str, Any],
    record: str,
    trace: dict[str, Any] | None = None,
) -> None:
    """Pin, send and commit one document (see the module docstring for why in this order)."""
    hub = run.hub
    ledger = hub.ledger
    key = journal_key(doc_key)
    ref = edi_out.control_ref(ledger, profile.id, doc_key)
    pinned = _pinned(ledger, profile.id, ref)
    if pinned is not None:
        name, data, result = pinned
    else:
        doc = edi_out.render(
            ledger,
            profile,
            doc_type=doc_type,
            doc_key=doc_key,
            message_type=message_type,
            body=body,
            prepared=prepared,
        )
        checked = validate(doc.data, file=doc.file_name)
        if checked.verdict != "accepted":
            errors = "; ".join(f"{e.message} [{e.where() or e.level}]"
                               for e in checked.all_errors()[:3])  # fmt: skip
            raise PermanentError(
                f"{doc_type} for {record}: the generated interchange fails our own validator: "
                f"{errors}",
                system="edi",
            )
        name, data = doc.file_name, doc.data
        archived = hub.archive.store(profile.id, data)
        ledger.record_interchange(
            profile.id, "out", ref, sha256(data), file_name=name, state="prepared"
        )
        ledger.update_interchange(
            profile.id,
            "out",
            ref,
            file_hash=sha256(data),
            file_name=name,
            archive_path=str(archived),
            detail=json.dumps(result, sort_keys=True, default=str),
        )
    claim = ledger.claim(
        key, sha256(data), flow=FLOW, system="edi", action=f"send {doc_type}", ref=ref
    )
    if claim.done:
        run.count("already_sent", doc_type)
        return
    if claim.state == "dead":
        raise PermanentError(
            f"{doc_type} for {record}: sending was given up earlier; see the dead letters",
            system="edi",
        )
    try:
        written = hub.mailbox(profile).send(name, data)
    except HubError as exc:
        ledger.fail(key, str(exc), dead=not exc.retryable)
        raise
    except OSError as exc:
        ledger.fail(key, f"{exc.__class__.__name__}: {exc}", dead=False)
        raise TransientError(
            f"{doc_type} for {record}: writing {name} to {profile.id}'s outbox failed: {exc}",
            system="edi",
        ) from exc
    archived_at = _archive_path(ledger, profile.id, ref)
    with ledger.transaction() as conn:
        ledger.complete(
            key, {**result, "control_ref": ref, "file": name, "sha256": sha256(data)}, conn=conn
        )
        ledger.update_interchange(profile.id, "out", ref, state="sent", conn=conn)
        if trace is not None and trace["refs"]:
            record_event(
                ledger,
                ref=trace["refs"][0],
                refs=tuple(trace["refs"][1:]),
                kind=f"{doc_type.lower()}.sent",
                flow=FLOW,
                system="edi",
                partner=profile.id,
                state="sent",
                document=archived_at,
                detail={
                    **trace["detail"],
                    "file": name,
                    "control_ref": ref,
                    "summary": f"{doc_type} {name} to {profile.id} (interchange {ref})",
                },
                conn=conn,
            )
    run.count("documents_sent" if written else "already_sent", doc_type)
    run.report["files"].append(name)
    run.report["details"].append(
        {"partner": profile.id, "type": doc_type, "record": record, "file": name,
         "control_ref": ref, "outcome": "sent" if written else "already_in_outbox"}
    )  # fmt: skip


def _archive_path(ledger: Any, partner: str, ref: str) -> str | None:
    row = ledger.interchange(partner, "out", ref)
    return (row or {}).get("archive_path")


def _trace_refs(
    orders: Sequence[str],
    *,
    sales: Sequence[str] = (),
    shipments: Sequence[str] = (),
    invoices: Sequence[str] = (),
    tracking: Sequence[str] = (),
) -> dict[str, Any]:
    """The references a sent document is traced under: order numbers first, then the rest."""
    refs = [r for r in (*orders, *sales, *shipments, *invoices, *tracking) if r]
    detail = {"orders": list(orders), "sales": list(sales), "shipments": list(shipments),
              "invoices": list(invoices), "tracking": list(tracking)}  # fmt: skip
    return {"refs": list(dict.fromkeys(refs)), "detail": detail}


def _pinned(ledger: Any, partner: str, ref: str) -> tuple[str, bytes, dict[str, Any]] | None:
    """The bytes an earlier attempt prepared for this reference, if it got that far."""
    row = ledger.interchange(partner, "out", ref)
    if row is None or not row.get("archive_path") or not row.get("file_name"):
        return None
    path = Path(row["archive_path"])
    if not path.exists():
        return None
    data = path.read_bytes()
    if sha256(data) != row["file_hash"]:
        return None
    return row["file_name"], data, json.loads(row.get("detail") or "{}")
