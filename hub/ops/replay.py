"""Dead-letter replay: a registry of handlers per (flow, error class), all through the ledger.

A handler redoes the work of one letter with the flow's own code, so the journal makes a
second replay, or a replay of something that meanwhile succeeded, change nothing. It
returns an outcome:

- ``replayed``: the record went through now; the letter is closed as ``replayed``;
- ``resolved``: nothing left to redo (it succeeded meanwhile); closed as ``resolved``;
- ``failed``: it still fails (the flow re-filed the letter: attempts + 1); stays open;
- ``skipped``: the letter was not open; nothing was run.

Flow owners register their own: ``@handler("logistics_shipments", "OutcomeUnknownError")``.
Without one, ``generic`` reopens the journal entry named by the letter's record key and
reruns the flow (passing ``partner`` and, when the payload has ``updated_at`` and the flow
takes ``since``, ``since=<updated_at>`` so cursor-based flows read the record again).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.edi.channels import LocalMailbox
from hub.bootstrap import Hub
from hub.ledger import DeadLetter
from hub.ledger.journal import UNKNOWN_PREFIX
from hub.ops import deadletters
from schemas.errors import HubError, PermanentError
from transforms.keys import KeyKind

log = logging.getLogger(__name__)

INBOUND = "edi_orders_inbound"
_CHUNK = 1 << 20  # bytes per read when copying a file back into an inbox


@dataclass
class Outcome:
    """What a replay did."""

    outcome: str  # replayed | resolved | failed | skipped
    detail: str
    report: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[Hub, DeadLetter], Outcome]
HANDLERS: dict[tuple[str, str], Handler] = {}


def handler(flow: str, error_class: str = "*") -> Callable[[Handler], Handler]:
    """Register a replay handler for a flow's error class ("*": any class of that flow)."""

    def register(func: Handler) -> Handler:
        HANDLERS[(flow, error_class)] = func
        return func

    return register


def handler_for(letter: DeadLetter) -> Handler:
    """The most specific handler of a letter."""
    return (
        HANDLERS.get((letter.flow, letter.error_class))
        or HANDLERS.get((letter.flow, "*"))
        or generic
    )


def _confirm_absent(hub: Hub, letter: DeadLetter) -> None:
    """A person confirmed the target holds nothing for an unknown-outcome letter: let the
    replay act straight away instead of going through the flow's unknown-outcome policy."""
    entry = hub.ledger.journal_entry(letter.record_key)
    unknown = letter.error_class == "OutcomeUnknownError" or (
        entry is not None and str(entry.get("error") or "").startswith(UNKNOWN_PREFIX)
    )
    if not unknown:
        raise PermanentError(
            f"dead letter {letter.id} ({letter.error_class}) is not an unknown outcome: "
            "--confirm-absent is only for letters whose outcome is unknown "
            "(OutcomeUnknownError); replay it without the option",
            system="cli",
        )
    if entry is not None and entry["state"] != "done":
        hub.ledger.reopen(letter.record_key, confirmed_absent=True)


def _run_handler(hub: Hub, letter: DeadLetter, who: str, confirm_absent: bool) -> Outcome:
    """The letter's handler, or ``skipped`` for a closed letter; a transient error is
    audited and raised (retry later)."""
    if letter.state != "open":
        return Outcome("skipped", f"letter is {letter.state} already; nothing was run")
    try:
        if confirm_absent:
            _confirm_absent(hub, letter)
        return handler_for(letter)(hub, letter)
    except HubError as exc:
        if exc.retryable:
            deadletters.audit(
                hub.ledger,
                letter.id,
                action="replay",
                by=who,
                outcome="failed",
                detail={"error": str(exc), **({"confirm_absent": True} if confirm_absent else {})},
            )
            raise
        return Outcome("failed", f"{type(exc).__name__}: {exc}")


def replay(
    hub: Hub, letter_id: int, *, by: str | None = None, confirm_absent: bool = False
) -> dict[str, Any]:
    """Replay one dead letter and record the attempt in its audit trail.

    ``confirm_absent`` (an unknown-outcome letter only): a person checked that the target
    holds nothing, so the replay acts at once; without it the replay goes through the
    flow's own unknown-outcome policy (look up first, or back to a person)."""
    letter = deadletters.get(hub.ledger, letter_id)
    who = deadletters.actor(by)
    result = _run_handler(hub, letter, who, confirm_absent)
    if result.outcome in ("replayed", "resolved"):
        hub.ledger.close_dead_letter(letter_id, result.outcome, by=who, note=result.detail)
    deadletters.audit(
        hub.ledger,
        letter_id,
        action="replay",
        by=who,
        outcome=result.outcome,
        detail={
            "detail": result.detail,
            **({"confirm_absent": True} if confirm_absent else {}),
            **({"report": _brief(result.report)} if result.report else {}),
        },
    )
    after = deadletters.get(hub.ledger, letter_id)
    return {
        "id": letter_id,
        "flow": letter.flow,
        "error_class": letter.error_class,
        "outcome": result.outcome,
        "detail": result.detail,
        "state": after.state,
        "attempts": after.attempts,
    }


