"""CONTRL (syntax 3 and 4) and APERAK from partners: acknowledgements of OUR documents.

map: the message read by ``transforms.edifact_acks_in``; check: nothing to ask the ERP;
write: in one ledger transaction per message, the state of every outbound document it
answers (``hub.ops.acks.apply``: sent -> accepted | rejected, a trace event, a
``DocumentRejected`` dead letter for a rejection). An acknowledgement of an interchange we
never sent is a dead letter (``UnmatchedAcknowledgement``) and is answered with nothing:
neither an APERAK nor, for a CONTRL, a CONTRL (``no_contrl_for``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from hub.flows.edi_in.registry import Context, MessageHandler, TypeVersion, Work, type_version
from hub.ops import acks as ack_ops
from transforms.edifact_acks_in import AckReport, read_ack
from transforms.edifact_orders import AppError


class AcknowledgementHandler(MessageHandler):
    """A partner's CONTRL or APERAK -> the acknowledgement state of our documents."""

    handles: ClassVar[tuple[TypeVersion, ...]] = (
        ("CONTRL", "D:3"),
        ("CONTRL", "2:2"),
        ("CONTRL", "D:4"),
        ("CONTRL", "4:1"),
        ("APERAK", "D:96A"),
        ("APERAK", "D:01B"),
    )
    counts: ClassVar[str] = "acks"
    refusal_class: ClassVar[str] = "AcknowledgementRefused"
    created_event: ClassVar[str] = "ack.received"
    no_contrl_for: ClassVar[frozenset[str]] = frozenset({"CONTRL"})  # ISO 9735

    def map(self, ctx: Context, work: Work) -> None:
        kind = type_version(work.message.type)[0]
        try:
            report = read_ack(kind, work.message.segments)
        except ValueError as exc:
            work.errors = [AppError("13", f"{kind} {work.message.ref}: {exc}")]
            return
        work.record, work.ref = report, report.ref

    def check(self, ctx: Context, items: list[Work]) -> None:
        """Nothing to check against the ERP: the ledger is the target."""

    def write(self, ctx: Context, items: list[Work]) -> None:
        """Each acknowledgement applied in its own transaction (a repeat changes nothing)."""
        ledger = ctx.hub.ledger
        for work in items:
            report: AckReport = work.record
            received = {
                "ref": f"{ctx.interchange_ref}:{work.message.ref}",
                "interchange": ctx.interchange_ref,
                "message": work.message.ref,
                "file": ctx.file_name,
                "at": ctx.prepared.isoformat(timespec="seconds"),
            }
            with ledger.transaction() as conn:
                rows = ack_ops.apply(
                    ledger, ctx.profile, report, received=received, flow=ctx.flow, conn=conn
                )
                if not rows:
                    ledger.dead_letter(
                        ctx.flow,
                        f"ack-unmatched:{ctx.profile.id}:{ctx.interchange_ref}:{work.message.ref}",
                        f"{ctx.file_name}: {report.ref} from {ctx.profile.id} (interchange "
                        f"{ctx.interchange_ref}, message {work.message.ref}) answers no document "
                        "the hub sent to this partner: check the partner's references; nothing "
                        "was answered",
                        error_class=ack_ops.UNMATCHED_CLASS,
                        payload={"report": report.as_dict(), **received},
                        system="edi",
                        partner=ctx.profile.id,
                        conn=conn,
                    )
            work.result = rows
            work.created = bool(rows)

    def summary(self, work: Work) -> dict[str, Any]:
        rows = work.result or []
        return {"ack": work.ref, "documents": [r["control_ref"] for r in rows]}

    def preview(self, ctx: Context, work: Work) -> dict[str, Any]:
        self.map(ctx, work)
        if work.errors:
            return {
                "outcome": "refused",
                "ack": work.ref,
                "errors": [e.message for e in work.errors],
            }
        found = ack_ops.matches(ctx.hub.ledger, ctx.profile.id, work.record)
        return {
            "outcome": "record" if found else "unmatched",
            "ack": work.ref,
            "documents": [r["control_ref"] for r in found],
        }

    def refusal_record(self, partner: str, ref: str) -> str:
        return f"ack:{partner}:{ref}"
