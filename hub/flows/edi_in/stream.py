"""One inbound interchange as a stream of message batches, so memory does not grow with it.

The loop validates the whole file first (``parsing.scan_file``: verdicts only), sends the
CONTRL, then feeds the accepted messages here one at a time. Each batch of ``batch_size``
messages goes map -> check -> ERP write (one journaled ``once_many``) -> ORDRSP/APERAK sent
-> a progress mark in the interchange's ledger row (state ``received``, ``detail.progress``:
the index of the first message not yet done, and the counts so far). Only the pending batch
and, per message, what the acknowledgements need are kept. A run killed mid-file is resumed
by the next one from that mark: the committed batches are not redone (the journal would
make a repeat harmless anyway; the mark saves the hours).

With ``concurrency`` above 1, up to that many batches are in the ERP at once (a thread
pool inside the task: the ERP connector keeps one HTTP session per thread). Batches are
formed in file order, an order whose key is held by a batch still in flight waits for that
batch (two batches never hold the same order), and the mark only moves over a contiguous
prefix of finished batches, so a resume never skips an unfinished one.
"""

from __future__ import annotations

import base64
import json
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from connectors.edi import Issue, Message, MessageResult, SyntaxCode
from connectors.edi.channels import Mailbox, shown
from hub import edi_out
from hub.bootstrap import Hub
from hub.flows.edi_in import acks as ack_docs
from hub.flows.edi_in.parsing import ParsedInterchange
from hub.flows.edi_in.registry import Context, HandlerRegistry, MessageHandler, Work
from schemas.config import PartnerProfile
from transforms.edifact_orders import AppError

DEFAULT_BATCH = 500
ACKS_KEPT = 1000  # acknowledgements kept in the ledger row for a repeated interchange


@dataclass(frozen=True)
class Batching:
    """How an interchange's messages go to the ERP: batch size and batches in flight."""

    size: int = DEFAULT_BATCH
    concurrency: int = 1

    def __post_init__(self) -> None:
        if self.size < 1 or self.concurrency < 1:
            raise ValueError(
                f"batch size {self.size} and concurrency {self.concurrency}: both must be >= 1"
            )


@dataclass(frozen=True)
class FileJob:
    """One inbox file being processed: where it came from and what it is."""

    hub: Hub
    profile: PartnerProfile
    box: Mailbox
    registry: HandlerRegistry
    name: str  # as the mailbox knows it (may hold surrogate escapes)
    digest: str
    batching: Batching = Batching()

    @property
    def label(self) -> str:
        """The name as logs, the ledger and people see it."""
        return shown(self.name)


def message_errors(profile: PartnerProfile, mres: MessageResult) -> list[Issue]:
    """A message's syntax errors, plus 'not agreed' when its type is not in the profile."""
    errors = list(mres.errors)
    if not errors and not profile.accepts(mres.type):
        why = f"message type {mres.type} is not agreed with {profile.id}"
        errors.append(Issue(SyntaxCode.NO_AGREEMENT, "message", why, 1, "UNH", 2))
    return errors


@dataclass
class Batch:
    """Mapped messages on their way to the ERP, and what came back."""

    items: list[tuple[MessageHandler, Work]] = field(default_factory=list)
    next_index: int = 0  # the first message index after this batch
    keys: set[str] = field(default_factory=set)
    documents: list[edi_out.OutboundDocument] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)