def _brief(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k != "details"}


# -- generic ---------------------------------------------------------------------------------


def _accepts(flow: str, name: str) -> bool:
    from hub.flows.registry import REGISTRY

    desc = REGISTRY.get(flow)
    return desc is not None and desc.param(name) is not None


def generic(hub: Hub, letter: DeadLetter) -> Outcome:
    """Reopen the journal entry of the letter's record key and rerun the flow."""
    from hub.flows import run_flow

    key = letter.record_key
    entry = hub.ledger.journal_entry(key)
    if entry is not None and entry["state"] == "done":
        return Outcome("resolved", f"journal entry {key} is done: it succeeded meanwhile")
    if entry is not None and entry["state"] == "dead":
        hub.ledger.reopen(key)  # an unknown outcome comes back unknown: the policy applies
    params: dict[str, Any] = {}
    if letter.partner and _accepts(letter.flow, "partner"):
        params["partner"] = letter.partner
    payload = letter.payload if isinstance(letter.payload, dict) else {}
    if payload.get("updated_at") and _accepts(letter.flow, "since"):
        params["since"] = payload["updated_at"]
    report = run_flow(letter.flow, hub=hub, **params)
    entry = hub.ledger.journal_entry(key)
    again = hub.ledger.dead_letter_by_id(letter.id)
    if entry is not None and entry["state"] == "done":
        return Outcome("replayed", f"journal entry {key} is done after the rerun", report)
    if again is not None and again.attempts > letter.attempts:
        return Outcome("failed", f"the rerun failed again: {again.reason}", report)
    return Outcome(
        "failed",
        f"the rerun of {letter.flow} did not reach {key} (it may be behind the flow's cursor): "
        f"re-sync its window with `hub backfill {letter.flow} --since "
        f"{letter.created_at:%Y-%m-%dT%H:%M}` or resolve it by hand and discard this letter",
        report,
    )


# -- edi_orders_inbound ----------------------------------------------------------------------


@handler(INBOUND, "DuplicateInterchange")
def _duplicate(hub: Hub, letter: DeadLetter) -> Outcome:
    return Outcome(
        "resolved",
        "a repeated interchange is only a notice: the first one was processed and its "
        "acknowledgements were sent again; nothing to redo",
    )


@handler(INBOUND, "SymlinkInInbox")
def _symlink(hub: Hub, letter: DeadLetter) -> Outcome:
    """A link is never followed: a person replaces it by the file, then discards the letter."""
    payload = letter.payload if isinstance(letter.payload, dict) else {}
    return Outcome(
        "failed",
        f"{payload.get('file', letter.record_key)} in {payload.get('partner', '?')}'s inbox is "
        f"a symbolic link (to {payload.get('target', '?')}); the hub never follows links. "
        "Replace it by the file itself (the next run takes it), then discard this letter "
        "with --reason",
    )


@handler(INBOUND, "QuarantinedFile")
def _quarantined(hub: Hub, letter: DeadLetter) -> Outcome:
    """Put the quarantined bytes back into the partner inbox and run the flow for it."""
    from hub.flows import run_flow
    from hub.flows.edi_in.parsing import scan_file

    payload = letter.payload if isinstance(letter.payload, dict) else {}
    partner = payload.get("partner") or letter.partner or ""
    name = str(payload.get("file") or "replayed.edi")
    source = next(
        (
            Path(p)
            for p in (payload.get("quarantined"), payload.get("archive"))
            if p and Path(p).is_file()
        ),
        None,
    )
    if source is None:
        raise PermanentError(
            f"dead letter {letter.id}: neither the quarantined copy ({payload.get('quarantined')}) "
            f"nor the archived one ({payload.get('archive')}) exists; ask {partner} to resend "
            f"{name}, then discard this letter",
            system="edi",
        )
    profile = hub.partners.get(partner)
    if profile is None:
        raise PermanentError(
            f"dead letter {letter.id}: partner {partner!r} has no profile; add "
            f"config/partners/{partner}.yaml (or move the file to the right partner) and replay",
            system="edi",
        )
    # read as a stream, never whole: an inbound file can be 100 MB
    digest = file_sha256(source)
    scan = scan_file(source, name, profile.charset_policy, strictness=profile.strictness)
    refs = [ich.result.control_ref for ich in scan.interchanges if ich.result.control_ref]
    done = [
        r
        for r in refs
        if (row := hub.ledger.interchange(partner, "in", r)) and row["state"] == "done"
    ]
    if refs and len(done) == len(refs):
        return Outcome(
            "resolved",
            f"interchange(s) {', '.join(done)} from {partner} were processed meanwhile "
            "(the partner re-sent them); nothing to redo",
        )
    box = hub.mailbox(profile)
    if not isinstance(box, LocalMailbox):
        raise PermanentError(
            f"dead letter {letter.id}: {partner} uses a remote mailbox; upload {source} to its "
            f"inbox as {name}, run `hub run {INBOUND} -p partner={partner}`, then discard this "
            "letter",
            system="edi",
        )
    target = _put_back(box.inbox, name, source, digest)
    report = run_flow(INBOUND, hub=hub, partner=partner)
    mine = [d for d in report.get("details", []) if d.get("sha256") == digest]
    if not mine:
        return Outcome(
            "failed",
            f"{target.name} was put back into {box.inbox} but the run did not pick it up; "
            "run the flow again once the file is old enough",
            report,
        )
    verdict = mine[0].get("verdict")
    if verdict == "quarantined":
        return Outcome("failed", f"quarantined again: {mine[0].get('reason')}", report)
    counts = {k: mine[0].get(k, 0) for k in ("orders_created", "orders_existing", "orders_refused")}
    return Outcome("replayed", f"{name} processed: {verdict} {counts}", report)


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read a chunk at a time (as ``channels.sha256``)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _put_back(inbox: Path, name: str, source: Path, digest: str) -> Path:
    """Copy ``source`` (SHA-256 ``digest``) into the inbox atomically, a chunk at a time, old
    enough for the flow to take it; another file of that name there is left alone."""
    inbox.mkdir(parents=True, exist_ok=True)
    target = inbox / name
    if target.exists() and file_sha256(target) != digest:
        target = inbox / f"replay-{digest[:8]}-{name}"
    if not target.exists():
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=inbox)
        with os.fdopen(fd, "wb") as handle, source.open("rb") as data:
            shutil.copyfileobj(data, handle, _CHUNK)
        os.replace(tmp, target)
    stamp = target.stat().st_mtime - 3600  # past the mailbox's minimum age
    os.utime(target, (stamp, stamp))
    return target


