"""The send step of every outbound document: pin the bytes, send them once, commit with a trace.

1. allocate the interchange reference (once per document, in the ledger);
2. render and validate with our own codec, archive the bytes and register the interchange
   ("prepared") BEFORE sending: a rerun after a crash finds these pinned bytes and resends
   them under the same name even if the ERP data changed meanwhile;
3. send through ``ledger.once`` (the journal holds the lease; a refused channel releases it
   and fails the run; a channel that refuses for good dead-ends the entry);
4. in the transaction that marks the entry done: the interchange "sent", the trace event,
   and the partner stream's cursor (up to this record when this document settles it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

from connectors.edi import validate
from connectors.edi.channels import sha256
from hub import edi_out
from hub.flows.edi_outbound_run import FLOW, Run
from hub.ledger import Effect, Ledger, OnUnknown, Status
from hub.ops import acks as ack_ops
from hub.ops.events import record_event
from schemas.config import PartnerProfile
from schemas.errors import HubError, PermanentError, TransientError
from transforms.edifact_acks_in import document_number
from transforms.edifact_outbound import SegmentTuple
from transforms.keys import DocumentKey

# the send's result: (the file was written now, the journal result)
Sent = tuple[bool, dict[str, Any]]


@dataclass(frozen=True)
class Pinned:
    """The bytes registered for an interchange reference before anything is sent."""

    name: str
    data: bytes
    result: dict[str, Any]  # the journal result as it was when the bytes were made
    archive_path: str | None


@dataclass(frozen=True)
class Outgoing:
    """One document to send: its key, message, body and what the journal keeps about it."""

    key: DocumentKey
    message_type: tuple[str, ...]
    body: list[SegmentTuple]
    prepared: datetime  # UNB preparation time: from the data, never the clock
    result: dict[str, Any]  # kept in the journal (numbers, SSCCs... later documents read)
    record: str  # how a person finds the record ("shipment 12 (ERP id 7)")
    trace: dict[str, Any] | None = None  # see ``edi_outbound_run.trace_refs``
    # does sending it settle the record (given the journal result)? A DESADV sent without
    # the tracking number the shipment has by now does not: a replacement follows
    settles: Callable[[dict[str, Any]], bool] | None = None
    resent_from: str | None = None  # the control ref of the rejected document it corrects

    @property
    def doc_type(self) -> str:
        return self.key.doc_type


def deliver(run: Run, profile: PartnerProfile, doc: Outgoing) -> dict[str, Any]:
    """Pin, send and commit one document; the journal result (now or from before)."""
    ledger = run.hub.ledger
    ref = edi_out.control_ref(ledger, profile.id, doc.key.doc_key)
    pinned = _pinned(ledger, profile.id, ref) or _prepare(run, profile, doc, ref)
    outcome = ledger.once(
        doc.key,
        sha256(pinned.data),
        _sender(run, profile, doc, pinned, ref),
        # The outbox write is atomic and these bytes were registered before the upload, so
        # an upload whose outcome is unknown (a crash after the write) is repeated with the
        # same file name, the same control number and the same bytes: the mailbox's
        # exactly-once ``send`` turns it into a no-op or completes that very file.
        on_unknown=OnUnknown.repeat(),
        effect=Effect(
            FLOW,
            "edi",
            f"send {doc.doc_type}",
            ref=ref,
            partner=profile.id,
            what=f"{doc.doc_type} for {doc.record}",
        ),
        encode=lambda sent: sent[1],
        decode=lambda stored: (False, stored or {}),
        on_done=lambda conn, sent: _commit(run, profile, doc, ref, pinned, sent[1], conn),
    )
    if outcome.status is Status.DONE_BEFORE:
        run.count("already_sent", doc.doc_type)
        return outcome.result[1] if outcome.result else {}
    if not outcome.ok or outcome.result is None:
        raise _not_sent(doc, outcome.status, outcome.error)
    written, sent = outcome.result
    run.count("documents_sent" if written else "already_sent", doc.doc_type)
    run.report["files"].append(pinned.name)
    run.detail(profile, doc.doc_type, "sent" if written else "already_in_outbox",
               record=doc.record, file=pinned.name, control_ref=ref)  # fmt: skip
    return sent


def _not_sent(doc: Outgoing, status: Status, error: HubError | None) -> HubError:
    """Why a document was not sent, as the error the flow handles (dead letter or retry)."""
    if status is Status.DEAD:
        return PermanentError(
            f"{doc.doc_type} for {doc.record}: sending was given up earlier; see the dead letters",
            system="edi",
        )
    return TransientError(  # unknown outcome: the next run repeats the same bytes
        f"{doc.doc_type} for {doc.record}: the outcome of sending is unknown ({error}); "
        "the next run sends the same file again",
        system="edi",
    )


def _sender(
    run: Run, profile: PartnerProfile, doc: Outgoing, pinned: Pinned, ref: str
) -> Callable[[], Sent]:
    """The upload of the pinned bytes; its result is what the journal keeps."""

    def send() -> Sent:
        try:
            written = run.hub.mailbox(profile).send(pinned.name, pinned.data)
        except OSError as exc:
            raise TransientError(
                f"{doc.doc_type} for {doc.record}: writing {pinned.name} to {profile.id}'s "
                f"outbox failed: {exc.__class__.__name__}: {exc}",
                system="edi",
            ) from exc
        done = {"control_ref": ref, "file": pinned.name, "sha256": sha256(pinned.data)}
        return written, {**pinned.result, **done}

    return send


def _commit(
    run: Run,
    profile: PartnerProfile,
    doc: Outgoing,
    ref: str,
    pinned: Pinned,
    result: dict[str, Any],
    conn: Connection,
) -> None:
    """Written with the journal's "done": interchange sent, trace event, the stream cursor."""
    ledger = run.hub.ledger
    ledger.update_interchange(profile.id, "out", ref, state="sent", conn=conn)
    ack_ops.expect(
        ledger, profile, doc_type=doc.doc_type, doc_key=doc.key.doc_key, control_ref=ref,
        document_number=document_number(doc.body), file_name=pinned.name,
        refs=tuple(doc.trace["refs"]) if doc.trace else (), resent_from=doc.resent_from,
        conn=conn,
    )  # fmt: skip
    if doc.trace is not None and doc.trace["refs"]:
        name = pinned.name
        record_event(
            ledger,
            ref=doc.trace["refs"][0],
            refs=tuple(doc.trace["refs"][1:]),
            kind=f"{doc.doc_type.lower()}.sent",
            flow=FLOW,
            system="edi",
            partner=profile.id,
            state="sent",
            document=pinned.archive_path,
            detail={
                **doc.trace["detail"],
                "file": name,
                "control_ref": ref,
                "summary": f"{doc.doc_type} {name} to {profile.id} (interchange {ref})",
            },
            conn=conn,
        )
    if run.settling is not None:
        run.settling.commit(ledger, conn, settled=doc.settles is None or doc.settles(result))