class InterchangeRun:
    """An interchange being processed: feed its messages in order, then ``finish``."""

    def __init__(
        self,
        job: FileJob,
        ich: ParsedInterchange,
        ctx: Context,
        *,
        rejected_all: bool,
        start: int,
        counts: Counter[str],
        kept: list[dict[str, str]],
        pool: ThreadPoolExecutor | None,
    ) -> None:
        self.job, self.ich, self.ctx = job, ich, ctx
        self.rejected_all = rejected_all  # header errors: no message is accepted
        self.start = start
        self.counts = counts
        self.kept = kept
        self.pool = pool
        self.batch = Batch(next_index=start)
        self.in_flight: deque[tuple[Batch, Future[Batch] | None]] = deque()

    def feed(self, index: int, msg: Message) -> None:
        """One message of this interchange (index in file order); accepted ones are batched."""
        if index < self.start:
            return  # done by an earlier run (before its last progress mark)
        mres = self.ich.result.messages[index]
        if mres.ref != msg.ref:  # the two passes over the same bytes disagree: a defect
            raise ValueError(f"message {index} is {msg.ref!r} on reading, {mres.ref!r} on scan")
        self.batch.counts["messages_in"] += 1
        if self.rejected_all or message_errors(self.job.profile, mres):
            self.batch.counts["messages_refused"] += 1
            self.batch.next_index = index + 1
            return  # answered by the CONTRL
        handler = self.job.registry.for_label(msg.type)
        if handler is None:
            self.batch.counts["messages_acknowledged"] += 1
            self.batch.next_index = index + 1
            return
        work = Work(msg, msg.ref)
        handler.map(self.ctx, work)
        key = str(work.key) if work.key is not None and not work.errors else ""
        if key and any(key in b.keys for b, _ in self.in_flight):
            self._drain(until=lambda _: not any(key in b.keys for b, _f in self.in_flight))
        if key in self.batch.keys:  # the same order twice in one batch: the second waits
            self._submit()
        self.batch.items.append((handler, work))
        self.batch.next_index = index + 1
        if key:
            self.batch.keys.add(key)
        if len(self.batch.items) >= self.job.batching.size:
            self._submit()

    def finish(self) -> dict[str, Any]:
        """The last batch, then the interchange is recorded done; returns its counts."""
        self._submit()
        self._drain(until=lambda b: False)
        ledger, profile, ref = self.job.hub.ledger, self.job.profile, self.ctx.interchange_ref
        ledger.update_interchange(
            profile.id, "in", ref, state="done", ack=json.dumps(self.kept),
            archive_path=str(self.job.hub.archive.path_for(profile.id, self.job.digest)),
            detail=json.dumps({"counts": dict(self.counts), "file": self.job.label}),
        )  # fmt: skip
        return dict(self.counts)

    # -- batches ---------------------------------------------------------------------------

    def _submit(self) -> None:
        batch, self.batch = self.batch, Batch(next_index=self.batch.next_index)
        test = bool(self.ich.result.test)
        if not batch.items:  # refused by the CONTRL or only acknowledged: nothing to write
            if self.in_flight:  # the mark passes them after the batches before them
                self.in_flight.append((batch, None))
            else:
                self.counts.update(batch.counts)
            return
        if self.pool is None:
            self._settle(batch, run_batch(self.ctx, batch, test))
            return
        self.in_flight.append((batch, self.pool.submit(run_batch, self.ctx, batch, test)))
        limit = self.job.batching.concurrency
        self._drain(until=lambda b: len(self.in_flight) < limit)

    def _drain(self, until: Callable[[Batch], bool]) -> None:
        """Settle finished batches in order until ``until(first in flight)`` holds."""
        while self.in_flight and not until(self.in_flight[0][0]):
            batch, future = self.in_flight.popleft()
            self._settle(batch, future.result() if future is not None else batch)

    def _settle(self, batch: Batch, done: Batch) -> None:
        """Send a finished batch's acknowledgements, add its counts, move the mark."""
        box = self.job.box
        for doc in done.documents:
            done.counts["documents_sent"] += int(edi_out.send(box, doc))
            if len(self.kept) < ACKS_KEPT:
                self.kept.append(ack_record(doc))
        self.counts.update(done.counts)
        self._mark(batch.next_index)

    def _mark(self, next_index: int) -> None:
        ledger, profile = self.job.hub.ledger, self.job.profile
        progress = {"progress": next_index, "counts": dict(self.counts), "file": self.job.label}
        ledger.update_interchange(
            profile.id, "in", self.ctx.interchange_ref, detail=json.dumps(progress)
        )


def progress_of(row: dict[str, Any], digest: str) -> tuple[int, Counter[str]]:
    """Where an unfinished interchange of the same bytes stopped: (next message, counts)."""
    if row["state"] == "done" or row["file_hash"] != digest or not row["detail"]:
        return 0, Counter()
    mark = json.loads(row["detail"])
    return int(mark.get("progress", 0)), Counter(mark.get("counts", {}))


@contextmanager
def batch_pool(batching: Batching) -> Iterator[ThreadPoolExecutor | None]:
    """The worker pool of ERP batches (None: batches run inline)."""
    if batching.concurrency <= 1:
        yield None
        return
    with ThreadPoolExecutor(batching.concurrency, thread_name_prefix="edi-batch") as pool:
        yield pool


def ack_record(doc: edi_out.OutboundDocument) -> dict[str, str]:
    """A sent document as the interchange row keeps it (re-sent for a repeat)."""
    return {
        "name": doc.file_name,
        "type": doc.doc_type,
        "data": base64.b64encode(doc.data).decode(),
    }


# -- one batch: check, write, acknowledge, refuse ------------------------------------------


def run_batch(ctx: Context, batch: Batch, test: bool) -> Batch:
    """check -> write -> acknowledge per handler, then the refusals (dead letter, APERAK).

    Runs in a pool thread with concurrency: it touches only the ERP, the ledger (both
    thread-safe) and its own batch; the mailbox is written by the settling thread."""
    refused: list[tuple[MessageHandler, Work]] = []
    by_handler: dict[int, tuple[MessageHandler, list[Work]]] = {}
    for handler, work in batch.items:
        if work.errors:
            refused.append((handler, work))  # refused by the mapping
        else:
            by_handler.setdefault(id(handler), (handler, []))[1].append(work)
    for handler, items in by_handler.values():
        if test:  # validated and acknowledged, never written
            batch.counts[f"test_{handler.counts}"] += len(items)
            batch.counts["messages_acknowledged"] += len(items)
            continue
        check_and_write(ctx, handler, items)
        written = [w for w in items if w.written]
        for work in written:
            batch.counts[f"{handler.counts}_{'created' if work.created else 'existing'}"] += 1
        batch.counts["messages_created"] += len(written)
        batch.documents += handler.acknowledge(ctx, written)
        refused += [(handler, w) for w in items if w.errors]
    batch.documents += _refuse(ctx, refused, batch.counts)
    batch.items = []  # the messages are not needed any more
    return batch


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
        counts["messages_refused"] += 1
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
