"""Inbound EDI outside the normal run: re-process one archived message (dead-letter replay),
re-sync the archived interchanges of a time window (backfill), and preview the inboxes
(dry run). All three dispatch to the same message handlers as the flow's loop.

Replay and backfill go through the same journal as the flow: a record already written is
found ``done`` and only reported; nothing is created or sent twice. The dry run reads
the ledger and the ERP but writes to neither, and leaves the inbox files where they are.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from connectors.edi import Message, MessageResult
from connectors.edi.channels import FileVanished, UnreadableFile, is_text_name, shown
from hub import edi_out
from hub.bootstrap import Hub
from hub.flows.edi_in import FLOW
from hub.flows.edi_in.handlers import HANDLERS
from hub.flows.edi_in.parsing import (
    ParsedInterchange,
    find_message_in,
    interchange_messages,
    parse_file,
)
from hub.flows.edi_in.registry import Context, HandlerRegistry, MessageHandler, Work
from hub.flows.edi_in.stream import check_and_write, refuse
from hub.ledger import utcnow
from hub.ops.events import record_event
from schemas.config import PartnerProfile
from schemas.errors import PermanentError
from transforms.edifact_orders import AppError

log = logging.getLogger(__name__)


def _profile(hub: Hub, partner: str) -> PartnerProfile:
    if partner in hub.partners:
        return hub.partners[partner]
    known = ", ".join(sorted(hub.partners))
    why = f"partner {partner!r} has no profile in config/partners; known: {known}"
    raise PermanentError(why, system="edi")


def _archived(path: str | None, what: str) -> Path:
    """The archived file (read a chunk at a time by the caller), or the error to act on."""
    if not path or not Path(path).is_file():
        raise PermanentError(
            f"{what}: the archived file {path or '(no path recorded)'} is missing; restore it "
            "from the backup of the hub's archive directory, then replay again",
            system="edi",
        )
    return Path(path)


def _context(hub: Hub, profile: PartnerProfile, file_name: str, interchange_ref: str) -> Context:
    row = hub.ledger.interchange(profile.id, "in", interchange_ref)
    prepared: datetime = row["created_at"] if row else utcnow()
    return Context(hub, profile, file_name, interchange_ref, prepared, FLOW)


def _handler(registry: HandlerRegistry, label: str, what: str) -> MessageHandler:
    handler = registry.for_label(label)
    if handler is None:
        known = ", ".join(f"{t} {v}" for t, v in registry.pairs())
        raise PermanentError(
            f"{what}: message type {label} has no inbound handler (registered: {known})",
            system="edi",
        )
    return handler


def reprocess_message(
    hub: Hub,
    partner: str,
    archive_path: str,
    interchange_ref: str,
    message_ref: str,
    *,
    reopen: bool = True,
    send_acks: bool = True,
    registry: HandlerRegistry = HANDLERS,
) -> dict[str, Any]:
    """Run one archived message through its handler: map, check, the journaled write.

    Returns ``{"outcome": "created" | "existing" | "refused" | "test", "order", "sale", ...}``.
    A refusal re-files the flow's dead letter (same key: the open letter counts an attempt).
    ``reopen`` lets a journal entry the target refused earlier be attempted again (replay).
    Only a record written now gets its answer (ORDRSP); one found done was answered then.
    """
    profile = _profile(hub, partner)
    what = f"{partner} interchange {interchange_ref} message {message_ref}"
    data = _archived(archive_path, what)
    name = Path(archive_path).name
    found = find_message_in(
        data,
        name,
        profile.charset_policy,
        interchange_ref,
        message_ref,
        strictness=profile.strictness,
    )
    if found is None:
        raise PermanentError(
            f"{what}: not found in {archive_path}; check the interchange and message "
            "references in the dead letter's payload",
            system="edi",
        )
    ctx = _context(hub, profile, name, interchange_ref)
    return _reprocess(ctx, _handler(registry, found[1].type, what), found, what, reopen, send_acks)


def _reprocess(
    ctx: Context,
    handler: MessageHandler,
    found: tuple[ParsedInterchange, Message, MessageResult],
    what: str,
    reopen: bool,
    send_acks: bool,
) -> dict[str, Any]:
    """One message, already read and validated, through its handler (``reprocess_message``)."""
    hub = ctx.hub
    ich, msg, mres = found
    work = Work(msg, msg.ref)
    if mres.errors:
        work.errors = [AppError(str(e.code), e.message) for e in mres.errors]
        return _refused(ctx, handler, work, what)
    if ich.result.test:
        return {"outcome": "test", "message": msg.ref, "order": None}
    handler.map(ctx, work)
    if work.errors:
        return _refused(ctx, handler, work, what)
    entry = hub.ledger.journal_entry(work.key) if work.key is not None else None
    if reopen and entry is not None and entry["state"] in ("dead", "failed"):
        hub.ledger.reopen(str(work.key))
    check_and_write(ctx, handler, [work])
    if not work.written:
        return _refused(ctx, handler, work, what)
    outcome: dict[str, Any] = {
        "outcome": "created" if work.created else "existing",
        **handler.summary(work),
        "documents_sent": 0,
    }
    if work.created:
        _created(ctx, handler, work, outcome, send_acks)
    return outcome


def _created(
    ctx: Context, handler: MessageHandler, work: Work, outcome: dict[str, Any], send_acks: bool
) -> None:
    """Trace a record written by replay and send its answers."""
    hub, partner = ctx.hub, ctx.profile.id
    sale = outcome.get("sale")
    record_event(
        hub.ledger, ref=work.ref, kind=handler.created_event, flow=FLOW, system="erp",
        partner=partner, state="done", detail={"sale": sale, "via": "replay"},
        refs=tuple(x for x in (sale,) if x),
    )  # fmt: skip
    if not send_acks:
        return
    box = hub.mailbox(ctx.profile)
    for doc in handler.acknowledge(ctx, [work]):
        outcome["documents_sent"] += int(edi_out.send(box, doc))
        record_event(
            hub.ledger, ref=work.ref, kind=f"{doc.doc_type.lower()}.sent", flow=FLOW,
            system="edi", partner=partner, state="sent", document=doc.file_name,
            detail={"control_ref": doc.control_ref},
        )  # fmt: skip


def _refused(ctx: Context, handler: MessageHandler, work: Work, what: str) -> dict[str, Any]:
    if not work.errors:
        work.errors = [AppError("12", "refused")]
    refuse(ctx, handler, work, f"{what} (order {work.ref}) refused again")
    return {"outcome": "refused", "order": work.ref, "errors": [e.message for e in work.errors]}


def _received(
    hub: Hub, since: datetime, until: datetime | None, partner: str | None
) -> list[dict[str, Any]]:
    return hub.ledger.interchanges_received(since=since, until=until, partner=partner)


def backfill(
    hub: Hub, *, since: datetime, until: datetime | None = None, partner: str | None = None,
    dry_run: bool = False, registry: HandlerRegistry = HANDLERS,
) -> dict[str, Any]:  # fmt: skip
    """Re-process every message with a handler of the inbound interchanges received in
    [since, until).

    For a repaired mapping or a product added late: records already written are found done
    in the journal and cost no write; those refused then are tried again (an answer goes
    out for those written now, their open dead letter is closed as resolved). Mailboxes and
    cursors are not touched.
    """
    report: dict[str, Any] = {
        "status": "ok",
        "interchanges": 0,
        "messages": 0,
        "orders_created": 0,
        "orders_in_sync": 0,
        "orders_refused": 0,
        "missing_archives": 0,
        "details": [],
    }
    for row in _received(hub, since, until, partner):
        report["interchanges"] += 1
        path = row.get("archive_path")
        if not path or not Path(path).is_file():
            report["missing_archives"] += 1
            report["details"].append(
                {
                    "partner": row["partner"],
                    "interchange": row["control_ref"],
                    "outcome": f"archive missing: {path}",
                }
            )
            continue
        profile = _profile(hub, row["partner"])
        _backfill_interchange(hub, profile, row, path, (dry_run, registry), report)
    if report["orders_refused"] or report["missing_archives"]:
        report["status"] = "partial"
    return report


def _backfill_interchange(
    hub: Hub,
    profile: PartnerProfile,
    row: dict[str, Any],
    path: str,
    options: tuple[bool, HandlerRegistry],
    report: dict[str, Any],
) -> None:
    """Every message of one archived interchange, read a message at a time (the archive is
    read once, whatever its size; only the report's small per-order line is kept)."""
    dry_run, registry = options
    name, ref = Path(path).name, row["control_ref"]
    ctx = _context(hub, profile, name, ref)
    messages = interchange_messages(
        Path(path), name, profile.charset_policy, ref, strictness=profile.strictness
    )
    for found in messages:
        msg = found[1]
        handler = registry.for_label(msg.type)
        if handler is None:
            continue
        report["messages"] += 1
        if dry_run:
            res = handler.preview(ctx, Work(msg, msg.ref))
        else:
            what = f"{profile.id} interchange {ref} message {msg.ref}"
            res = _reprocess(ctx, handler, found, what, reopen=False, send_acks=True)
            if res["outcome"] == "created":
                _close_letters(hub, profile.id, handler.refusal_record(profile.id, res["order"]))
        kind = {
            "created": "orders_created",
            "create": "orders_created",
            "refused": "orders_refused",
        }.get(res["outcome"], "orders_in_sync")
        report[kind] += 1
        report["details"].append({"partner": profile.id, "interchange": ref, **res})


def _close_letters(hub: Hub, partner: str, record: str) -> None:
    for letter in hub.ledger.dead_letters(flow=FLOW, partner=partner):
        if letter.record_key == record:
            hub.ledger.close_dead_letter(
                letter.id,
                "resolved",
                by="backfill",
                note="the order was created by a later re-sync",
            )


# -- dry run -----------------------------------------------------------------------------


def preview_inbox(
    hub: Hub,
    *,
    partner: str | None = None,
    max_files: int | str = 200,
    registry: HandlerRegistry = HANDLERS,
    batch_size: int | str | None = None,
    concurrency: int | str | None = None,
) -> dict[str, Any]:
    """Dry run of edi_orders_inbound: validate and map the inbox files, decide per message,
    list what would be created, sent and dead-lettered, and write nothing anywhere
    (``batch_size`` and ``concurrency`` are the run's; a dry run writes no batch)."""
    report: dict[str, Any] = {
        "status": "dry_run",
        "flow": FLOW,
        "files": 0,
        "would_quarantine": 0,
        "would_create": 0,
        "already_done": 0,
        "would_refuse": 0,
        "duplicates": 0,
        "would": {"erp": {"create_sale": []}, "edi": {"send": []}, "ledger": {"dead_letters": []}},
        "details": [],
    }
    profiles = [p for p in hub.partners.values() if p.active and partner in (None, p.id)]
    if partner and not profiles:
        raise PermanentError(f"unknown or inactive partner {partner!r}", system="edi")
    for profile in profiles:
        box = hub.mailbox(profile)
        for inbound in box.ready()[: int(max_files)]:
            try:
                data = box.read(inbound.name) if is_text_name(inbound.name) else None
            except FileVanished:
                continue
            except UnreadableFile:
                data = None
            report["files"] += 1
            _preview_file(hub, profile, shown(inbound.name), data, registry, report)
    return report


def _preview_file(
    hub: Hub,
    profile: PartnerProfile,
    name: str,
    data: bytes | None,
    registry: HandlerRegistry,
    report: dict[str, Any],
) -> None:
    would = report["would"]
    result, parsed = parse_file(
        data or b"", name, profile.charset_policy, strictness=profile.strictness
    )
    detail: dict[str, Any] = {
        "partner": profile.id,
        "file": name,
        "verdict": result.verdict,
        "orders": [],
    }
    report["details"].append(detail)
    senders = {
        (i.result.sender, i.result.sender_qualifier or profile.unb.partner_qualifier)
        for i in parsed
    }
    if (
        data is None
        or result.verdict == "quarantined"
        or not parsed
        or senders != {(profile.unb.partner_id, profile.unb.partner_qualifier)}
    ):
        report["would_quarantine"] += 1
        detail["verdict"] = "quarantined"
        would["ledger"]["dead_letters"].append(f"QuarantinedFile {profile.id}/{name}")
        return
    for ich in parsed:
        ref = ich.result.control_ref
        seen = hub.ledger.interchange(profile.id, "in", ref)
        if seen is not None and seen["state"] == "done":
            report["duplicates"] += 1
            would["edi"]["send"].append(f"{profile.id}: acknowledgements of {ref} again")
            would["ledger"]["dead_letters"].append(f"DuplicateInterchange {ref}")
            continue
        ctx = Context(hub, profile, name, ref, utcnow(), FLOW)
        _preview_interchange(ctx, ich, registry, report, detail)


def _preview_interchange(
    ctx: Context, ich: ParsedInterchange, registry: HandlerRegistry, report: dict[str, Any],
    detail: dict[str, Any],
) -> None:  # fmt: skip
    would, profile, ref = report["would"], ctx.profile, ctx.interchange_ref
    has_errors = bool(ich.result.errors)
    for msg, mres in ich.messages:
        handler = registry.for_label(msg.type)
        if mres.errors or handler is None:
            has_errors = has_errors or bool(mres.errors)
            continue
        res = handler.preview(ctx, Work(msg, msg.ref))
        detail["orders"].append(res)
        if res["outcome"] == "create":
            report["would_create"] += 1
            would["erp"]["create_sale"].append(f"{profile.id}: order {res['order']}")
            if profile.acknowledgements.ordrsp:
                would["edi"]["send"].append(f"{profile.id}: ORDRSP {res['order']}")
        elif res["outcome"] == "existing":
            report["already_done"] += 1
        else:
            report["would_refuse"] += 1
            would["ledger"]["dead_letters"].append(
                f"OrderRefused {profile.id}:{res['order']}: {'; '.join(res['errors'])}"
            )
            if profile.acknowledgements.aperak:
                would["edi"]["send"].append(f"{profile.id}: APERAK {res['order']}")
    policy = profile.acknowledgements.contrl
    if policy == "always" or (policy == "on_error" and has_errors):
        would["edi"]["send"].insert(0, f"{profile.id}: CONTRL for interchange {ref}")


def archived_interchange(hub: Hub, partner: str, interchange_ref: str) -> dict[str, Any]:
    """The inbound interchange row (its archive path), or a PermanentError naming the fix."""
    row = hub.ledger.interchange(partner, "in", interchange_ref)
    if row is None:
        raise PermanentError(
            f"interchange {interchange_ref!r} from {partner} is not in the ledger; the file was "
            "never registered: put it back into the partner inbox instead",
            system="edi",
        )
    if not row.get("archive_path"):  # a crash before the commit: the archive is by content
        row["archive_path"] = str(hub.archive.path_for(partner, row["file_hash"]))
    return row