def _prepare(run: Run, profile: PartnerProfile, doc: Outgoing, ref: str) -> Pinned:
    """Render, check, archive and register the bytes before anything is sent."""
    ledger = run.hub.ledger
    rendered = edi_out.render(
        ledger,
        profile,
        doc_type=doc.doc_type,
        doc_key=doc.key.doc_key,
        message_type=":".join(doc.message_type),
        body=doc.body,
        prepared=doc.prepared,
    )
    checked = validate(rendered.data, file=rendered.file_name)
    if checked.verdict != "accepted":
        errors = "; ".join(f"{e.message} [{e.where() or e.level}]"
                           for e in checked.all_errors()[:3])  # fmt: skip
        raise PermanentError(
            f"{doc.doc_type} for {doc.record}: the generated interchange fails our own "
            f"validator: {errors}",
            system="edi",
        )
    name, data = rendered.file_name, rendered.data
    archived = run.hub.archive.store(profile.id, data)
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
        detail=json.dumps(doc.result, sort_keys=True, default=str),
    )
    return Pinned(name, data, doc.result, str(archived))


def _pinned(ledger: Ledger, partner: str, ref: str) -> Pinned | None:
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
    return Pinned(row["file_name"], data, json.loads(row.get("detail") or "{}"), str(path))
