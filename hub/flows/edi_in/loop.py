"""The generic inbound interchange loop: per partner inbox, per file, per interchange.

Per file: read (an unreadable entry or a name that is not UTF-8 is quarantined with a dead
letter, the others go on), archive the raw bytes, parse and validate while streaming,
check the UNB sender. Per interchange: register it in the ledger (a repeat gets its first
acknowledgements again, a reused reference with other bytes a CONTRL 26), check the
header, give each accepted message to the handler registered for its (type, version),
answer refusals with a dead letter and an APERAK, send CONTRL and the handlers' answers,
record the interchange done, and only then take the file out of the inbox.
"""

from __future__ import annotations

import base64
import json
import logging
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

from connectors.edi import Issue, Message
from connectors.edi.channels import (
    FileVanished,
    InboundFile,
    Mailbox,
    UnreadableFile,
    is_text_name,
    sha256,
    shown,
)
from hub import edi_out
from hub.bootstrap import Hub
from hub.config import partner_by_sender
from hub.flows.edi_in import FLOW
from hub.flows.edi_in import acks as ack_docs
from hub.flows.edi_in.files import (
    quarantine,
    quarantine_reason,
    quarantine_unreadable,
    report_links,
)
from hub.flows.edi_in.parsing import ParsedInterchange, findings, parse_file, s009
from hub.flows.edi_in.registry import Context, HandlerRegistry, MessageHandler, Work
from schemas.config import PartnerProfile
from schemas.errors import HubError, PermanentError, TransientError
from transforms import edifact_acks as acks
from transforms.edifact_orders import AppError

log = logging.getLogger(__name__)

# the per-file counts the report adds up (handlers add "<prefix>_created" ... of their own)
SUMMED = ("orders_created", "orders_existing", "orders_refused", "test_orders", "documents_sent")
HANDLER_COUNTS = ("_created", "_existing", "_refused")
# what a defect meeting a hostile file raises (a database or network error is not one)
DATA_DEFECTS = (ValueError, LookupError, TypeError, UnicodeError, ArithmeticError)


@dataclass(frozen=True)
class FileJob:
    """One inbox file being processed: where it came from and what it is."""

    hub: Hub
    profile: PartnerProfile
    box: Mailbox
    registry: HandlerRegistry
    name: str  # as the mailbox knows it (may hold surrogate escapes)
    digest: str

    @property
    def label(self) -> str:
        """The name as logs, the ledger and people see it."""
        return shown(self.name)


def new_report() -> dict[str, Any]:
    """The flow's report, every count at zero."""
    return {
        "status": "ok",
        "files": 0,
        "accepted": 0,
        "rejected": 0,
        "quarantined": 0,
        "duplicates": 0,
        **dict.fromkeys(SUMMED[:3], 0),
        "test_orders": 0,
        "documents_sent": 0,
        "details": [],
    }


def run_inboxes(
    hub: Hub, registry: HandlerRegistry, *, partner: str | None = None, max_files: int = 200
) -> dict[str, Any]:
    """Every ready file of one or every active partner, through ``registry``'s handlers."""
    report = new_report()
    profiles = [p for p in hub.partners.values() if p.active and (partner in (None, p.id))]
    if partner and not profiles:
        raise PermanentError(f"unknown or inactive partner {partner!r}", system="edi")
    for profile in profiles:
        box = hub.mailbox(profile)
        report_links(hub, profile, box.links())
        for inbound in box.ready()[:max_files]:
            detail = process_file(hub, profile, box, inbound, registry)
            if detail is None:
                continue
            _add(report, detail)
    refused = any(v for k, v in report.items() if k.endswith("_refused"))
    if report["rejected"] or report["quarantined"] or refused:
        report["status"] = "partial"
    return report


def _add(report: dict[str, Any], detail: dict[str, Any]) -> None:
    """Add one file's counts to the run's report (a handler's own counts included)."""
    report["files"] += 1
    report[detail["verdict"]] += 1
    for key, value in detail.items():
        if key in SUMMED or key.endswith(HANDLER_COUNTS):
            report[key] = report.get(key, 0) + int(value)
    report["duplicates"] += int(detail.get("duplicate", False))
    report["details"].append(detail)


