"""The generic inbound interchange loop: per partner inbox, per file, per interchange.

Per file: read (an unreadable entry or a name that is not UTF-8 is quarantined with a dead
letter, the others go on), archive the raw bytes, validate while streaming (pass one keeps
verdicts only), check the UNB sender. Per interchange: register it in the ledger (a repeat
gets its first acknowledgements again, a reused reference with other bytes, or a second
interchange of the same file under the same reference, a CONTRL 26 and a dead letter),
check the header and send the CONTRL; then pass two streams the messages to
``stream.InterchangeRun`` (batches: handler map/check/write/acknowledge, refusals with a
dead letter and an APERAK, a progress mark per batch), records the interchange done, and
only then takes the file out of the inbox. Bytes skipped between interchanges get a dead
letter naming their offsets. Every file ends in exactly one of accepted, rejected or
quarantined, every message of an interchange either in a handler's counts or refused by
the CONTRL (``messages_in`` = ``messages_created`` + ``messages_refused``).
"""

from __future__ import annotations

import base64
import json
import logging
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from connectors.edi import FileResult, Issue
from connectors.edi.channels import (
    FileVanished,
    InboundFile,
    Mailbox,
    UnreadableFile,
    is_text_name,
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
from hub.flows.edi_in.parsing import (
    ParsedInterchange,
    Scan,
    findings,
    iter_messages,
    message_types,
    s009,
    scan_file,
)
from hub.flows.edi_in.registry import Context, HandlerRegistry
from hub.flows.edi_in.stream import (
    Batching,
    FileJob,
    InterchangeRun,
    ack_record,
    batch_pool,
    check_and_write,
    message_errors,
    progress_of,
    refuse,
)
from schemas.config import PartnerProfile
from schemas.errors import HubError, PermanentError, TransientError
from transforms import edifact_acks as acks

log = logging.getLogger(__name__)

# the per-file counts the report adds up (handlers add "<prefix>_created" ... of their own)
SUMMED = ("orders_created", "orders_existing", "orders_refused", "test_orders", "documents_sent")
# every message of a file ends in exactly one of these: a record (made now or before), refused
# (CONTRL, dead letter/APERAK, quarantine) or only acknowledged (test, no handler for it)
MESSAGES = ("messages_in", "messages_created", "messages_refused", "messages_acknowledged")
HANDLER_COUNTS = ("_created", "_existing", "_refused")
# what a defect meeting a hostile file raises (a database or network error is not one)
DATA_DEFECTS = (ValueError, LookupError, TypeError, UnicodeError, ArithmeticError)


def new_report() -> dict[str, Any]:
    """The flow's report, every count at zero."""
    files = ("files", "accepted", "rejected", "quarantined", "duplicates")
    return {"status": "ok", **dict.fromkeys((*files, *SUMMED, *MESSAGES), 0), "details": []}


def run_inboxes(
    hub: Hub,
    registry: HandlerRegistry,
    *,
    partner: str | None = None,
    max_files: int = 200,
    batching: Batching = Batching(),
) -> dict[str, Any]:
    """Every ready file of one or every active partner, through ``registry``'s handlers,
    ``batching.size`` messages per ERP batch, ``batching.concurrency`` batches at once."""
    report = new_report()
    profiles = [p for p in hub.partners.values() if p.active and (partner in (None, p.id))]
    if partner and not profiles:
        raise PermanentError(f"unknown or inactive partner {partner!r}", system="edi")
    for profile in profiles:
        box = hub.mailbox(profile)
        report_links(hub, profile, box.links())
        for inbound in box.ready()[:max_files]:
            detail = process_file(hub, profile, box, inbound, registry, batching)
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
    if detail["verdict"] == "quarantined":  # every message of it waits in the quarantine
        detail["messages_refused"] = detail.get("messages_in", 0)
    for key, value in detail.items():
        if key in SUMMED or key in MESSAGES or key.endswith(HANDLER_COUNTS):
            report[key] = report.get(key, 0) + int(value)
    report["duplicates"] += int(detail.get("duplicate", False))
    report["details"].append(detail)


def process_file(
    hub: Hub,
    profile: PartnerProfile,
    box: Mailbox,
    inbound: InboundFile,
    registry: HandlerRegistry,
    batching: Batching = Batching(),
) -> dict[str, Any] | None:
    """One inbox file, start to end; None when another worker took it meanwhile."""
    try:  # copied into the archive a chunk at a time, hashed on the way; then read there
        archived, digest = hub.archive.receive(
            profile.id, lambda out: box.copy_to(inbound.name, out)
        )
    except FileVanished:
        log.info("%s: gone before it was read (taken by another worker)", shown(inbound.name))
        return None
    except UnreadableFile as exc:
        return quarantine_unreadable(hub, profile, box, inbound.name, exc.message)
    job = FileJob(hub, profile, box, registry, inbound.name, digest, batching)
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
        return _quarantine(job, archived, detail, why)
    try:
        return _process_content(job, archived, detail)
    except TransientError:
        raise
    except HubError as exc:
        if exc.system not in (None, "edi"):  # the ERP or the ledger: not this file's fault
            raise
        why = f"{exc.__class__.__name__}: {exc.message}"
    except DATA_DEFECTS as exc:  # a hostile file met a defect: it must not stop the others
        log.exception("%s: failed", job.label)
        why = f"{exc.__class__.__name__}: {exc} (a defect in the hub: please report it)"
    return _quarantine(job, archived, detail, why)


def _process_content(job: FileJob, data: Path, detail: dict[str, Any]) -> dict[str, Any]:
    """Validate, open each interchange (CONTRL), stream the messages to the runs, finish;
    ``data`` is the archived copy of the file."""
    profile = job.profile
    scan = scan_file(data, job.label, profile.charset_policy, strictness=profile.strictness)
    result = scan.result
    detail["validation"] = validation_detail(result)
    detail["messages_in"] = result.message_count
    if result.verdict == "quarantined" or not scan.interchanges:
        return _quarantine(job, data, detail, quarantine_reason(result))
    for ich in scan.interchanges:
        why = _wrong_sender(job, ich)
        if why:
            return _quarantine(job, data, detail, why)
    counts: Counter[str] = Counter(dict.fromkeys((*SUMMED, *MESSAGES[1:], "syntax_rejected"), 0))
    duplicate_only = True
    with batch_pool(job.batching) as pool:
        runs: list[InterchangeRun | None] = []
        seen: set[str] = set()
        for index, ich in enumerate(scan.interchanges):
            ref = ich.result.control_ref
            opened = (
                _reused_in_file(job, ich, index)
                if ref in seen
                else open_interchange(job, ich, pool)
            )
            seen.add(ref)
            if isinstance(opened, InterchangeRun):
                runs.append(opened)
                duplicate_only = False
                continue
            runs.append(None)
            duplicate_only &= bool(opened.pop("duplicate", False))
            counts.update(opened)
        for k, j, msg in iter_messages(data, profile.charset_policy):
            run = runs[k] if k < len(runs) else None
            if run is not None:
                run.feed(j, msg)
        for run in runs:
            if run is not None:
                counts.update(run.finish())
    _report_junk(job, scan, detail)
    detail.update(counts)
    detail["duplicate"] = duplicate_only
    refused = any(v for k, v in counts.items() if k.endswith("_refused"))
    rejected = result.verdict == "rejected" or refused or counts["syntax_rejected"]
    detail["verdict"] = "rejected" if rejected else "accepted"
    job.box.remove(job.name)
    sender = scan.interchanges[0].result.sender
    log.info("%s: %s from %s (%s)", job.label, detail["verdict"], sender, dict(counts))
    return detail


def validation_detail(result: FileResult, limit: int = 1000) -> dict[str, Any]:
    """The validation result for the report; a large file lists its refused messages only
    (at most ``limit``), so the report does not grow with the file."""
    if result.message_count <= limit:
        return result.to_dict()
    interchanges: list[dict[str, Any]] = []
    out: dict[str, Any] = {
        "file": result.file,
        "verdict": result.verdict,
        "messages": result.message_count,
        "errors": [e.to_dict() for e in result.errors],
        "warnings": [w.to_dict() for w in result.warnings[:limit]],
        "interchanges": interchanges,
    }
    for ich in result.interchanges:
        refused = [m.to_dict() for m in ich.messages if m.errors][:limit]
        interchanges.append(
            {
                "sender": ich.sender,
                "recipient": ich.recipient,
                "control_ref": ich.control_ref,
                "verdict": ich.verdict,
                "errors": [e.to_dict() for e in ich.errors],
                "messages": len(ich.messages),
                "refused_messages": refused,
            }
        )
    return out


def _report_junk(job: FileJob, scan: Scan, detail: dict[str, Any]) -> None:
    """A dead letter for the bytes of a file that are in no interchange (junk before,
    between or after interchanges): they were not acknowledged, a person must look."""
    if not scan.junk:
        return
    spans = ", ".join(f"bytes {j.offset}..{j.offset + j.length - 1} ({j.preview!r})"
                      for j in scan.junk[:10])  # fmt: skip
    detail["junk"] = [{"offset": j.offset, "length": j.length} for j in scan.junk]
    job.hub.ledger.dead_letter(
        FLOW,
        f"junk:{job.profile.id}:{job.digest}",
        f"{job.label}: {sum(j.length for j in scan.junk)} bytes are in no UNA/UNB..UNZ "
        f"interchange and were not processed: {spans}. The interchanges around them were "
        "processed and answered; if these bytes held orders, ask the partner to send them "
        "again in a new interchange (the whole file is in the archive)",
        error_class="JunkInFile",
        payload={"file": job.label, "archive": detail["archive"], "junk": detail["junk"]},
        system="edi",
        partner=job.profile.id,
    )


def _quarantine(job: FileJob, data: Path, detail: dict[str, Any], why: str) -> dict[str, Any]:
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


def open_interchange(
    job: FileJob, ich: ParsedInterchange, pool: ThreadPoolExecutor | None = None
) -> InterchangeRun | dict[str, Any]:
    """Register the interchange and send its CONTRL; returns the run its messages are fed
    to, or the counts of an interchange not processed (a repeat, a reused reference)."""
    ledger, profile = job.hub.ledger, job.profile
    ref = ich.result.control_ref
    row, is_new = ledger.record_interchange(profile.id, "in", ref, job.digest, file_name=job.label)
    if not is_new and row["state"] == "done":
        if row["file_hash"] != job.digest:
            return _reused_reference(job, ich, row)
        return _repeated(job, ich, row)
    start, counts = progress_of(row, job.digest)
    if start:
        log.info("%s: interchange %s resumed at message %d", job.label, ref, start)
        counts["resumed_at"] = start
    ctx = Context(job.hub, profile, job.label, ref, row["created_at"], FLOW)
    header_errors = _header_errors(profile, ich)
    has_errors = bool(header_errors) or any(
        not v.accepted for v in _verdicts(profile, ich, header_errors)
    )  # stops at the first refusal
    counts["syntax_rejected"] = int(has_errors)
    kept: list[dict[str, str]] = []
    policy = profile.acknowledgements.contrl
    if policy == "never" or not job.registry.contrl_wanted(
        message_types(ich)
    ):  # a CONTRL is never answered with a CONTRL
        policy = "never"
    if policy == "always" or (policy == "on_error" and has_errors):
        doc = ack_docs.contrl(
            ledger, profile, ich, digest=job.digest, prepared=ctx.prepared,
            header_errors=header_errors, verdicts=_verdicts(profile, ich, header_errors),
        )  # fmt: skip
        sent = int(edi_out.send(job.box, doc))
        counts["documents_sent"] += 0 if start else sent
        kept.append(ack_record(doc))
    return InterchangeRun(
        job, ich, ctx, rejected_all=bool(header_errors), start=start, counts=counts,
        kept=kept, pool=pool,
    )  # fmt: skip


def _repeated(job: FileJob, ich: ParsedInterchange, row: dict[str, Any]) -> dict[str, Any]:
    """An interchange processed before: send its first acknowledgements again; its messages
    count as the first run counted them."""
    ref = ich.result.control_ref
    first = json.loads(row["detail"] or "{}").get("counts", {})
    messages = {k: int(first.get(k, 0)) for k in MESSAGES}
    if messages["messages_in"] != len(ich.result.messages):  # recorded before these counts
        refused = sum(1 for m in ich.result.messages if m.errors)
        messages = dict.fromkeys(MESSAGES, 0)
        messages.update(messages_in=len(ich.result.messages), messages_refused=refused)
        messages["messages_created"] = messages["messages_in"] - refused
    sent = 0
    for ack in json.loads(row["ack"] or "[]"):
        data = base64.b64decode(ack["data"])
        doc = edi_out.OutboundDocument(ack["type"], "", job.profile.id, "", ack["name"], data)
        sent += int(edi_out.send(job.box, replace(doc, again=True)))
    if row["file_name"] == job.label:
        # the very file another worker processed while this one was reading it, or a
        # file left behind by a crash after the commit: nothing for a person to do
        log.info("%s: interchange %s already processed from this file", job.label, ref)
        return {"duplicate": True, "documents_sent": sent, **messages}
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
    return {"duplicate": True, "documents_sent": sent, **messages}


def _reused_reference(job: FileJob, ich: ParsedInterchange, row: dict[str, Any]) -> dict[str, Any]:
    """Same UNB control reference as an earlier interchange, other bytes: reject (code 26)."""
    why = (
        f"was already used on {row['created_at']:%Y-%m-%d %H:%M} by {row['file_name']} with "
        "different content"
    )
    record = f"reused-ref:{job.profile.id}:{ich.result.control_ref}:{job.digest[:12]}"
    return _reject_reused(job, ich, why, record, row["file_name"], row["created_at"])


def _reused_in_file(job: FileJob, ich: ParsedInterchange, index: int) -> dict[str, Any]:
    """A second interchange of the same file under a control reference already used in it:
    never skipped silently, rejected (CONTRL code 26) with a dead letter."""
    ref = ich.result.control_ref
    row = job.hub.ledger.interchange(job.profile.id, "in", ref)
    assert row is not None, "the first interchange of this reference was registered"
    why = f"is used by an earlier interchange of the same file (this is interchange {index + 1})"
    record = f"reused-ref:{job.profile.id}:{ref}:{job.digest[:12]}:{index}"
    return _reject_reused(job, ich, why, record, job.label, row["created_at"], occurrence=index)


def _reject_reused(
    job: FileJob,
    ich: ParsedInterchange,
    why: str,
    record: str,
    first_file: str,
    prepared: datetime,
    occurrence: int = 0,
) -> dict[str, Any]:
    profile, ref = job.profile, ich.result.control_ref
    job.hub.ledger.dead_letter(
        FLOW,
        record,
        f"{job.label}: interchange reference {ref!r} from {profile.id} {why}: its "
        f"{len(ich.result.messages)} messages were not processed; the partner must send it "
        "with a new control reference",
        error_class="ConflictError",
        payload={"file": job.label, "first_file": first_file, "interchange": ref},
        system="edi",
        partner=profile.id,
    )
    sent = 0
    if profile.acknowledgements.contrl != "never":
        doc = ack_docs.contrl(
            job.hub.ledger, profile, ich, digest=job.digest, prepared=prepared,
            interchange_findings=[acks.SyntaxFinding(26, "interchange", 1, "UNB", 5)],
            occurrence=occurrence,
        )  # fmt: skip
        sent = int(edi_out.send(job.box, doc))
    n = len(ich.result.messages)
    return {"syntax_rejected": 1, "documents_sent": sent, "messages_in": n, "messages_refused": n}


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
    profile: PartnerProfile, ich: ParsedInterchange, header_errors: list[Issue]
) -> Iterator[acks.MessageVerdict]:
    """The CONTRL verdict of every message of the interchange, one at a time."""
    for mres in ich.result.messages:
        errors = message_errors(profile, mres)
        accepted = not header_errors and not errors
        yield acks.MessageVerdict(mres.ref, s009(mres.type), accepted, findings(errors))


__all__ = ["check_and_write", "open_interchange", "refuse", "run_inboxes"]