def _done_sale(hub: Hub, order: str) -> dict[str, Any] | None:
    done = hub.ledger.journal_find(KeyKind.SALE, subjects=[order], flow=INBOUND, state="done")
    return done[0] if done else None


@handler(INBOUND, "OrderRefused")
@handler(INBOUND, "ChangeRefused")
@handler(INBOUND, "ConflictError")
def _refused(hub: Hub, letter: DeadLetter) -> Outcome:
    """Re-process just that message of the archived interchange through the inbound flow."""
    from hub.flows.edi_inbound_replay import archived_interchange, reprocess_message

    payload = letter.payload if isinstance(letter.payload, dict) else {}
    partner = letter.partner or ""
    order = deadletters.subject_of(letter.record_key) or letter.record_key
    if letter.error_class == "OrderRefused" and (done := _done_sale(hub, order)):
        sale = (done.get("result") or {}).get("number")
        return Outcome("resolved", f"order {order} was created meanwhile (sale {sale})")
    if not payload.get("interchange") or not payload.get("message"):
        raise PermanentError(
            f"dead letter {letter.id}: its payload names no interchange/message; ask {partner} "
            "to resend the order, then discard this letter",
            system="edi",
        )
    row = archived_interchange(hub, partner, str(payload["interchange"]))
    res = reprocess_message(
        hub, partner, row["archive_path"], str(payload["interchange"]), str(payload["message"])
    )
    if res["outcome"] == "created" and letter.error_class == "ChangeRefused":
        return Outcome("replayed", f"the change of order {res['order']} is applied now", res)
    if res["outcome"] == "created":
        return Outcome("replayed", f"order {res['order']} created as sale {res['sale']}", res)
    if res["outcome"] in ("existing", "test"):
        return Outcome("resolved", f"order {res.get('order')} is already in the ERP", res)
    return Outcome("failed", "refused again: " + "; ".join(res.get("errors", [])), res)


# -- acknowledgements of the hub's own documents ---------------------------------------------


@handler(INBOUND, "DocumentRejected")
@handler("edi_documents_outbound", "DocumentRejected")
@handler("edi_documents_outbound", "AcknowledgementOverdue")
def _resend(hub: Hub, letter: DeadLetter) -> Outcome:
    """A document the partner rejected or never acknowledged: re-send it under a new control
    number, exactly as ``hub edi resend`` does (an INVOIC is built again from the ERP)."""
    from hub.flows.edi_outbound_resend import resend

    payload = letter.payload if isinstance(letter.payload, dict) else {}
    control_ref = payload.get("control_ref")
    if not control_ref or not letter.partner:
        raise PermanentError(
            f"dead letter {letter.id}: its payload names no partner/interchange; find the "
            "document with `hub edi acks` and re-send it with `hub edi resend`",
            system="edi",
        )
    res = resend(hub, letter.partner, str(control_ref), reason=f"replay of dead letter {letter.id}")
    return Outcome(
        "replayed",
        f"{res['doc_type']} {res['document_number']} re-sent to {letter.partner} as "
        f"interchange {res['control_ref']} (was {control_ref})",
        res,
    )
