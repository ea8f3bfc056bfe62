"""Inbound EDI handlers by message type: a new type needs a handler and a registration only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

from connectors.edi import Delimiters, OutboundMessage, build_interchange, render_interchange
from connectors.erp.fake import FakeErp
from hub.bootstrap import Hub
from hub.edi_out import to_segments
from hub.flows.edi_in.handlers import HANDLERS
from hub.flows.edi_in.handlers.orders import OrdersHandler
from hub.flows.edi_in.loop import run_inboxes
from hub.flows.edi_in.registry import (
    Context,
    HandlerRegistry,
    MessageHandler,
    TypeVersion,
    Work,
    type_version,
)
from hub.flows.edi_inbound_replay import reprocess_message
from sandbox.partner import drop, make_orders, orders_interchange
from schemas.config import PartnerProfile
from tests.fixtures.hub import NORD, US, hub_on
from transforms import edifact_acks as acks
from transforms.edifact_orders import AppError

APERAK = "APERAK:D:96A:UN:EAN003"


class FakeAperakHandler(MessageHandler):
    """A test-only inbound type: partners' APERAKs, noted in memory."""

    handles: ClassVar[tuple[TypeVersion, ...]] = (("APERAK", "D:96A"),)
    counts: ClassVar[str] = "aperaks"
    refusal_class: ClassVar[str] = "AperakRefused"

    def __init__(self) -> None:
        self.noted: list[str] = []

    def map(self, ctx: Context, work: Work) -> None:
        refs = [s.element(1, 2) for s in work.message.segments if s.tag == "RFF"]
        work.ref = work.record = refs[0]
        if work.ref == "BAD":
            work.errors = [AppError("12", "order BAD is not ours")]

    def check(self, ctx: Context, items: list[Work]) -> None:
        return None

    def write(self, ctx: Context, items: list[Work]) -> None:
        for work in items:
            work.created = work.record not in self.noted
            self.noted.append(work.record)
            work.result = {"noted": work.record}

    def summary(self, work: Work) -> dict[str, Any]:
        return {"order": work.ref, "sale": None}


class FakeRecadvHandler(FakeAperakHandler):
    """The same toy for a type the flow's registry has no handler for."""

    handles: ClassVar[tuple[TypeVersion, ...]] = (("RECADV", "D:96A"),)


RECADV = "RECADV:D:96A:UN:EAN003"


@pytest.fixture
def toy() -> FakeAperakHandler:
    return FakeAperakHandler()


@pytest.fixture
def registry(toy: FakeAperakHandler) -> Iterator[HandlerRegistry]:
    """A registry of this test only: ORDERS plus the toy type."""
    before = HANDLERS.pairs()
    local = HandlerRegistry()
    local.register(OrdersHandler())
    local.register(toy)
    yield local
    assert HANDLERS.pairs() == before  # nothing left behind in the flow's registry


@pytest.fixture
def hub(tmp_path: Path, erp: FakeErp) -> Hub:
    base = hub_on(tmp_path, erp)
    shipped = base.partners["kaufhaus-nord"]
    messages = [m.model_dump(mode="json") for m in shipped.messages]
    profile = PartnerProfile.model_validate(
        {
            **shipped.model_dump(mode="json"),
            "messages": [
                *(m for m in messages if m["type"] != "APERAK"),  # the shipped one is replaced
                {"type": "APERAK", "release": "96A", "association": "EAN003"},
            ],
        }
    )
    return Hub(base.ledger, erp=erp, home=base.home, partners={profile.id: profile})


def _aperak(ref: str, *orders: str) -> bytes:
    messages = [
        OutboundMessage(
            APERAK,
            str(n),
            to_segments(
                acks.aperak(
                    document_number=f"PA{n}",
                    issued=datetime(2026, 11, 3).date(),
                    order_number=order,
                    order_message_ref="1",
                    our_gln=NORD,
                    partner_gln=US,
                    errors=[AppError("12", "late delivery")],
                )
            ),
        )  # fmt: skip
        for n, order in enumerate(orders, start=1)
    ]
    segments = build_interchange(
        messages, sender=NORD, sender_qualifier="14", recipient=US, recipient_qualifier="14",
        control_ref=ref, prepared=datetime(2026, 11, 3, 9, 0), syntax_identifier="UNOC",
        syntax_version="3",
    )  # fmt: skip
    return render_interchange(segments, Delimiters(), una=True, newline=True)


def _inbox(hub: Hub) -> Path:
    return hub.mailbox(hub.partners["kaufhaus-nord"]).inbox  # type: ignore[attr-defined]


def _outbox(hub: Hub) -> list[str]:
    return hub.mailbox(hub.partners["kaufhaus-nord"]).list_outbox()


def test_type_version_of_a_unh_label() -> None:
    assert type_version("ORDERS:D:96A:UN:EAN008") == ("ORDERS", "D:96A")
    assert type_version("ORDERS:D:01B:UN:EAN010") == ("ORDERS", "D:01B")
    assert HANDLERS.for_label("ORDERS:D:01B:UN:EAN010") is not None
    assert HANDLERS.for_label("INVOIC:D:96A:UN:EAN008") is None


def test_a_pair_is_registered_once_and_extended_leaves_nothing_behind(
    toy: FakeAperakHandler,
) -> None:
    local = HandlerRegistry()
    local.register(toy)
    with pytest.raises(ValueError, match="already registered"):
        local.register(FakeAperakHandler())
    recadv = FakeRecadvHandler()  # APERAK has a real handler by now: a type without one
    with HANDLERS.extended(recadv) as extended:
        assert extended.for_label(RECADV) is recadv
    assert HANDLERS.for_label(RECADV) is None


def test_a_new_message_type_runs_through_the_same_loop(
    hub: Hub, erp: FakeErp, toy: FakeAperakHandler, registry: HandlerRegistry
) -> None:
    orders = make_orders(NORD, US, list(erp.products.values()), count=1, seed=4)
    data = orders_interchange(orders, sender=NORD, recipient=US, control_ref="9101")
    drop(_inbox(hub), "orders.edi", data, age_seconds=120)
    drop(_inbox(hub), "aperak.edi", _aperak("9102", "PO00400000", "BAD"))
    report = run_inboxes(hub, registry)
    assert report["files"] == 2 and report["orders_created"] == 1 and len(erp.sales) == 1
    assert (report["aperaks_created"], report["aperaks_refused"]) == (1, 1)
    assert toy.noted == ["PO00400000"]
    assert sorted(n.split("_")[0] for n in _outbox(hub)) == ["APERAK", "CONTRL", "CONTRL", "ORDRSP"]
    letters = hub.ledger.dead_letters()
    assert [(d.error_class, d.record_key) for d in letters] == [
        ("AperakRefused", "order:kaufhaus-nord:BAD")
    ]
    assert not list(_inbox(hub).iterdir())


def test_replay_dispatches_to_the_same_handler(
    hub: Hub, toy: FakeAperakHandler, registry: HandlerRegistry
) -> None:
    drop(_inbox(hub), "aperak.edi", _aperak("9201", "PO1"))
    run_inboxes(hub, registry)
    row = hub.ledger.interchange("kaufhaus-nord", "in", "9201")
    assert row is not None
    res = reprocess_message(hub, "kaufhaus-nord", row["archive_path"], "9201", "1",
                            registry=registry)  # fmt: skip
    assert res["outcome"] == "existing" and res["order"] == "PO1"
    assert toy.noted == ["PO1", "PO1"]  # the toy is no journal: it was asked again