def process_file(
    hub: Hub,
    profile: PartnerProfile,
    box: Mailbox,
    inbound: InboundFile,
    registry: HandlerRegistry,
) -> dict[str, Any] | None:
    """One inbox file, start to end; None when another worker took it meanwhile."""
    try:
        data = box.read(inbound.name)
    except FileVanished:
        log.info("%s: gone before it was read (taken by another worker)", shown(inbound.name))
        return None
    except UnreadableFile as exc:
        return quarantine_unreadable(hub, profile, box, inbound.name, exc.message)
    job = FileJob(hub, profile, box, registry, inbound.name, sha256(data))
    archived = hub.archive.store(profile.id, data)
    detail: dict[str, Any] = {
        "partner": profile.id,
        "file": job.label,
        "sha256": job.digest,
        "archive": str(archived),
    }
    if not is_text_name(job.name):
        why = (
            "its name is not UTF-8 (shown with \\x escapes); the ledger keeps names as text. "
            "Ask the partner to use UTF-8 (best ASCII) file names; replaying this letter "
            "processes the content under the escaped name"
        )
        return quarantine(hub, profile, box, job.name, data, job.digest, detail, why)
    try:
        return _process_content(job, data, detail)
    except TransientError:
        raise
    except HubError as exc:
        if exc.system not in (None, "edi"):  # the ERP or the ledger: not this file's fault
            raise
        why = f"{exc.__class__.__name__}: {exc.message}"
    except DATA_DEFECTS as exc:  # a hostile file met a defect: it must not stop the others
        log.exception("%s: failed", job.label)
        why = f"{exc.__class__.__name__}: {exc} (a defect in the hub: please report it)"
    return quarantine(hub, profile, box, job.name, data, job.digest, detail, why)


def _process_content(job: FileJob, data: bytes, detail: dict[str, Any]) -> dict[str, Any]:
    profile = job.profile
    result, parsed = parse_file(data, job.label, profile.charset_policy)
    detail["validation"] = result.to_dict()
    if result.verdict == "quarantined" or not parsed:
        return _quarantine(job, data, detail, quarantine_reason(result))
    for ich in parsed:
        why = _wrong_sender(job, ich)
        if why:
            return _quarantine(job, data, detail, why)
    counts: Counter[str] = Counter(dict.fromkeys((*SUMMED, "syntax_rejected"), 0))
    duplicate_only = True
    for ich in parsed:
        outcome = process_interchange(job, ich)
        duplicate_only &= bool(outcome.pop("duplicate", False))
        counts.update(outcome)
    detail.update(counts)
    detail["duplicate"] = duplicate_only
    refused = any(v for k, v in counts.items() if k.endswith("_refused"))
    rejected = result.verdict == "rejected" or refused or counts["syntax_rejected"]
    detail["verdict"] = "rejected" if rejected else "accepted"
    job.box.remove(job.name)
    sender = parsed[0].result.sender
    log.info("%s: %s from %s (%s)", job.label, detail["verdict"], sender, dict(counts))
    return detail


def _quarantine(job: FileJob, data: bytes, detail: dict[str, Any], why: str) -> dict[str, Any]:
    return quarantine(job.hub, job.profile, job.box, job.name, data, job.digest, detail, why)


def _wrong_sender(job: FileJob, ich: ParsedInterchange) -> str | None:
    profile, res = job.profile, ich.result
    unb = profile.unb
    if (res.sender, res.sender_qualifier or unb.partner_qualifier) == (
        unb.partner_id,
        unb.partner_qualifier,
    ):
        return None
    known = partner_by_sender(job.hub.partners, res.sender, res.sender_qualifier)
    return (
        f"UNB sender {res.sender}:{res.sender_qualifier} of interchange {res.control_ref!r} "
        f"is not partner {profile.id!r} ({unb.partner_id}:{unb.partner_qualifier})"
        + (
            f" but {known.id!r}: the file was put in the wrong inbox"
            if known
            else ": unknown sender, add a partner profile in config/partners or fix the UNB"
        )
    )


# -- one interchange ---------------------------------------------------------------------


