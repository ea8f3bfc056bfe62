"""The handler port of inbound EDI and the registry that finds a handler by (type, version).

A handler takes the accepted messages of one type through four steps: ``map`` (pure:
message to a canonical record, or application errors), ``check`` (against the target:
reads only), ``write`` (through the ledger's journal, exactly once) and ``acknowledge``
(positive answers such as ORDRSP). Refusals are answered by the loop (dead letter, APERAK),
the same for every type. Adding a message type is one handler module and one ``register``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from connectors.edi import Message
from hub.bootstrap import Hub
from hub.edi_out import OutboundDocument
from schemas.config import PartnerProfile
from transforms.edifact_orders import AppError
from transforms.keys import Key

TypeVersion = tuple[str, str]  # ("ORDERS", "D:96A")


def type_version(label: str) -> TypeVersion:
    """(message type, directory version) of a UNH S009 label: ``ORDERS:D:96A:UN:EAN008`` ->
    ``("ORDERS", "D:96A")``."""
    parts = label.split(":")
    return parts[0], ":".join(parts[1:3])


@dataclass(frozen=True)
class Context:
    """Where a batch of messages comes from: the hub, the partner, the file and interchange."""

    hub: Hub
    profile: PartnerProfile
    file_name: str
    interchange_ref: str
    prepared: datetime  # the interchange's registration time: acknowledgements are dated by it
    flow: str


@dataclass
class Work:
    """One accepted message on its way through a handler."""

    message: Message
    ref: str  # the business reference (order number) once mapped; the UNH reference before
    record: Any = None  # the canonical record the handler mapped the message to
    key: Key | None = None  # the journal key of its write
    payload_hash: str = ""
    errors: list[AppError] = field(default_factory=list)
    result: Any = None  # what the write produced (e.g. the ERP sale)
    created: bool = False  # written now (False: found written by an earlier run)
    plan: Any = None  # what a handler's check decided for its write/acknowledge (its own type)

    @property
    def written(self) -> bool:
        """The record is in the target (now or before)."""
        return self.result is not None and not self.errors


class MessageHandler(ABC):
    """Map, check, write, acknowledge one message type; the loop does everything else."""

    handles: ClassVar[tuple[TypeVersion, ...]]  # the (type, version) pairs it serves
    counts: ClassVar[str]  # report prefix: "<counts>_created", "_existing", "_refused"
    refusal_class: ClassVar[str] = "OrderRefused"  # dead letter class of a refused message
    created_event: ClassVar[str] = "sale.created"  # trace event of a record written by replay
    # message types of this handler never answered with a CONTRL (a CONTRL for a CONTRL)
    no_contrl_for: ClassVar[frozenset[str]] = frozenset()

    @abstractmethod
    def map(self, ctx: Context, work: Work) -> None:
        """Pure: set ``record``, ``ref``, ``key`` and ``payload_hash``, or ``errors``."""

    @abstractmethod
    def check(self, ctx: Context, items: list[Work]) -> None:
        """Check the mapped records against the target (reads only); set ``errors``."""

    @abstractmethod
    def write(self, ctx: Context, items: list[Work]) -> None:
        """Write the checked records through the journal: set ``result``/``created`` or
        ``errors``; raise a TransientError when the batch must be retried."""

    def acknowledge(self, ctx: Context, items: list[Work]) -> list[OutboundDocument]:
        """Positive answers for written records (none by default)."""
        return []

    def preview(self, ctx: Context, work: Work) -> dict[str, Any]:
        """Dry run of one message: what a run would do, reading only."""
        self.map(ctx, work)
        if work.errors:
            return {"outcome": "refused", "order": work.ref, "errors": _texts(work.errors)}
        self.check(ctx, [work])
        if work.errors:
            return {"outcome": "refused", "order": work.ref, "errors": _texts(work.errors)}
        return {"outcome": "create", "order": work.ref}

    def summary(self, work: Work) -> dict[str, Any]:
        """What replay reports about a written record."""
        return {"order": work.ref}

    def refusal_record(self, partner: str, ref: str) -> str:
        """The dead letter record key of a refused message (replay finds it by this)."""
        return f"order:{partner}:{ref}"


def _texts(errors: list[AppError]) -> list[str]:
    return [e.message for e in errors]


class HandlerRegistry:
    """Handlers by (message type, version); a message without a handler is only acknowledged
    (CONTRL) and goes nowhere."""

    def __init__(self) -> None:
        self._handlers: dict[TypeVersion, MessageHandler] = {}

    def register(self, handler: MessageHandler) -> MessageHandler:
        """Add a handler for every (type, version) it ``handles``; a pair taken is an error."""
        taken = [tv for tv in handler.handles if tv in self._handlers]
        if taken:
            raise ValueError(f"inbound handlers already registered for {taken}")
        for tv in handler.handles:
            self._handlers[tv] = handler
        return handler

    def unregister(self, handler: MessageHandler) -> None:
        """Remove a handler (tests that register one for a while)."""
        self._handlers = {tv: h for tv, h in self._handlers.items() if h is not handler}

    def for_label(self, label: str) -> MessageHandler | None:
        """The handler of a UNH S009 label such as ``ORDERS:D:96A:UN:EAN008``, if any."""
        return self._handlers.get(type_version(label))

    def contrl_wanted(self, labels: list[str]) -> bool:
        """Whether an interchange of these messages may be answered with a CONTRL: not
        when every message is of a type whose handler says never (ISO 9735: a CONTRL is
        never answered with a CONTRL)."""
        for label in labels:
            handler = self.for_label(label)
            if handler is None or type_version(label)[0] not in handler.no_contrl_for:
                return True
        return not labels

    def pairs(self) -> list[TypeVersion]:
        """Every registered (type, version)."""
        return sorted(self._handlers)

    @contextmanager
    def extended(self, handler: MessageHandler) -> Iterator[HandlerRegistry]:
        """This registry with ``handler`` added for the block, then removed again."""
        self.register(handler)
        try:
            yield self
        finally:
            self.unregister(handler)