def process_interchange(job: FileJob, ich: ParsedInterchange) -> dict[str, Any]:
    """Register, dispatch to the handlers, acknowledge, record done; returns its counts."""
    ledger, profile = job.hub.ledger, job.profile
    ref = ich.result.control_ref
    row, is_new = ledger.record_interchange(profile.id, "in", ref, job.digest, file_name=job.label)
    if not is_new and row["state"] == "done":
        if row["file_hash"] != job.digest:
            return _reused_reference(job, ich, row)
        return _repeated(job, ref, row)
    ctx = Context(job.hub, profile, job.label, ref, row["created_at"], FLOW)
    header_errors = _header_errors(profile, ich)
    verdicts, works = _verdicts(job, ich, header_errors)
    counts: Counter[str] = Counter()
    documents, refused = _dispatch(ctx, works, bool(ich.result.test), counts)
    documents += _refuse(ctx, refused, counts)
    has_errors = bool(header_errors) or any(not v.accepted for v in verdicts)
    counts["syntax_rejected"] = int(has_errors)
    policy = profile.acknowledgements.contrl
    if policy == "always" or (policy == "on_error" and has_errors):
        documents.insert(
            0,
            ack_docs.contrl(
                ledger, profile, ich, digest=job.digest, prepared=ctx.prepared,
                header_errors=header_errors, verdicts=verdicts,
            ),
        )  # fmt: skip
    for doc in documents:
        counts["documents_sent"] += int(edi_out.send(job.box, doc))
    ledger.update_interchange(
        profile.id,
        "in",
        ref,
        state="done",
        ack=json.dumps([_ack_record(d) for d in documents]),
        archive_path=str(job.hub.archive.path_for(profile.id, job.digest)),
        detail=json.dumps({"counts": dict(counts), "file": job.label}),
    )
    return dict(counts)


def _ack_record(doc: edi_out.OutboundDocument) -> dict[str, str]:
    return {
        "name": doc.file_name,
        "type": doc.doc_type,
        "data": base64.b64encode(doc.data).decode(),
    }


def _repeated(job: FileJob, ref: str, row: dict[str, Any]) -> dict[str, Any]:
    """An interchange processed before: send its first acknowledgements again."""
    sent = 0
    for ack in json.loads(row["ack"] or "[]"):
        data = base64.b64decode(ack["data"])
        doc = edi_out.OutboundDocument(ack["type"], "", job.profile.id, "", ack["name"], data)
        sent += int(edi_out.send(job.box, replace(doc, again=True)))
    if row["file_name"] == job.label:
        # the very file another worker processed while this one was reading it, or a
        # file left behind by a crash after the commit: nothing for a person to do
        log.info("%s: interchange %s already processed from this file", job.label, ref)
        return {"duplicate": True, "documents_sent": sent}
    job.hub.ledger.dead_letter(
        FLOW,
        f"duplicate:{job.profile.id}:{ref}:{job.digest[:12]}",
        f"{job.label}: interchange {ref!r} from {job.profile.id} was already processed on "
        f"{row['created_at']:%Y-%m-%d %H:%M} (file {row['file_name']}); not processed again, "
        "its acknowledgements were sent again",
        error_class="DuplicateInterchange",
        payload={"file": job.label, "first_file": row["file_name"]},
        system="edi",
        partner=job.profile.id,
    )
    return {"duplicate": True, "documents_sent": sent}


def _reused_reference(job: FileJob, ich: ParsedInterchange, row: dict[str, Any]) -> dict[str, Any]:
    """Same UNB control reference as an earlier interchange, other bytes: reject (code 26)."""
    profile, ref = job.profile, ich.result.control_ref
    job.hub.ledger.dead_letter(
        FLOW,
        f"reused-ref:{profile.id}:{ref}:{job.digest[:12]}",
        f"{job.label}: interchange reference {ref!r} from {profile.id} was already used on "
        f"{row['created_at']:%Y-%m-%d %H:%M} by {row['file_name']} with different content: "
        "not processed; the partner must send it with a new control reference",
        error_class="ConflictError",
        payload={"file": job.label, "first_file": row["file_name"], "interchange": ref},
        system="edi",
        partner=profile.id,
    )
    sent = 0
    if profile.acknowledgements.contrl != "never":
        doc = ack_docs.contrl(
            job.hub.ledger, profile, ich, digest=job.digest, prepared=row["created_at"],
            interchange_findings=[acks.SyntaxFinding(26, "interchange", 1, "UNB", 5)],
        )  # fmt: skip
        sent = int(edi_out.send(job.box, doc))
    return {"syntax_rejected": 1, "documents_sent": sent}


def _header_errors(profile: PartnerProfile, ich: ParsedInterchange) -> list[Issue]:
    errors = list(ich.result.errors)
    if ich.result.recipient != profile.unb.our_id:
        why = f"UNB recipient {ich.result.recipient} is not us ({profile.unb.our_id})"
        errors.append(Issue(7, "interchange", why, 1, "UNB", 3))
    if ich.result.test and not profile.accept_test_interchanges:
        why = "test interchanges are not accepted"
        errors.append(Issue(25, "interchange", why, 1, "UNB", 11))
    return errors


def _verdicts(
    job: FileJob, ich: ParsedInterchange, header_errors: list[Issue]
) -> tuple[list[acks.MessageVerdict], list[tuple[MessageHandler, Work]]]:
    """The CONTRL verdict of every message, and the accepted ones that have a handler."""
    verdicts: list[acks.MessageVerdict] = []
    works: list[tuple[MessageHandler, Work]] = []
    for msg, mres in ich.messages:
        errors = list(mres.errors)
        if not errors and not job.profile.accepts(msg.type):
            why = f"message type {msg.type} is not agreed with {job.profile.id}"
            errors.append(Issue(14, "message", why, 1, "UNH", 2))
        accepted = not header_errors and not errors
        verdicts.append(acks.MessageVerdict(msg.ref, s009(msg.type), accepted, findings(errors)))
        handler = job.registry.for_label(msg.type) if accepted else None
        if handler is not None:
            works.append((handler, Work(msg, msg.ref)))
    return verdicts, works


def _dispatch(
    ctx: Context, works: list[tuple[MessageHandler, Work]], test: bool, counts: Counter[str]
) -> tuple[list[edi_out.OutboundDocument], list[tuple[MessageHandler, Work]]]:
    """map -> check -> write -> acknowledge, per handler in one batch; returns the answers
    and the refused messages (those refused by the mapping first, in message order)."""
    refused: list[tuple[MessageHandler, Work]] = []
    batches: dict[int, tuple[MessageHandler, list[Work]]] = {}
    for handler, work in works:
        handler.map(ctx, work)
        if work.errors:
            refused.append((handler, work))
        else:
            batches.setdefault(id(handler), (handler, []))[1].append(work)
    documents: list[edi_out.OutboundDocument] = []
    for handler, batch in batches.values():
        if test:  # validated and acknowledged, never written
            counts[f"test_{handler.counts}"] += len(batch)
            continue
        check_and_write(ctx, handler, batch)
        written = [w for w in batch if w.written]
        for work in written:
            counts[f"{handler.counts}_{'created' if work.created else 'existing'}"] += 1
        documents += handler.acknowledge(ctx, written)
        refused += [(handler, w) for w in batch if w.errors]
    return documents, refused


def check_and_write(ctx: Context, handler: MessageHandler, batch: list[Work]) -> None:
    """The handler's check, then its write for the records that passed."""
    if batch:
        handler.check(ctx, batch)
    handler.write(ctx, [w for w in batch if not w.errors])


def refuse(ctx: Context, handler: MessageHandler, work: Work, what: str) -> int:
    """The dead letter of a refused message (re-filed on a repeat: the letter counts it)."""
    errors: list[AppError] = work.errors
    return ctx.hub.ledger.dead_letter(
        ctx.flow,
        handler.refusal_record(ctx.profile.id, work.ref),
        f"{what}: " + "; ".join(e.message for e in errors),
        error_class=(
            "ConflictError" if any(e.code == "DUP" for e in errors) else handler.refusal_class
        ),
        payload={
            "file": ctx.file_name,
            "interchange": ctx.interchange_ref,
            "message": work.message.ref,
            "errors": [e.as_dict() for e in errors],
        },
        system="erp",
        partner=ctx.profile.id,
    )


def _refuse(
    ctx: Context, refused: list[tuple[MessageHandler, Work]], counts: Counter[str]
) -> list[edi_out.OutboundDocument]:
    documents = []
    for handler, work in refused:
        counts[f"{handler.counts}_refused"] += 1
        msg: Message = work.message
        refuse(ctx, handler, work, f"{ctx.file_name}: interchange {ctx.interchange_ref} message "
               f"{msg.ref} (order {work.ref}) refused")  # fmt: skip
        if ctx.profile.acknowledgements.aperak:
            documents.append(
                ack_docs.aperak(
                    ctx.hub.ledger, ctx.profile, interchange_ref=ctx.interchange_ref,
                    message_ref=msg.ref, record_ref=work.ref, errors=work.errors,
                    prepared=ctx.prepared,
                )
            )  # fmt: skip
    return documents
